"""``gpufleet simulate STACK --trace FILE [--compare STACK2 | --set KEY.PATH=VALUE ...]``.

Replays a trace of GPU jobs against the stack's platform (Kueue quotas and borrowing, the
autoscaler, the pools' sharing modes, the scale-down schedule, spot interruptions) and
reports per team and per pool: outcomes, queue waits, lost GPU-hours, node- and GPU-hours
provisioned vs allocated, and cost next to the static estimate. ``--compare`` /
``--set`` run the same trace on a variant and show both side by side. Offline; the same
trace, config and seed give the same output. Exit 0, or 2 for a bad stack, ``--set``,
trace or option (one line; every number bounded, a trace sized before it is read:
:mod:`modules.simulate.limits`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..exit_codes import BAD_INPUT, OK, BadInputError

#: the largest trace file read (a million jobs in the native CSV is about 55 MB)
MAX_TRACE_BYTES = 1 << 30
EXAMPLES = (("gpufleet simulate dev --trace jobs.csv", "replay a trace of GPU jobs against stack dev"),
            ("gpufleet simulate dev --trace jobs.csv --set 'pools.gpu[shared-l4].replicas=8'",
             "the same trace on dev with 8 time-slices per GPU, side by side"),
            ("gpufleet simulate prod --trace openb_pod_list_default.csv --compare staging --format markdown",
             "the Alibaba GPU trace on prod and on staging, for a PR comment"))


class UsageError(BadInputError, ValueError):
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
    # numbers are read as text and checked here (one line each, bounded: modules/simulate/limits.py)
    p.add_argument("--seed", default="0", help="random seed (spot interruptions)")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.add_argument("--time-scale", default="1", metavar="X",
                   help="multiply submission times by X (0.5: the same jobs arrive twice as fast)")
    p.add_argument("--team-map", default="", metavar="KEY=TEAM,...",
                   help="send jobs to teams: KEY is the trace's team (native) or qos (Alibaba); * for the rest")
    p.add_argument("--gpu-map", default="", metavar="SPEC=MODEL,...",
                   help="Alibaba gpu_spec -> catalog GPU model (or any; MODEL|MODEL: any of these)")
    p.add_argument("--spot-rate", default=None, metavar="PER_NODE_HOUR",
                   help="spot interruptions per node-hour (default 0.05 per node-month; at most 1)")
    p.add_argument("--ready-minutes", action="append", default=[], metavar="POOL=MINUTES",
                   help="minutes from scale-up to a ready pod on POOL (default: the catalog estimate; at most 1440)")
    p.add_argument("--checkpoint-minutes", default=None, metavar="M",
                   help="default minutes of work between checkpoints of batch jobs (0: none)")
    p.add_argument("--start", default=None, metavar="YYYY-MM-DDTHH:MM",
                   help="local time of the trace start in the schedule's time zone (default a Monday 09:00)")
    p.add_argument("--horizon-days", default=None, metavar="D",
                   help="simulate exactly D days (default: until the work is done, at most 30 days past the trace)")
    p.set_defaults(func=run)


def _pairs(text: str, option: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise UsageError(f"{option}: got {item[:80]!r}; expected KEY=VALUE pairs separated by commas")
        out[key.strip()] = value.strip()
    return out


def option_number(option: str, text: str | float, expected: str, *, low: float = 0.0, high: float,
                  strict: bool = False, bound: str = "") -> float:
    """An option's number in [low, high], or one :class:`UsageError` line (never another
    exception, whatever the text)."""
    from gpufleet.modules.simulate import limits

    expected += f", at most {bound}" if bound else ""
    try:
        return limits.number(text, low=low, high=high, strict=strict)
    except limits.Refused as exc:
        if not exc.range:
            raise UsageError(f"{option}: got {str(text)[:80]!r}; expected {expected}") from None
        raise UsageError(f"{option}: got {limits.to_float(text):g}; expected {expected}") from None


def option_seed(text: str) -> int:
    from gpufleet.modules.simulate import limits

    top = 10 ** limits.MAX_SEED_DIGITS - 1
    try:
        return limits.whole(text, low=-top, high=top)
    except limits.Refused:
        raise UsageError(f"--seed: got {str(text)[:80]!r}; expected a whole number of at most "
                         f"{limits.MAX_SEED_DIGITS} digits") from None


def option_start(text: str) -> str:
    from gpufleet.modules.simulate import limits

    try:
        return limits.start(text).isoformat()
    except limits.Refused as exc:
        expected = "a local date and time YYYY-MM-DDTHH:MM"
        if exc.range:
            expected += (f" from {limits.FIRST_START:%Y-%m-%d} to {limits.LAST_START:%Y-%m-%d} (a simulation runs "
                         f"up to {limits.MAX_HORIZON_DAYS:,} days after it, within the calendar's year 9999)")
        raise UsageError(f"--start: got {str(text)[:80]!r}; expected {expected}") from None


def option_ready(item: str) -> dict[str, float]:
    from gpufleet.modules.simulate import limits

    out = {}
    for pool, value in _pairs(item, "--ready-minutes").items():
        try:
            out[pool] = limits.number(value, low=0.0, high=limits.MAX_READY_MINUTES)
        except limits.Refused:
            raise UsageError(f"--ready-minutes: got {item[:80]!r}; expected POOL=MINUTES, minutes from 0 to "
                             f"{limits.MAX_READY_MINUTES:,.0f} (a day)") from None
    return out


def _assumptions(args: argparse.Namespace):
    from gpufleet.modules.simulate import limits
    from gpufleet.modules.simulate.platform import Assumptions

    changes = {}
    if args.spot_rate is not None:
        changes["spot_rate"] = option_number(
            "--spot-rate", args.spot_rate, f"interruptions per node-hour from 0 to {limits.MAX_SPOT_RATE:g} "
            "(a node lasting an hour on average)", high=limits.MAX_SPOT_RATE)
    ready = {}
    for item in args.ready_minutes:
        ready.update(option_ready(item))
    if ready:
        changes["ready_minutes"] = ready
    if args.start is not None:
        changes["start"] = option_start(args.start)
    return Assumptions.default(**changes)


def _options(args: argparse.Namespace) -> None:
    """Every number option read and bounded, before anything is rendered."""
    from gpufleet.modules.simulate import limits

    args.seed = option_seed(args.seed)
    args.time_scale = option_number("--time-scale", args.time_scale, "a factor > 0", strict=True,
                                    high=limits.MAX_TIME_SCALE, bound=f"{limits.MAX_TIME_SCALE:,.0f}")
    if args.checkpoint_minutes is not None:
        args.checkpoint_minutes = option_number(
            "--checkpoint-minutes", args.checkpoint_minutes, "minutes >= 0", high=limits.MAX_TRACE_S / 60,
            bound=f"{limits.MAX_TRACE_S / 60:,.0f} (10 years)")
    if args.horizon_days is not None:
        args.horizon_days = option_number(
            "--horizon-days", args.horizon_days, "days > 0", strict=True, high=limits.MAX_HORIZON_DAYS,
            bound=f"{limits.MAX_HORIZON_DAYS:,} (10 years of trace and {limits.SLACK_DAYS} days)")


def _check_team_map(team_map: dict[str, str], loaded) -> None:
    teams = [t.name for t in loaded.cfg.teams]
    for key, team in team_map.items():
        if team not in teams:
            raise UsageError(f"--team-map: got {key}={team[:80]!r}; expected KEY=TEAM with a team of {loaded.stack} "
                             f"({', '.join(teams)})")


def _trace(args: argparse.Namespace, loaded):
    from gpufleet.modules.simulate import alibaba
    from gpufleet.modules.simulate.platform import defaults
    from gpufleet.modules.simulate.trace import read_native

    from gpufleet.modules.config import check_file

    check_file(args.trace, "trace file (native CSV/JSONL or the Alibaba pod list)", limit=MAX_TRACE_BYTES)
    teams = [t.name for t in loaded.cfg.teams]
    ckpt = defaults()["checkpoint_minutes"] if args.checkpoint_minutes is None else args.checkpoint_minutes
    team_map = _pairs(args.team_map, "--team-map")
    _check_team_map(team_map, loaded)
    gpu_map = _pairs(args.gpu_map, "--gpu-map")
    alibaba.check_gpu_map(gpu_map)
    fmt = args.trace_format
    try:
        if fmt == "auto":
            fmt = "alibaba" if alibaba.is_alibaba(args.trace) else "native"
        if fmt == "alibaba":
            return alibaba.read(args.trace, teams=teams, time_scale=args.time_scale, checkpoint_minutes=ckpt,
                                team_map=team_map, gpu_map=gpu_map)
        return read_native(args.trace, time_scale=args.time_scale, checkpoint_minutes=ckpt, team_map=team_map,
                           teams=teams, stack=f"stack {loaded.stack}")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{args.trace}: got a byte that is not UTF-8 (0x{exc.object[exc.start]:02x}); "
                         "expected a trace file in UTF-8 text") from None


def _check_variant_teams(args: argparse.Namespace, trace, loaded, other) -> None:
    """A trace's team must be a team of every stack it runs on (not a silent never-run)."""
    from gpufleet.modules.simulate.trace import TraceError

    if other is None:
        return
    mine, theirs = [t.name for t in loaded.cfg.teams], [t.name for t in other.cfg.teams]
    for team, where in trace.teams.items():
        if team not in theirs:
            raise TraceError(str(args.trace), f"{where}: team", team,
                             f"a team of both {loaded.name} ({', '.join(mine)}) and {other.name} ({', '.join(theirs)})")


def run(args: argparse.Namespace) -> int:
    from gpufleet.modules.simulate import limits
    from gpufleet.modules.simulate.trace import TraceError

    try:
        return _run(args)
    except (TraceError, UsageError, limits.TooLarge) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    import json

    from gpufleet.modules.simulate import render, report
    from gpufleet.modules.simulate.engine import simulate

    from .. import simulate_stack

    _options(args)
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
    trace = _trace(args, loaded)
    _check_variant_teams(args, trace, loaded, other)
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
