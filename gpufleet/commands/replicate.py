"""``gpufleet replicate <source> <new> --region R [--set k.path=v ...] [--azs a,b] [--offline]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = (("gpufleet replicate prod prod-west --region us-west-2",
             "copy stack prod to us-west-2 (a free VPC range, its policy config; comments kept)"),)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replicate", help="write Pulumi.<new>.yaml: a copy of a stack in another region, "
                                         "with its policy config")
    p.add_argument("source", help="the stack to copy (Pulumi.<source>.yaml in the project's stacks dir)")
    p.add_argument("new", help="the new stack's name (its file must not exist yet)")
    p.add_argument("--region", required=True, help="the AWS region of the new stack, e.g. us-west-2")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="change an existing key, e.g. pools.gpu[train-a100].max=2 or "
                        "gpufleet:network.cidr=10.40.0.0/16 (repeatable; values are YAML)")
    p.add_argument("--azs", type=lambda s: [a.strip() for a in s.split(",") if a.strip()],
                   help="comma-separated AZs of the new region (default: its first ones)")
    p.add_argument("--offline", action="store_true", help="skip the AWS checks (offerings, quotas)")
    p.add_argument("--stacks-dir", type=Path, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..project import Project, of
    from ..replicate import replicate
    from ..replicate_input import BadInput

    try:
        project = Project.for_stacks_dir(args.stacks_dir) if args.stacks_dir else of(args)
        replica = replicate(args.source, args.new, args.region, args.sets, project=project,
                            offline=args.offline, azs=args.azs)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    project.announce()
    azs = ", ".join(f"{a} -> {b}" for a, b in replica.azs.items())
    print(f"gpufleet replicate: {replica.source} -> {replica.stack} in {replica.config.region} (AZs {azs}; "
          f"chosen from {replica.azs_from})")
    for path, old, new in replica.changes:
        print(f"  {path}: {old!r} -> {new!r}")
    if replica.skipped:
        print(f"AWS checks skipped: {replica.skipped}. Run `gpufleet preflight {replica.stack}` "
              "with credentials before `pulumi up`.")
    for f in replica.findings:
        print(f"  {'ok  ' if f.level == 'ok' else 'WARN'} {f.check}: {f.message}")
    print(f"wrote {project.shown(replica.path)} ({len(replica.config.pools.gpu)} GPU pools, "
          f"{len(replica.config.teams)} teams) and {project.shown(replica.policy_config)}; "
          f"check it with `gpufleet plan {replica.stack}`")
    hint = fleet_hint(project, replica.stack, replica.config.region, "replica")
    if hint:
        print(hint)
    return 0


def fleet_hint(project, stack: str, region: str, role: str) -> str | None:
    """How to add a new stack to the project's fleet file (None without one)."""
    if not project.fleet_file.is_file():
        return None
    return (f"to deploy it with the fleet, add it to {project.shown(project.fleet_file)}: "
            f"- {{stack: {stack}, region: {region}, role: {role}}}")
