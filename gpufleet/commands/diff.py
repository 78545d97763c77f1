"""``gpufleet diff <base> <head>``: the replacement guard.

Compares two plans (stack names, stack files or ``gpufleet plan --json`` files) and lists
the resources ``pulumi up`` would replace (with the replace-on-change property that forces
it, its old and new value, and why) and the protected resources it would delete, then
every update with its old and new values (:mod:`gpufleet.diff` compares,
:mod:`gpufleet.diff_report` shows). Exit 1 when there is a replacement or a protected
delete (unless ``--allow-replace``), 0 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

EXAMPLES = (("gpufleet diff base.json dev", "what the change from a saved plan to stack dev would replace or delete"),)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="replacement guard: what a change would replace or delete (two plans compared)")
    p.add_argument("base", help="the plan before: stack name, stack file, or a `gpufleet plan --json` file")
    p.add_argument("head", help="the plan after: stack name, stack file, or a `gpufleet plan --json` file")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--allow-replace", action="store_true",
                   help="report replacements and protected deletes but exit 0 (the PR label `allow-replace`)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import diff
    from ..diff_report import FORMATS
    from ..project import find_optional

    try:
        base, head = diff.load(args.base), diff.load(args.head)
    except diff.DiffInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    project = find_optional()  # two saved plans need no project; a stack name found one already
    if project is not None:
        project.announce(machine=args.format != "text")
    result = diff.compare(base, head, args.base, args.head)
    out = FORMATS[args.format](result, args.allow_replace)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 1 if result.blocking and not args.allow_replace else 0
