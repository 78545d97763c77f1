"""Issue #18, section 4: ``gpufleet simulate`` never crashes or hangs on input.

One table of hostile traces and options, each run through the real CLI entry: exit 2, one
line on stderr naming the file, the line and the column (or the option) and what is allowed,
no traceback, in seconds (every case fails before the stack is rendered). Then the focused
cases: multi-model ``gpu_spec`` (any of these), an unknown GPU model (a counted warning, text
and JSON), a trace too large for memory (refused up front with the size it would need), the
event loop's budget, and property tests of the number, time and option parsers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from gpufleet.modules.simulate import alibaba, engine, limits
from gpufleet.modules.simulate.trace import DONE, TraceError, _number, read_native
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet.cli import main
from gpufleet.commands import simulate as command

from .simulate_support import TRACES, jobs, plan, platform, run, shipped  # noqa: F401 (fixture)

#: a hang guard, not a speed target: each case takes well under a second
SECONDS = 20.0
NATIVE = "name,submit,run,team,gpus"
ALIBABA_HEADER = ",".join(alibaba.COLUMNS)
DIGITS = "9" * 5000  # past Python's 4,300-digit int conversion limit
OK_TRACE = f"{NATIVE}\na,0,60,research,1\n"


def pod(**cells: str) -> str:
    """One Alibaba pod-list row (a 1-GPU BE pod living 10 minutes) with ``cells`` changed."""
    row = {"name": "p", "cpu_milli": "1000", "memory_mib": "1024", "num_gpu": "1", "gpu_milli": "1000",
           "gpu_spec": "", "qos": "BE", "pod_phase": "Running", "creation_time": "0", "deletion_time": "600",
           "scheduled_time": "0", **cells}
    return f"{ALIBABA_HEADER}\n" + ",".join(row[c] for c in alibaba.COLUMNS) + "\n"


def sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with open(path, "wb") as fh:
            fh.truncate(size)
    return make


@dataclass(frozen=True)
class Case:
    id: str
    #: the trace file's content, or a function that writes it
    content: str | Callable[[Path], None]
    #: what the message says (after ``error: ``; TRACE stands for the trace's path)
    fragment: str
    args: tuple[str, ...] = ()
    suffix: str = ".csv"
    exit: int = 2


TEN_YEARS = "at most 315,360,000 (10 years)"
CASES = [
    # -- times beyond the calendar
    Case("submit-1e12", f"{NATIVE}\na,1e12,60,research,1\n",
         f"TRACE: line 2: submit: got '1e12'; expected seconds from the trace start (a number >= 0), {TEN_YEARS}"),
    Case("submit-1e308", f"{NATIVE}\na,1e308,60,research,1\n", f"line 2: submit: got '1e308'; expected seconds "
         f"from the trace start (a number >= 0), {TEN_YEARS}"),
    Case("run-1e12", f"{NATIVE}\na,0,1e12,research,1\n",
         f"line 2: run: got '1e12'; expected seconds of work (a number > 0), {TEN_YEARS}"),
    Case("run-1e308", f"{NATIVE}\na,0,1e308,research,1\n", "line 2: run: got '1e308'; expected seconds of work"),
    Case("submit-inf", f"{NATIVE}\na,inf,60,research,1\n", "line 2: submit: got 'inf'"),
    Case("submit-nan", f"{NATIVE}\na,nan,60,research,1\n",
         "line 2: submit: got 'nan'; expected seconds from the trace start (a number >= 0)"),
    Case("ends-past-10-years", f"{NATIVE}\na,300000000,30000000,research,1\n",
         "line 2: run: got '30000000'; expected seconds of work (a number > 0) ending within 315,360,000 "
         "(10 years) of the trace start (submitted at 300,000,000 s)"),
    Case("time-scale-pushes-past", f"{NATIVE}\na,1000,60,research,1\n", "line 2: submit: got '1000'; expected "
         f"seconds from the trace start (a number >= 0), {TEN_YEARS} once multiplied by --time-scale 1e+06",
         ("--time-scale", "1000000")),
    Case("jsonl-submit-1e400", '{"submit": 1e400, "run": 60, "team": "research", "gpus": 1}\n',
         "line 1: submit: got 'Infinity'", suffix=".jsonl"),
    Case("jsonl-submit-NaN", '{"submit": NaN, "run": 60, "team": "research", "gpus": 1}\n',
         "line 1: submit: got 'NaN'; expected seconds from the trace start", suffix=".jsonl"),
    # -- integers of thousands of digits
    Case("csv-submit-5000-digits", f"{NATIVE}\na,{DIGITS},60,research,1\n",
         f"line 2: submit: got '{'9' * 17}...' (a string of 5,000 characters); expected seconds from the trace start "
         f"(a number >= 0), {TEN_YEARS}"),
    Case("csv-pods-5000-digits", f"{NATIVE},pods\na,0,60,research,1,{DIGITS}\n",
         "line 2: pods: got '999", ),
    Case("csv-pods-5000-digits-bound", f"{NATIVE},pods\na,0,60,research,1,{DIGITS}\n",
         "expected a whole number of pods >= 1, at most 150,000"),
    Case("csv-priority-5000-digits", f"{NATIVE},priority\na,0,60,research,1,{DIGITS}\n",
         "line 2: priority: got '999"),
    Case("csv-gpus-5000-digits", f"{NATIVE}\na,0,60,research,{DIGITS}\n",
         "line 2: gpus: got '999"),
    Case("jsonl-int-past-4300-digits", '{"submit": ' + DIGITS + ', "run": 60, "team": "research", "gpus": 1}\n',
         "line 1: submit: got an integer of more than 4,300 digits; expected seconds from the trace start",
         suffix=".jsonl"),
    Case("jsonl-int-4000-digits", '{"submit": 0, "run": 60, "team": "research", "gpus": ' + "9" * 4000 + "}\n",
         "line 1: gpus: got an integer of 4,000 digits; expected GPUs per pod: a whole number, or a fraction "
         "below 1, at most 1,024", suffix=".jsonl"),
    Case("jsonl-pods-4000-digits", '{"submit": 0, "run": 60, "team": "research", "gpus": 1, "pods": '
         + "9" * 4000 + "}\n", "line 1: pods: got an integer of 4,000 digits", suffix=".jsonl"),
    # -- amounts
    Case("gpus-1e308", f"{NATIVE}\na,0,60,research,1e308\n", "line 2: gpus: got '1e308'; expected GPUs per pod: "
         "a whole number, or a fraction below 1, at most 1,024"),
    Case("pods-a-billion", f"{NATIVE},pods\na,0,60,research,1,1000000000\n", "line 2: pods: got '1000000000'"),
    Case("cpu-1e308", f"{NATIVE},cpu\na,0,60,research,1,1e308\n", "line 2: cpu: got '1e308'; expected cores per pod"),
    Case("checkpoint-1e308", f"{NATIVE},checkpoint_minutes\na,0,60,research,1,1e308\n",
         "line 2: checkpoint_minutes: got '1e308'; expected minutes between checkpoints (0: none), at most 5,256,000"),
    # -- options
    Case("spot-rate-inf", OK_TRACE, "--spot-rate: got inf; expected interruptions per node-hour from 0 to 1",
         ("--spot-rate", "inf")),
    Case("spot-rate-1e9", OK_TRACE, "--spot-rate: got 1e+09; expected interruptions per node-hour from 0 to 1",
         ("--spot-rate", "1e9")),
    Case("spot-rate-nan", OK_TRACE, "--spot-rate: got 'nan'; expected interruptions per node-hour",
         ("--spot-rate", "nan")),
    Case("spot-rate-negative", OK_TRACE, "--spot-rate: got -1; expected", ("--spot-rate", "-1")),
    Case("ready-minutes-nan", OK_TRACE, "--ready-minutes: got 'shared-l4=nan'; expected POOL=MINUTES, minutes "
         "from 0 to 1,440 (a day)", ("--ready-minutes", "shared-l4=nan")),
    Case("ready-minutes-inf", OK_TRACE, "--ready-minutes: got 'shared-l4=inf'", ("--ready-minutes", "shared-l4=inf")),
    Case("time-scale-nan", OK_TRACE, "--time-scale: got 'nan'; expected a factor > 0, at most 1,000,000",
         ("--time-scale", "nan")),
    Case("time-scale-inf", OK_TRACE, "--time-scale: got inf; expected a factor > 0, at most 1,000,000",
         ("--time-scale", "inf")),
    Case("horizon-days-1e9", OK_TRACE, "--horizon-days: got 1e+09; expected days > 0, at most 3,680",
         ("--horizon-days", "1e9")),
    Case("horizon-days-nan", OK_TRACE, "--horizon-days: got 'nan'; expected days > 0", ("--horizon-days", "nan")),
    Case("horizon-days-0", OK_TRACE, "--horizon-days: got 0; expected days > 0", ("--horizon-days", "0")),
    Case("start-9999", OK_TRACE, "--start: got '9999-12-31T00:00'; expected a local date and time YYYY-MM-DDTHH:MM "
         "from 1900-01-01 to 9989-12-01", ("--start", "9999-12-31T00:00")),
    Case("start-year-1", OK_TRACE, "--start: got '0001-01-01T00:00'; expected a local date and time",
         ("--start", "0001-01-01T00:00")),
    Case("checkpoint-minutes-nan", OK_TRACE, "--checkpoint-minutes: got 'nan'; expected minutes >= 0",
         ("--checkpoint-minutes", "nan")),
    Case("seed-5000-digits", OK_TRACE, "--seed: got '999", ("--seed", DIGITS)),
    Case("team-map-to-no-team", OK_TRACE, "--team-map: got research='nobody'; expected KEY=TEAM with a team of dev "
         "(research, applied)", ("--team-map", "research=nobody")),
    Case("gpu-map-to-no-model", OK_TRACE, "--gpu-map: got 'G2=h800'; expected SPEC=MODEL with a catalog GPU model",
         ("--gpu-map", "G2=h800")),
    # -- sizes: the csv field limit, long lines, a trace too large for memory
    Case("header-over-field-limit", "x" * 200_000 + ",submit,run,team,gpus\n",
         "line 1: got 'field larger than field limit (131072)'; expected a header row of column names of at most "
         "131,072 characters (column 1 has more)"),
    Case("field-over-field-limit", f"{NATIVE}\na,0,60,{'r' * 200_000},1\n",
         "line 2: got 'field larger than field limit (131072)'; expected values of at most 131,072 characters "
         "(the team column has more)"),
    Case("alibaba-field-over-field-limit", pod(name="p" * 200_000),
         "line 2: got 'field larger than field limit (131072)'; expected values of at most 131,072 characters "
         "(the name column has more)"),
    Case("line-over-1-mib", f"{NATIVE}\na,0,60,{'r' * 2_000_000},1\n",
         "line 2: got a line of more than 1,048,576 bytes; expected one job per line, lines of at most 1.0 MiB"),
    Case("sparse-1-gib", sparse(1 << 30), "line 1: got a line of more than 1,048,576 bytes"),
    Case("over-1-gib", sparse((1 << 30) + 1), "got a file of 1,073,741,825 bytes"),
    # -- JSON lines: nesting and types
    Case("jsonl-nested-team", '{"submit": 0, "run": 60, "gpus": 1, "team": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
         "line 1: team: got a JSON value nested too deeply to read; expected one JSON object per line whose values "
         "are strings or numbers", suffix=".jsonl"),
    Case("jsonl-nested-line", "[" * 100_000 + "]" * 100_000 + "\n", "line 1: got a JSON value nested too deeply",
         suffix=".jsonl"),
    Case("jsonl-team-object", '{"submit": 0, "run": 60, "team": {"a": 1}, "gpus": 1}\n',
         "line 1: team: got '{\"a\": 1}'; expected a team name (a JSON string)", suffix=".jsonl"),
    Case("jsonl-team-list", '{"submit": 0, "run": 60, "team": ["research"], "gpus": 1}\n',
         "line 1: team: got '[\"research\"]'; expected a team name (a JSON string)", suffix=".jsonl"),
    Case("jsonl-team-number", '{"submit": 0, "run": 60, "team": 7, "gpus": 1}\n',
         "line 1: team: got '7'; expected a team name (a JSON string)", suffix=".jsonl"),
    Case("jsonl-submit-true", '{"submit": true, "run": 60, "team": "research", "gpus": 1}\n',
         "line 1: submit: got 'true'; expected a number (a JSON number, or a string holding one)", suffix=".jsonl"),
    Case("jsonl-gpus-list", '{"submit": 0, "run": 60, "team": "research", "gpus": [1]}\n',
         "line 1: gpus: got '[1]'; expected a number", suffix=".jsonl"),
    Case("jsonl-kind-number", '{"submit": 0, "run": 60, "team": "research", "gpus": 1, "kind": 5}\n',
         "line 1: kind: got '5'; expected batch or service (a JSON string)", suffix=".jsonl"),
    Case("jsonl-priority-object", '{"submit": 0, "run": 60, "team": "research", "gpus": 1, "priority": {}}\n',
         "line 1: priority: got '{}'; expected a priority name (a JSON string) or an integer", suffix=".jsonl"),
    Case("jsonl-name-object", '{"submit": 0, "run": 60, "team": "research", "gpus": 1, "name": {"x": 1}}\n',
         "line 1: name: got '{\"x\": 1}'; expected a job name (a JSON string)", suffix=".jsonl"),
    # -- teams
    Case("team-not-a-stack-team", f"{NATIVE}\na,0,60,research,1\nb,0,60,nobody,1\n",
         "TRACE: line 3: team: got 'nobody'; expected a team of stack dev (research, applied); "
         "--team-map nobody=TEAM sends its jobs to one"),
    Case("jsonl-team-not-a-stack-team", '{"submit": 0, "run": 60, "team": "nobody", "gpus": 1}\n',
         "line 1: team: got 'nobody'; expected a team of stack dev (research, applied)", suffix=".jsonl"),
    # -- the Alibaba trace
    Case("alibaba-without-time-columns", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1000,1024,1,1000\n",
         "TRACE: line 1: got an Alibaba cluster-trace-gpu-v2023 pod list without the time columns creation_time, "
         "deletion_time, scheduled_time and gpu_spec, qos, pod_phase; expected the pod list's 11 columns "
         f"{ALIBABA_HEADER} (creation_time is when a pod was submitted"),
    Case("alibaba-without-scheduled-time", ALIBABA_HEADER.replace(",scheduled_time", "") + "\n",
         "line 1: got an Alibaba cluster-trace-gpu-v2023 pod list without the time columns scheduled_time;"),
    Case("alibaba-node-list", "sn,cpu_milli,memory_mib,gpu,model\nopenb-node-0227,64000,262144,0,\n",
         "line 1: got the Alibaba cluster-trace-gpu-v2023 node list (sn,cpu_milli,memory_mib,gpu,model): the "
         "cluster's nodes, not jobs; expected its pod list"),
    Case("alibaba-creation-1e12", pod(creation_time="1e12", deletion_time="1e12", scheduled_time="1e12"),
         f"line 2: creation_time: got '1e12'; expected seconds from the trace start (a number >= 0), {TEN_YEARS}"),
    Case("alibaba-deletion-5000-digits", pod(deletion_time=DIGITS),
         "line 2: deletion_time: got '999"),
    Case("alibaba-runs-past-10-years", pod(creation_time="310000000", scheduled_time="300000000",
                                           deletion_time="315000000"),
         "line 2: deletion_time: got '315000000'; expected seconds from the trace start; the pod's run (deletion "
         "less scheduled time, 15,000,000 s) ending within 315,360,000 (10 years) of the trace start"),
    Case("alibaba-num-gpu-4000-digits", pod(num_gpu="9" * 4000),
         "line 2: num_gpu: got '999"),
    Case("alibaba-num-gpu-bound", pod(num_gpu="9" * 4000), "expected GPUs per pod: a whole number >= 0, at most 1,024"),
    Case("alibaba-gpu-milli-5000", pod(gpu_milli="5000"),
         "line 2: gpu_milli: got '5000'; expected thousandths of a GPU (0 to 1000): a whole number >= 0, at most 1,000"),
    Case("alibaba-cpu-milli-text", pod(cpu_milli="lots"),
         "line 2: cpu_milli: got 'lots'; expected millicores per pod: a whole number >= 0"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_hostile_trace_or_option_is_one_line_and_exit_2_in_seconds(tmp_path, capsys, case):
    path = tmp_path / f"trace{case.suffix}"
    if callable(case.content):
        case.content(path)
    else:
        path.write_text(case.content)
    began = time.monotonic()
    code = main(["simulate", "dev", "--trace", str(path), *case.args])
    took = time.monotonic() - began
    err = capsys.readouterr().err
    assert code == case.exit, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert case.fragment.replace("TRACE", str(path)) in err, err
    assert took < SECONDS


def test_the_team_must_be_a_team_of_the_compared_stack_too(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text(f"{NATIVE}\na,0,60,research,1\nb,0,60,applied,1\n")
    code = main(["simulate", "dev", "--trace", str(path), "--set", "teams[1].name=ops"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"{path}: line 3: team: got 'applied'; expected a team of both dev (research, applied) and " \
           "dev + teams[1].name=ops (research, ops)" in err


# ---------------------------------------------------------------- size and work, bounded

def test_a_trace_too_large_for_memory_is_refused_up_front_with_the_size_it_needs(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_JOBS", 1000)
    path = tmp_path / "big.csv"
    path.write_text(f"{NATIVE}\n" + "a,0,60,research,1\n" * 5000)
    with pytest.raises(TraceError) as info:
        read_native(path)
    need = limits.size(limits.memory_needed(5001))
    assert str(info.value) == (f"{path}: (file): got 5,001 lines (a job each: a simulation would need about {need} "
                               f"of memory); expected a trace of at most 1,000 jobs "
                               f"(about {limits.size(limits.memory_needed(1000))})")
    with pytest.raises(TraceError, match="a trace of at most 1,000 jobs"):
        alibaba.read(path, teams=["research"])
    path.write_text(f"{NATIVE}\n" + "a,0,60,research,1\n" * 999)
    assert len(read_native(path).jobs) == 999


def test_the_default_limit_is_the_documented_million_and_more():
    assert limits.MAX_JOBS >= 1_000_000  # README "Speed": a million jobs is a supported trace
    assert limits.memory_needed(1_000_000) < 1 << 30


def test_the_event_loop_stops_with_one_line_past_its_budget():
    plat = platform("one-node")
    trace = jobs(*({"name": f"j{i}", "submit": i * 60, "run": 600, "team": "research", "gpus": 4, "cpu": 1,
                    "memory_gib": 1} for i in range(50)))
    with pytest.raises(limits.TooLarge) as info:
        engine.simulate(plat, trace, max_events=20)
    assert str(info.value).startswith("simulate one-node: got more than 20 events by day 0.")
    assert "expected at most 2,000,000 events and 20 per job" in str(info.value)
    assert engine.Engine(plat, trace).max_events == limits.EVENTS_BASE + limits.EVENTS_PER_JOB * 50


def test_the_cli_reports_a_simulation_past_its_budget_in_one_line(tmp_path, shipped, capsys, monkeypatch):
    monkeypatch.setattr(limits, "EVENTS_BASE", 3)
    monkeypatch.setattr(limits, "EVENTS_PER_JOB", 0)
    code = main(["simulate", "dev", "--trace", str(TRACES / "sample_native.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: simulate dev: got more than 3 events"), err


def test_a_library_horizon_beyond_the_calendar_is_refused():
    with pytest.raises(limits.TooLarge, match="expected at most 3,680 days"):
        engine.simulate(platform("one-node"), jobs({"submit": 0, "run": 60, "team": "research", "gpus": 1}),
                        horizon_s=1e308)


def test_ten_years_of_trace_at_the_last_start_simulates_in_seconds():
    plat = platform("one-node", start=limits.LAST_START.isoformat())
    trace = jobs({"name": "late", "submit": limits.MAX_TRACE_S - 3600, "run": 60, "team": "research", "gpus": 1},
                 {"name": "first", "submit": 0, "run": 60, "team": "research", "gpus": 1})
    began = time.monotonic()
    result = run(plat, trace, audit=False)
    assert time.monotonic() - began < SECONDS
    assert {j.label: j.state for j in result.jobs} == {"late": DONE, "first": DONE}


# ---------------------------------------------------------------- the parsers, for any text

ANY_TEXT = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[+-]?[0-9_]{0,30}(\.[0-9]{0,10})?([eE][+-]?[0-9]{1,5})?", fullmatch=True),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e308", "1e309", "-0", "0x10", "1_000", " 7 ", "٣",
                     "9" * 5000, "-" + "9" * 5000, "2026-01-05T09:00", "9999-12-31T23:59", "0001-01-01", ""]),
)
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10 ** 300),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT, st.floats(0, 10), st.floats(0, 1e9))
def test_a_number_is_in_range_or_one_refusal(text, low, span):
    high = low + span
    try:
        x = limits.number(text, low=low, high=high)
    except limits.Refused:
        return
    assert isinstance(x, float) and low <= x <= high and math.isfinite(x)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, JSON_VALUES))
def test_a_trace_number_is_in_range_or_one_trace_error(value):
    try:
        x = _number("t.csv", "line 2: submit", value, "seconds", high=limits.MAX_TRACE_S, bound="10 years")
    except TraceError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("t.csv: line 2: submit: got ") and len(str(exc)) < 300
        return
    assert 0 <= x <= limits.MAX_TRACE_S


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, JSON_VALUES), st.integers(-10 ** 6, 10 ** 6), st.integers(0, 10 ** 12))
def test_a_whole_number_is_in_range_or_one_refusal(value, low, span):
    try:
        n = limits.whole(value, low=low, high=low + span)
    except limits.Refused:
        return
    assert isinstance(n, int) and low <= n <= low + span


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_a_start_is_in_the_calendar_or_one_refusal(text):
    try:
        at = limits.start(text)
    except limits.Refused:
        return
    assert limits.FIRST_START <= at <= limits.LAST_START and at.tzinfo is None


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_every_option_parser_gives_a_bounded_value_or_one_usage_line(text):
    parsers = [
        lambda t: command.option_number("--spot-rate", t, "rate", high=limits.MAX_SPOT_RATE),
        lambda t: command.option_number("--time-scale", t, "a factor > 0", strict=True, high=limits.MAX_TIME_SCALE),
        lambda t: command.option_number("--horizon-days", t, "days > 0", strict=True, high=limits.MAX_HORIZON_DAYS),
        command.option_seed, command.option_start, lambda t: command.option_ready(f"pool={t}"),
    ]
    for parse in parsers:
        try:
            value = parse(text)
        except command.UsageError as exc:
            assert isinstance(exc, ValueError) and "\n" not in str(exc) and len(str(exc)) < 400
            continue
        if isinstance(value, float):
            assert math.isfinite(value)
        elif isinstance(value, dict):
            assert all(0 <= v <= limits.MAX_READY_MINUTES for v in value.values())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(ANY_TEXT.filter(lambda t: "," not in t and "\n" not in t and "\r" not in t
                                          and '"' not in t), st.just("1")), min_size=2, max_size=2))
def test_a_native_row_of_any_times_is_a_bounded_job_or_one_trace_error(tmp_path_factory, cells):
    path = tmp_path_factory.mktemp("row") / "t.csv"
    path.write_text(f"submit,run,team,gpus\n{cells[0]},{cells[1]},research,1\n", encoding="utf-8")
    try:
        trace = read_native(path, teams=["research"])
    except TraceError as exc:
        assert "\n" not in str(exc)
        return
    for job in trace.jobs:
        assert 0 <= job.submit and 0 < job.run and job.submit + job.run <= limits.MAX_TRACE_S
