"""``gpufleet plan <stack-or-path> [--json]``: every resource the stack would create, offline."""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLES = (("gpufleet plan dev", "every resource stack dev would create, its cost and policy verdicts"),
            ("gpufleet -C ../infra plan prod --json > plan.json", "the plan of another project's stack, as JSON"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="render every resource a stack would create, offline (mock engine)")
    p.add_argument("stack", help="stack name (Pulumi.<stack>.yaml in the project's stacks dir) or path to a stack file")
    p.add_argument("--json", action="store_true", help="one JSON document instead of the text summary")
    p.add_argument("--tree", action="store_true",
                   help="also print every resource as a tree (after the summary and the reports)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import plan as planner
    from ..project import of
    from ..render import text as render_text

    project = of(args)
    _check_file(args.stack, project)
    result = planner.render(args.stack, project)
    project.announce(machine=args.json)
    for _, warning in planner.config_warnings(result.config, result.source):
        print(warning, file=sys.stderr)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(render_text(result, show_tree=args.tree))
    return 1 if result.failed else 0


def _check_file(stack_or_path: str, project=None) -> None:
    """A stack path that exists but is not a regular file (a directory, a FIFO, a device) is
    one line naming it, before anything opens it."""
    from gpufleet.modules import config as stack_config

    from .. import plan as planner

    path, _, shown = planner.resolve(stack_or_path, project)
    if path.exists():
        stack_config.check_file(path, "stack file", shown=shown)
