"""gpufleet simulate and the cost model read a cron's day fields the same way: one parser
(:func:`modules.schema.cron.parse`, the stack validator's) and one day rule
(:meth:`modules.cost.schedule_hours.CronSchedule.fires_on`, Vixie cron's: a day field is
"star" when its text starts with ``*``, so ``*/2`` with a weekday means both must match)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from gpufleet.modules.cost.schedule_hours import firings, scheduled_hours_per_month
from gpufleet.modules.schema.cron import CronError
from gpufleet.modules.simulate import calendar

from .test_simulate_dst import simulated_firings

NY = "America/New_York"

# Mondays of 2026 whose day of month is odd, by hand: 1 January 2026 is a Thursday, so the
# month's first Monday is the 5th (Jan), 2nd (Feb, Mar, Nov), 6th (Apr, Jul), 4th (May),
# 1st (Jun), 3rd (Aug), 7th (Sep, Dec), 5th (Oct); a month's Mondays alternate odd and even
# (7 is odd), so a month has the odd ones d, d+14 (and d+28 when the month is long enough).
ODD_MONDAYS_2026 = {
    1: (5, 19), 2: (9, 23), 3: (9, 23), 4: (13, 27), 5: (11, 25), 6: (1, 15, 29),
    7: (13, 27), 8: (3, 17, 31), 9: (7, 21), 10: (5, 19), 11: (9, 23), 12: (7, 21),
}


def _local_days(times: list[datetime], tz: str) -> list[date]:
    return [t.astimezone(ZoneInfo(tz)).date() for t in times]


@pytest.mark.parametrize("tz", ["Etc/UTC", NY])
def test_a_stepped_day_of_month_with_a_weekday_needs_both(tz):
    # crontab(5)/Vixie cron: '*/2' starts with '*', so the day-of-month field is "star" and a day
    # must match both fields: odd days that are Mondays (26), not odd days or Mondays (212)
    expected = [date(2026, m, d) for m, days in ODD_MONDAYS_2026.items() for d in days]
    assert len(expected) == 26
    simulated, modelled = simulated_firings("0 8 */2 * 1", tz, 2026), firings("0 8 */2 * 1", tz, 2026)
    assert simulated == modelled
    assert _local_days(simulated, tz) == expected
    assert all(t.astimezone(ZoneInfo(tz)).hour == 8 for t in simulated)


def test_whether_a_day_field_is_star_depends_on_its_first_character():
    # '*/2,15' and '15,*/2' match the same days of month, but only the first starts with '*':
    # with a weekday, the first needs both fields, the second either (Vixie cron's DOM_STAR)
    both = simulated_firings("0 8 */2,15 * MON", "Etc/UTC", 2026)
    either = simulated_firings("0 8 15,*/2 * MON", "Etc/UTC", 2026)
    assert both == firings("0 8 */2,15 * MON", "Etc/UTC", 2026)
    assert either == firings("0 8 15,*/2 * MON", "Etc/UTC", 2026)
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    assert _local_days(both, "Etc/UTC") == [d for d in days if (d.day % 2 == 1 or d.day == 15) and d.weekday() == 0]
    assert _local_days(either, "Etc/UTC") == [d for d in days if (d.day % 2 == 1 or d.day == 15) or d.weekday() == 0]
    # and a stepped weekday with an unrestricted day of month is just the weekdays
    assert _local_days(simulated_firings("0 8 * * */3", "Etc/UTC", 2026), "Etc/UTC") == [
        d for d in days if (d.weekday() + 1) % 7 in (0, 3, 6)]


def test_the_simulated_pools_are_up_for_the_cost_models_scheduled_hours():
    # start 08:00 on odd Mondays, stop 20:00 every day: 12 h on each of the 26 days
    start, stop = "0 8 */2 * 1", "0 20 * * *"
    assert scheduled_hours_per_month(start, stop, "Etc/UTC", 2026) == round(26 * 12 / 12, 2)
    origin = datetime(2026, 1, 1, tzinfo=timezone.utc)
    year = 365 * 86400.0 - 1
    up, changes = calendar.transitions(stop, start, "Etc/UTC", origin, year)
    assert up is False
    seconds, since = 0.0, 0.0
    for at, on in changes:
        if up:
            seconds += at - since
        up, since = on, at
    assert seconds / 3600 == 26 * 12


@pytest.mark.parametrize("expr", ["0 8 * * 6-7", "0 8 5/2 * *", "0 25 * * *", "0 8 * *"])
def test_the_simulator_refuses_what_the_stack_validator_refuses(expr):
    # one parser: a cron the stack could not hold is not given a meaning of the simulator's own
    with pytest.raises(CronError):
        calendar.instants(expr, "Etc/UTC", datetime(2026, 1, 1, tzinfo=timezone.utc), 86400.0)
