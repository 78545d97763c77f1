"""``gpufleet simulate STACK --trace FILE [--compare STACK2 | --set KEY.PATH=VALUE ...]``.

Replays a trace of GPU jobs against the stack's platform (Kueue quotas and borrowing, the
autoscaler, the pools' sharing modes, the scale-down schedule, spot interruptions) and
reports per team and per pool: outcomes, queue waits, lost GPU-hours, node- and GPU-hours
provisioned vs allocated, and cost next to the static estimate. ``--compare`` /
``--set`` run the same trace on a variant and show both side by side. Offline; the same
trace, config and seed give the same output. Exit 0, or 2 for a bad stack, ``--set``,
trace or option (one line).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from ..exit_codes import BAD_INPUT, OK, BadInputError

#: the largest trace file read (a million jobs in the native CSV is about 55 MB)
MAX_TRACE_BYTES = 1 << 30
EXAMPLES = (("gpufleet simulate dev --trace jobs.csv", "replay a trace of GPU jobs against stack dev"),
            ("gpufleet simulate dev --trace jobs.csv --set 'pools.gpu[shared-l4].replicas=8'",
             "the same trace on dev with 8 time-slices per GPU, side by side"),
            ("gpufleet simulate prod --trace openb_pod_list_default.csv --compare staging --format markdown",
             "the Alibaba GPU trace on prod and on staging, for a PR comment"))


class UsageError(BadInputError):
    """A bad option value: one line, exit 2."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="replay a trace of GPU jobs against a stack: waits, never-runs, "
                                        "utilisation and cost (offline)")
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or path to a stack file")
    p.add_argument("--trace", required=True, type=Path, metavar="FILE",
                   help="native CSV/JSONL trace, or the Alibaba cluster-trace-gpu-v2023 pod list")
    p.add_argument("--trace-format", choices=("auto", "native", "alibaba"), default="auto")
    variant = p.add_mutually_exclusive_group()
    variant.add_argument("--compare", metavar="STACK2", help="also run the trace on another stack (name or file)")
    variant.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", dest="edits",
                         help="also run the trace on this stack with the config edited, e.g. "
                              "pools.gpu[shared-l4].replicas=8 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="random seed (spot interruptions)")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                   help="multiply submission times by X (0.5: the same jobs arrive twice as fast)")
    p.add_argument("--team-map", default="", metavar="KEY=TEAM,...",
                   help="send jobs to teams: KEY is the trace's team (native) or qos (Alibaba); * for the rest")
    p.add_argument("--gpu-map", default="", metavar="SPEC=MODEL,...",
                   help="Alibaba gpu_spec -> catalog GPU model (or any)")
    p.add_argument("--spot-rate", type=float, default=None, metavar="PER_NODE_HOUR",
                   help="spot interruptions per node-hour (default 0.05 per node-month)")
    p.add_argument("--ready-minutes", action="append", default=[], metavar="POOL=MINUTES",
                   help="minutes from scale-up to a ready pod on POOL (default: the catalog estimate)")
    p.add_argument("--checkpoint-minutes", type=float, default=None, metavar="M",
                   help="default minutes of work between checkpoints of batch jobs (0: none)")
    p.add_argument("--start", default=None, metavar="YYYY-MM-DDTHH:MM",
                   help="local time of the trace start in the schedule's time zone (default a Monday 09:00)")
    p.add_argument("--horizon-days", type=float, default=None, metavar="D",
                   help="simulate exactly D days (default: until the work is done, at most 30 days past the trace)")
    p.set_defaults(func=run)


def _pairs(text: str, option: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise UsageError(f"{option}: got {item!r}; expected KEY=VALUE pairs separated by commas")
        out[key.strip()] = value.strip()
    return out


def _assumptions(args: argparse.Namespace):
    from gpufleet.modules.simulate.platform import Assumptions

    changes = {}
    if args.spot_rate is not None:
        if args.spot_rate < 0:
            raise UsageError(f"--spot-rate: got {args.spot_rate:g}; expected interruptions per node-hour >= 0")
        changes["spot_rate"] = args.spot_rate
    ready = {}
    for item in args.ready_minutes:
        pairs = _pairs(item, "--ready-minutes")
        for pool, value in pairs.items():
            try:
                ready[pool] = float(value)
            except ValueError:
                raise UsageError(f"--ready-minutes: got {item!r}; expected POOL=MINUTES") from None
            if ready[pool] < 0:
                raise UsageError(f"--ready-minutes: got {item!r}; expected minutes >= 0")
    if ready:
        changes["ready_minutes"] = ready
    if args.start is not None:
        try:
            datetime.fromisoformat(args.start)
        except ValueError:
            raise UsageError(f"--start: got {args.start!r}; expected a local date and time YYYY-MM-DDTHH:MM") from None
        changes["start"] = args.start
    return Assumptions.default(**changes)


def _trace(args: argparse.Namespace, teams: list[str]):
    from gpufleet.modules.simulate import alibaba
    from gpufleet.modules.simulate.platform import defaults
    from gpufleet.modules.simulate.trace import read_native

    from gpufleet.modules.config import check_file

    check_file(args.trace, "trace file (native CSV/JSONL or the Alibaba pod list)", limit=MAX_TRACE_BYTES)
    if args.time_scale <= 0:
        raise UsageError(f"--time-scale: got {args.time_scale:g}; expected a factor > 0")
    ckpt = defaults()["checkpoint_minutes"] if args.checkpoint_minutes is None else args.checkpoint_minutes
    if ckpt < 0:
        raise UsageError(f"--checkpoint-minutes: got {ckpt:g}; expected minutes >= 0")
    team_map = _pairs(args.team_map, "--team-map")
    fmt = args.trace_format
    try:
        if fmt == "auto":
            fmt = "alibaba" if alibaba.is_alibaba(args.trace) else "native"
        if fmt == "alibaba":
            return alibaba.read(args.trace, teams=teams, time_scale=args.time_scale, checkpoint_minutes=ckpt,
                                team_map=team_map, gpu_map=_pairs(args.gpu_map, "--gpu-map"))
        return read_native(args.trace, time_scale=args.time_scale, checkpoint_minutes=ckpt, team_map=team_map)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{args.trace}: got a byte that is not UTF-8 (0x{exc.object[exc.start]:02x}); "
                         "expected a trace file in UTF-8 text") from None


def run(args: argparse.Namespace) -> int:
    from gpufleet.modules.simulate.trace import TraceError

    try:
        return _run(args)
    except (TraceError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    import json

    from gpufleet.modules.simulate import render, report
    from gpufleet.modules.simulate.engine import simulate

    from .. import simulate_stack

    if args.horizon_days is not None and args.horizon_days <= 0:
        raise UsageError(f"--horizon-days: got {args.horizon_days:g}; expected days > 0")
    assumptions = _assumptions(args)
    loaded = simulate_stack.load(args.stack)
    other = None
    if args.compare:
        other = simulate_stack.load(args.compare)
    elif args.edits:
        other = simulate_stack.load(args.stack, args.edits)
    pools = [p.name for p in loaded.cfg.pools.gpu]
    unknown = sorted(set(assumptions.ready_minutes) - set(pools))
    if unknown:
        raise UsageError(f"--ready-minutes: got {unknown[0]!r}; expected a GPU pool of {loaded.stack} ({', '.join(pools)})")
    trace = _trace(args, [t.name for t in loaded.cfg.teams])
    base = simulate_stack.platform(loaded, assumptions=assumptions)
    variant = None if other is None else simulate_stack.platform(other, assumptions=assumptions)
    horizon = None if args.horizon_days is None else args.horizon_days * 86400
    doc = report.summarize(simulate(base, trace, seed=args.seed, horizon_s=horizon))
    if variant is None:
        if args.format == "json":
            print(render.to_json(doc))
        else:
            print(render.text(doc, markdown=args.format == "markdown"))
        return OK
    second = report.summarize(simulate(variant, trace, seed=args.seed, horizon_s=horizon))
    diff = report.compare(doc, second)
    if args.format == "json":
        print(json.dumps({"base": doc, "variant": second, "comparison": diff}, indent=1))
    else:
        md = args.format == "markdown"
        print("\n\n".join([render.compare_text(diff, md), render.text(doc, md), render.text(second, md)]))
    return OK
