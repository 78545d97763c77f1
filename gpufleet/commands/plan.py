"""``gpufleet plan <stack-or-path> [--json]``: every resource the stack would create, offline."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="render every resource a stack would create, offline (mock engine)")
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or path to a stack file")
    p.add_argument("--json", action="store_true", help="one JSON document instead of the text tree")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import plan as planner
    from ..render import pools_table, tree

    _check_file(args.stack)
    result = planner.render(args.stack)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(tree(result))
        print()
        print(pools_table(result))
        for report in result.reports:
            print()
            print(report.text)
    return 1 if result.failed else 0


def _check_file(stack_or_path: str) -> None:
    """A stack path that exists but is not a regular file (a directory, a FIFO, a device) is
    one line naming it, before anything opens it."""
    from modules import config as stack_config

    from .. import plan as planner

    path, _, shown = planner.resolve(stack_or_path)
    if path.exists():
        stack_config.check_file(path, "stack file", shown=shown)
