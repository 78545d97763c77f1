"""``gpufleet preflight <stack>``: AWS checks against the live account before ``pulumi up``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = (("gpufleet preflight prod", "check stack prod against the live AWS account (needs credentials)"),)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preflight", help="check a stack against the live AWS account (quotas, instance "
                                         "offerings, AZs, cluster name) before pulumi up")
    p.add_argument("stack", help="stack name (Pulumi.<stack>.yaml in the project's stacks dir) or path to a stack file")
    p.add_argument("--stacks-dir", type=Path, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..exit_codes import BAD_INPUT, EXTERNAL, OK, POLICY, ExternalServiceError
    from ..preflight import preflight
    from ..project import Project, of
    from ..replicate import BadInput

    try:
        project = Project.for_stacks_dir(args.stacks_dir) if args.stacks_dir else of(args)
        result = preflight(args.stack, project=project)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    except ExternalServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXTERNAL
    project.announce()
    print(result.text())
    if result.service_failed:
        print("error: an AWS call failed: the checks are incomplete (see the aws lines above)", file=sys.stderr)
        return EXTERNAL
    return POLICY if result.failed else OK
