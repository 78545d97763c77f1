"""``gpufleet cost <stack> [--compare <stack-or-path>] [--format table|json|markdown]``.

The monthly estimate of a stack (idle, expected, and two ceilings: ``max`` with spot at
on-demand and ``max_within_schedule``; line by line, each line with its basis), or the
difference between two configs (``--compare`` names the *before* config: a stack name or a
stack file, e.g. the base branch's). ``--format markdown`` is ready for a PR comment. Every
format names the figures, the figure the budget guards check and what is not priced.

Offline by default (bundled us-east-1 prices, labelled as such, configured spot discount);
``--live-prices`` asks the AWS Price List API for every price in the stack's region and
``--spot-history`` prices spot at the time-weighted median of the last 7 days of EC2 spot
prices over each pool's AZs (both need AWS credentials).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..exit_codes import EXTERNAL, ExternalServiceError

EXAMPLES = (("gpufleet cost prod", "the monthly estimate of stack prod, line by line"),
            ("gpufleet cost dev --compare base/Pulumi.dev.yaml --format markdown",
             "what a change to dev costs, for a PR comment"))


class LivePriceError(ExternalServiceError):
    """--live-prices / --spot-history failed (no credentials, no price): exit 3 (an external
    service failed), one line."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cost", help="monthly cost estimate of a stack (idle/expected/max/max_within_schedule), "
                                    "or the difference to another config")
    p.add_argument("stack", help="stack name (Pulumi.<stack>.yaml in the project's stacks dir) or path to a stack file")
    p.add_argument("--compare", metavar="STACK_OR_PATH",
                   help="the config to compare against (the 'before'): a stack name or a stack file")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.add_argument("--live-prices", action="store_true",
                   help="every price (instances, NAT, EBS, EFS, S3, logs, KMS, IPv4, EKS) for the stack's region "
                        "from the AWS Price List API (needs AWS credentials)")
    p.add_argument("--spot-history", action="store_true",
                   help="price spot capacity at the time-weighted median of the last 7 days of EC2 spot prices "
                        "over each pool's AZs (needs AWS credentials)")
    p.set_defaults(func=run)


def _estimate(stack_or_path: str, args: argparse.Namespace, project=None):
    from gpufleet.modules import config as stack_config
    from gpufleet.modules.cost.pricing import stack_price_table

    from .. import plan as planner
    from ..reports.cost import plan_estimate

    path, stack, shown = planner.resolve(stack_or_path, project)
    if not path.exists():  # a directory, device or unreadable file: the reader names the problem
        raise planner.missing_stack(stack_or_path, shown, project)
    cfg, raw = stack_config.from_file(path, shown)
    prices = None
    if args.live_prices or args.spot_history:
        from botocore.exceptions import BotoCoreError, ClientError

        from gpufleet.modules.cost.pricing import PriceError

        try:
            prices = stack_price_table(cfg, live=args.live_prices, use_spot_history=args.spot_history)
        except (PriceError, BotoCoreError, ClientError) as exc:
            raise LivePriceError(f"cannot get live prices for {cfg.region}: {exc}") from None
    plan = planner.run_program(cfg, raw, stack, shown)
    return plan_estimate(plan, prices), stack


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except LivePriceError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXTERNAL


def _run(args: argparse.Namespace) -> int:
    from ..project import of
    from ..reports import cost as fmt

    project = of(args)
    after, name = _estimate(args.stack, args, project)
    if args.compare:
        before, before_name = _estimate(args.compare, args, project)
    project.announce(machine=args.format != "table")
    if args.compare:
        if before_name == name:  # the same stack before and after a change (a PR's base file)
            before_name, name = f"{name} (base)", f"{name} (this change)"
        diff = fmt.compare(before, after)
        if args.format == "json":
            json.dump(diff, sys.stdout, indent=1)
            sys.stdout.write("\n")
        elif args.format == "markdown":
            print(fmt.compare_markdown(diff, before_name, name))
        else:
            print(fmt.compare_table(diff, before_name, name))
        return 0
    if args.format == "json":
        json.dump({"stack": name, **after.to_json()}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif args.format == "markdown":
        from ..reports.escape import code

        print(fmt.markdown(after, f"stack {code(name)}"))
    else:
        print(fmt.table(after, f"stack {name}"))
    return 0
