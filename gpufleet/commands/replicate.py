"""``gpufleet replicate <source> <new> --region R [--set k.path=v ...] [--azs a,b] [--offline]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replicate", help="write stacks/Pulumi.<new>.yaml: a copy of a stack in another region")
    p.add_argument("source", help="the stack to copy (stacks/Pulumi.<source>.yaml)")
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
    from ..replicate import BadInput, replicate

    try:
        replica = replicate(args.source, args.new, args.region, args.sets, directory=args.stacks_dir,
                            offline=args.offline, azs=args.azs)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    print(f"wrote {replica.path} ({len(replica.config.pools.gpu)} GPU pools, {len(replica.config.teams)} teams); "
          f"check it with `gpufleet plan {replica.path}`")
    return 0
