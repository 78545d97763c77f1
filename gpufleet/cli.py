"""``gpufleet``: the platform's command line.

Exit codes: 0 success, 1 a mandatory policy violation, 2 a bad stack file or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from modules.config import ConfigError


def cmd_plan(args: argparse.Namespace) -> int:
    from . import plan as planner
    from .render import pools_table, tree

    result = planner.render(args.stack)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=1, sort_keys=False)
        sys.stdout.write("\n")
    else:
        print(tree(result))
        print()
        print(pools_table(result))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpufleet", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="render every resource a stack would create, offline (mock engine)")
    plan.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or path to a stack file")
    plan.add_argument("--json", action="store_true", help="one JSON document instead of the text tree")
    plan.set_defaults(func=cmd_plan)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
