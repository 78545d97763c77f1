"""One clock (issue 18, 1): every reading of today goes through ``modules/clock.py``, which a
test, a CI job or a user can set; a clock that is not a date is a usage error.

The scan below is what makes "the suite passes with the machine's clock moved" hold for code
written later: a reading of the date behind the clock's back fails here, by file and line.
(A second CI run under Debian's faketime was tried: libfaketime makes Python 3.11's
``time.sleep`` fail with EINVAL, or hang without DONT_FAKE_MONOTONIC, so it is not in CI.)
"""

from __future__ import annotations

import ast
import os
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from gpufleet import cli
from gpufleet.modules import clock

from . import helpers
from .helpers import DATA_DAY, DAYS_AHEAD_ENV, ROOT, TEST_TODAY

#: every folder of Python that gpufleet ships or runs (tests and benchmarks included)
SCANNED = ("gpufleet", "modules", "policies", "scripts", "tests", "benchmarks")
CLOCK = ROOT / "modules" / "clock.py"

#: (module, attribute) that read the machine's date or time of day
READINGS = {("datetime.date", "today"), ("datetime.datetime", "today"), ("datetime.datetime", "now"),
            ("datetime.datetime", "utcnow"), ("time", "localtime"), ("time", "gmtime"), ("time", "ctime"),
            ("time", "strftime"), ("datetime.datetime", "utcfromtimestamp")}


def readings(source: str, name: str = "<src>") -> list[str]:
    """``line: dotted.call`` of each reading of the date in ``source``, through any import alias
    (``from datetime import date as d; d.today()``, ``import datetime as dt; dt.datetime.now()``)."""
    tree = ast.parse(source, name)
    bound: dict[str, str] = {}  # local name -> the module or class it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                bound[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module in ("datetime", "time") and not node.level:
            for a in node.names:
                bound[a.asname or a.name] = f"{node.module}.{a.name}"

    def dotted(expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name):
            return bound.get(expr.id)
        if isinstance(expr, ast.Attribute):
            base = dotted(expr.value)
            return f"{base}.{expr.attr}" if base else None
        return None

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = dotted(node.func.value)
            if owner and (owner, node.func.attr) in READINGS:
                if node.func.attr == "strftime" and node.args[1:]:
                    continue  # time.strftime(fmt, a_given_tuple) formats, it does not read the clock
                found.append(f"{node.lineno}: {owner}.{node.func.attr}()")
    return found


def _python_files() -> list[Path]:
    files = [p for folder in SCANNED for p in sorted((ROOT / folder).rglob("*.py"))
             if "__pycache__" not in p.parts and ".hypothesis" not in p.parts]
    return [p for p in files if p != CLOCK]


# ---------------------------------------------------------------- nothing reads the date elsewhere

@pytest.mark.parametrize("source, expected", [
    ("from datetime import date\ndate.today()", ["2: datetime.date.today()"]),
    ("import datetime\nx = datetime.datetime.now(datetime.timezone.utc)", ["2: datetime.datetime.now()"]),
    ("import datetime as dt\ndt.date.today()", ["2: datetime.date.today()"]),
    ("from datetime import datetime as moment\nmoment.utcnow()", ["2: datetime.datetime.utcnow()"]),
    ("import time\ntime.strftime('%Y')", ["2: time.strftime()"]),
    ("import time\ntime.strftime('%Y', (2026, 1, 1, 0, 0, 0, 0, 1, 0))", []),
    ("from datetime import date\ndate.fromisoformat('2026-01-01')", []),
    ("import time\ntime.monotonic()", []),  # durations are not dates
])
def test_the_scan_sees_each_way_of_reading_the_date(source, expected):
    assert readings(source) == expected


def test_nothing_but_the_clock_reads_the_date():
    files = _python_files()
    assert len(files) > 150 and ROOT / "gpufleet" / "cli.py" in files  # the scan sees the code
    found = [f"{p.relative_to(ROOT)}:{hit}" for p in files for hit in readings(p.read_text(), str(p))]
    assert found == [], "read today through gpufleet.modules.clock:\n" + "\n".join(found)


def test_the_pack_template_reads_the_clock_too():
    """The policy pack ``init`` writes runs in Pulumi's own process: it reads today through the
    same module (installed with gpufleet), never its own."""
    pack = ROOT / "gpufleet" / "pack_template" / "__main__.py"
    assert readings(pack.read_text()) == []


# ---------------------------------------------------------------- the clock itself

def test_the_suite_runs_on_its_own_day():
    assert clock.is_set() and clock.today() == TEST_TODAY
    assert os.environ[clock.ENV] == TEST_TODAY.isoformat()  # the commands it starts too
    assert (TEST_TODAY - DATA_DAY).days == int(os.environ.get(DAYS_AHEAD_ENV) or 0)


@pytest.mark.on_data_day
def test_a_test_of_the_datas_own_day_runs_on_it_in_process_and_in_children():
    assert clock.today() == DATA_DAY and os.environ[clock.ENV] == DATA_DAY.isoformat()


@pytest.mark.parametrize("given, days", [("", 0), ("0", 0), ("400", 400), (" 731 ", 731), ("800", 800)])
def test_ci_moves_the_suites_day_by_whole_days(monkeypatch, given, days):
    monkeypatch.setenv(DAYS_AHEAD_ENV, given)
    assert helpers._days_ahead() == days


@pytest.mark.parametrize("given", ["-1", "1.5", "1e3", "801", "400d", "tomorrow"])
def test_a_bad_move_stops_the_run_in_one_line(monkeypatch, given):
    monkeypatch.setenv(DAYS_AHEAD_ENV, given)
    with pytest.raises(SystemExit) as stop:
        helpers._days_ahead()
    assert str(stop.value).startswith(f"{DAYS_AHEAD_ENV}=") and "0 to 800" in str(stop.value)


def test_frozen_sets_and_restores_and_now_is_noon_utc():
    with clock.frozen(date(2030, 2, 3)):
        assert clock.today() == date(2030, 2, 3)
        assert clock.now() == datetime(2030, 2, 3, 12, tzinfo=timezone.utc)
        with clock.frozen(date(2031, 1, 1)):
            assert clock.today() == date(2031, 1, 1)
        assert clock.today() == date(2030, 2, 3)
    assert clock.today() == TEST_TODAY


def test_the_environment_sets_it_and_a_process_override_wins(monkeypatch):
    monkeypatch.setenv(clock.ENV, "2028-02-29")
    assert clock.today() == date(2028, 2, 29)
    with clock.frozen(date(2029, 1, 1)):
        assert clock.today() == date(2029, 1, 1)
    monkeypatch.delenv(clock.ENV)
    # unset: the machine's date, the same through both readings
    assert not clock.is_set() and clock.now().date() == clock.today() and clock.now().tzinfo is timezone.utc


def test_set_today_takes_a_date_only():
    with pytest.raises(TypeError):
        clock.set_today("2027-01-01")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["garbage", "2027-13-01", "tomorrow", "2027-02-30", "9" * 5000])
def test_a_clock_that_is_not_a_date_is_one_line_and_exit_2(monkeypatch, capsys, value):
    monkeypatch.setenv(clock.ENV, value)
    assert cli.main(["plan", "dev"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {clock.ENV}=") and "is not a date" in err and "Traceback" not in err
    assert len(err) < 200  # a long value is cut, not echoed
