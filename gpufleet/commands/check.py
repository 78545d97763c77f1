"""``gpufleet check [--all | STACK...] [--format text|markdown|json|sarif] [-o FILE]``:
every offline check on the project's stacks, for CI (the required status of a stack change)
and GitHub code scanning (SARIF 2.1.0). The checks: :mod:`gpufleet.check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = (("gpufleet check --all", "every stack of the project: config, plan, policy, will-it-run, fit"),
            ("gpufleet check prod --format sarif -o check.sarif", "for github/codeql-action/upload-sarif"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="check stacks for CI: config, offline plan, policy pack, policy config, will-it-run, "
                      "system-pool fit (every stack reported; exit 0/1/2)",
        description="Run every offline check on each stack and report them all (a failing stack does not stop "
                    "the others): the stack validates, the plan renders, no mandatory policy violation, "
                    "policies/config/<stack>.json is current, every team's typical job runs on every pool it may "
                    "use, the add-ons fit the system pool. The exit code is the worst stack's: 0 all passed (or "
                    "warned), 1 a policy violation or a failed check, 2 a stack that does not validate.")
    p.add_argument("stacks", nargs="*", metavar="STACK",
                   help="stack names (Pulumi.<stack>.yaml in the project's stacks dir) or paths to stack files")
    p.add_argument("--all", action="store_true", help="every Pulumi.<stack>.yaml in the project's stacks dir")
    p.add_argument("--format", choices=("text", "markdown", "json", "sarif"), default="text",
                   help="text (a summary table; default), markdown (a PR comment), json, or sarif (SARIF 2.1.0 "
                        "for GitHub code scanning)")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                   help="write the report to FILE instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import check
    from ..exit_codes import BadInputError

    if args.all == bool(args.stacks):
        raise BadInputError("check: name the stacks to check, or --all (not both)")
    project = check.find_project()
    stacks = check.all_stacks(project) if args.all else list(args.stacks)
    if not stacks:
        raise BadInputError(f"check --all: no Pulumi.<stack>.yaml in {project.shown(project.stacks_dir)}/ "
                            f"of {project.header}")
    results = check.check_stacks(stacks, project)
    report = check.render(results, args.format, project)
    project.announce(machine=args.format != "text" or args.output is not None)
    if args.output is None:
        sys.stdout.write(report)
    else:
        from ..atomic_file import write_atomic

        write_atomic(args.output, report)  # a temporary file renamed into place; never through a symlink
        print(f"wrote {args.output}: {check.exit_code(results)} ({len(results)} stack(s))", file=sys.stderr)
    return check.exit_code(results)
