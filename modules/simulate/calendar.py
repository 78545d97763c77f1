"""The scale-down schedule on the simulated clock.

The stack's ``stop`` and ``start`` crons (``gpufleet:cost.schedule``, applied by
:mod:`modules.cost.schedules` as Auto Scaling scheduled actions in the schedule's time zone)
become instants in seconds from the trace start. The cron is read the cost model's way, by the
one reading of a cron there is (:func:`modules.cost.schedule_hours.schedule`, on the stack
validator's parser :func:`modules.schema.cron.parse`): five fields, minute hour day-of-month
month day-of-week; ``*``, lists, ranges, steps, day and month names; Sunday is 0; a cron the
stack could not hold raises :class:`modules.schema.cron.CronError`. Days follow crontab(5) as
Vixie cron implements it (cited in :class:`modules.cost.schedule_hours.CronSchedule`): when
both day fields are restricted (neither starts with ``*``) a day matching either runs,
otherwise a day must match both, so ``*/2`` is not a restriction (``0 8 */2 * 1``: Mondays
that are odd days of the month). Local times are converted with the IANA zone, so
daylight-saving changes move the instants as they move the real actions, by the cost model's
rule (:func:`modules.cost.schedule_hours.local_instant`, AWS's documented rule, cited there):
a local time the clocks skip does not fire, a repeated one fires once, at its first
occurrence. The simulator and the cost model's scheduled hours thus see the same actions.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ..cost.schedule_hours import schedule

#: (minutes, hours, days, months, weekdays 0-6, day restricted, weekday restricted): the
#: shared reading, not a parser of the simulator's own
parse = schedule


def instants(expr: str, tz: str, start: datetime, end_s: float, *, before_s: float = 0.0) -> list[float]:
    """Seconds from ``start`` (aware) at which ``expr`` fires in ``tz``, in
    [-before_s, end_s], sorted."""
    zone = ZoneInfo(tz)
    origin = start.astimezone(timezone.utc)
    first = (origin - timedelta(seconds=before_s)).astimezone(zone).date()
    last = (origin + timedelta(seconds=end_s)).astimezone(zone).date()
    seconds = ((at - origin).total_seconds() for at in schedule(expr).firings(first, last, zone))
    return [s for s in seconds if -before_s <= s <= end_s]


def transitions(stop: str, start_expr: str, tz: str, start: datetime, end_s: float) -> tuple[bool, list[tuple[float, bool]]]:
    """Whether the pools are up at time 0, and the (instant, up?) changes after it."""
    week = 8 * 86400.0
    stops = [(t, False) for t in instants(stop, tz, start, end_s, before_s=week)]
    starts = [(t, True) for t in instants(start_expr, tz, start, end_s, before_s=week)]
    events = sorted(stops + starts)
    past = [e for e in events if e[0] <= 0]
    up = past[-1][1] if past else True
    return up, [e for e in events if e[0] > 0]
