"""gpufleet simulate: the scale-down schedule on daylight-saving days fires as the cost model
says it does (one rule, :func:`modules.cost.schedule_hours.local_instant`: a local time the
clocks skip does not fire, a repeated one fires once, at its first occurrence)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gpufleet.modules.cost.schedule_hours import firings
from gpufleet.modules.simulate import calendar

NY = "America/New_York"  # 2026: spring forward Sun 8 March (02:00 EST -> 03:00 EDT), fall back Sun 1 November
                         # (02:00 EDT -> 01:00 EST)


def _year(tz: str, year: int) -> tuple[datetime, float]:
    """The simulator's clock over ``year`` of ``tz``: its start (UTC) and its length in seconds,
    less one (``instants`` includes its end: midnight of the next year is not in the year)."""
    zone = ZoneInfo(tz)
    start = datetime(year, 1, 1, tzinfo=zone).astimezone(timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(timezone.utc)
    return start, (end - start).total_seconds() - 1


def simulated_firings(expr: str, tz: str, year: int) -> list[datetime]:
    """The UTC instants at which the simulator fires ``expr`` in ``year`` of ``tz``."""
    start, span = _year(tz, year)
    return [start + timedelta(seconds=s) for s in calendar.instants(expr, tz, start, span)]


def _on(times: list[datetime], day: date, tz: str = NY) -> list[tuple[int, int]]:
    """(UTC hour, minute) of each of ``times`` that falls on local ``day``."""
    return [(t.hour, t.minute) for t in times if t.astimezone(ZoneInfo(tz)).date() == day]


def test_new_yorks_daylight_saving_days_fire_as_the_cost_model_says():
    two = simulated_firings("0 2 * * *", NY, 2026)
    assert two == firings("0 2 * * *", NY, 2026)
    # 8 March: 02:00 does not exist, the action does not run (it is not moved to 03:00 EDT)
    assert _on(two, date(2026, 3, 8)) == []
    assert (_on(two, date(2026, 3, 7)), _on(two, date(2026, 3, 9))) == ([(7, 0)], [(6, 0)])  # EST, EDT
    # 1 November: 02:00 occurs once, 02:00 EST (07:00 UTC), after the repeated hour
    assert _on(two, date(2026, 11, 1)) == [(7, 0)]
    assert len(two) == 364
    # 01:30 occurs twice on 1 November: it fires once, at the first (01:30 EDT, 05:30 UTC)
    half_past_one = simulated_firings("30 1 * * *", NY, 2026)
    assert half_past_one == firings("30 1 * * *", NY, 2026)
    assert _on(half_past_one, date(2026, 11, 1)) == [(5, 30)] and len(half_past_one) == 365


def test_a_skipped_start_leaves_the_pools_as_they_were_in_the_simulator():
    # stop 01:00, start 02:00: on 8 March the start does not fire, so the pools stay down
    # from 01:00 EST until the stop-start pair of 9 March (the cost model's 24 h for two days)
    zone = ZoneInfo(NY)
    start = datetime(2026, 3, 8, 0, 30, tzinfo=zone).astimezone(timezone.utc)
    up, changes = calendar.transitions("0 1 * * *", "0 2 * * *", NY, start, 36 * 3600.0)  # to 9 March 13:30
    local = [((start + timedelta(seconds=s)).astimezone(zone).strftime("%d %H:%M"), on) for s, on in changes]
    assert up is True
    assert local == [("08 01:00", False), ("09 01:00", False), ("09 02:00", True)]


ZONES = [
    "Etc/UTC", "America/New_York", "Europe/Berlin", "Europe/London", "Australia/Sydney",
    "America/Santiago",      # its clocks change at midnight: 00:xx is skipped or repeated
    "Australia/Lord_Howe",   # a 30-minute daylight-saving shift
    "Pacific/Chatham",       # changes at 02:45 local
    "Asia/Kolkata",          # no daylight saving, a half-hour offset
]
HOURS = st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True).map(lambda hs: ",".join(map(str, sorted(hs))))
MINUTES = st.sampled_from(["0", "30", "45", "15,45", "0,59"])
# day fields stepped, listed and ranged as well as plain: the simulator and the cost model read
# them with one parser and one day rule (Vixie cron's: a field starting with '*' is not a
# restriction, so '*/2,15' and '15,*/2' differ beside a weekday; see tests/test_simulate_cron.py)
DAYS_OF_MONTH = st.sampled_from(["*", "*/2", "*/10", "1,15", "1-7", "10-20/5", "31", "*/2,15", "15,*/2", "1-31"])
WEEKDAYS = st.sampled_from(["*", "1-5", "0", "SAT", "MON,WED", "*/2", "*/3", "1-5/2", "sun-tue", "0,6"])
MONTHS = st.sampled_from(["*", "*/3", "MAR-NOV/4", "2", "3,10,11", "oct-dec"])


@settings(max_examples=40, deadline=None)
@given(zone=st.sampled_from(ZONES), hours=HOURS, minutes=MINUTES, dom=DAYS_OF_MONTH, dow=WEEKDAYS, month=MONTHS,
       year=st.integers(2024, 2030))
@example(zone=NY, hours="1,2,3", minutes="0,59", dom="*", dow="*", month="*", year=2026)
@example(zone="America/Santiago", hours="0,23", minutes="0", dom="*", dow="*", month="*", year=2026)
@example(zone="Australia/Lord_Howe", hours="1,2", minutes="15,45", dom="*", dow="*", month="*", year=2026)
@example(zone=NY, hours="2", minutes="30", dom="*/2", dow="0", month="3,10,11", year=2026)  # odd Sundays: 1 Nov
@example(zone="Europe/Berlin", hours="8", minutes="0", dom="15,*/2", dow="MON,WED", month="*", year=2027)
def test_the_simulator_and_the_cost_model_fire_at_the_same_instants_over_a_year(zone, hours, minutes, dom, dow,
                                                                                month, year):
    expr = f"{minutes} {hours} {dom} {month} {dow}"
    assert simulated_firings(expr, zone, year) == firings(expr, zone, year)
