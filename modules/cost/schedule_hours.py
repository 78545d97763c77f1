"""How many hours a month a scheduled GPU pool can run (pure).

The scale-down schedule (``gpufleet:cost.schedule``) sets a pool's Auto Scaling group to
max 0 at every ``stop`` and restores its max at every ``start``, both cron expressions in
the schedule's ``time_zone`` (EC2 Auto Scaling evaluates ``Recurrence`` in ``TimeZone``).
Between a ``stop`` and the next ``start`` the pool cannot have a node, whatever the
autoscaler wants: the ceiling of a scheduled pool is its max size for the hours between each
``start`` and the following ``stop``.

:func:`scheduled_hours_per_month` lays every firing of both crons over one reference year
(:data:`REFERENCE_YEAR`, 8,760 hours: a month is a twelfth of it, 730 hours, the model's
month) in the time zone, converts each to UTC (so a daylight-saving change shortens or
lengthens the day it falls in) and adds up the time the pool is started. Rules:

- day of month and day of week follow crontab(5): when both are restricted (neither starts
  with ``*``) a day matching either runs; otherwise a day must match both;
- a start and a stop at the same instant leave the pool started (the ceiling errs high);
- the year wraps: the state on 1 January is the state after the year's last action;
- a local time skipped by a daylight-saving change is read as zoneinfo reads it (the
  offset before the change, i.e. the hour after the gap); a repeated one fires once.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

from ..schema import cron

REFERENCE_YEAR = 2027
HOURS_PER_YEAR = 8760


def _days(fields: tuple[frozenset[int], ...], text: list[str], year: int) -> list[date]:
    _, _, doms, months, dows = fields
    dom_restricted, dow_restricted = not text[2].startswith("*"), not text[4].startswith("*")
    out = []
    day = date(year, 1, 1)
    while day.year == year:
        if day.month in months:
            dom_ok, dow_ok = day.day in doms, (day.weekday() + 1) % 7 in dows
            if (dom_ok or dow_ok) if (dom_restricted and dow_restricted) else (dom_ok and dow_ok):
                out.append(day)
        day += timedelta(days=1)
    return out


def firings(expr: str, time_zone: str, year: int = REFERENCE_YEAR) -> list[datetime]:
    """Every time (UTC) the cron ``expr`` fires in ``year`` of ``time_zone``."""
    fields = cron.parse(expr)
    minutes, hours = sorted(fields[0]), sorted(fields[1])
    tz = ZoneInfo(time_zone)
    out = []
    for day in _days(fields, expr.split(), year):
        for h in hours:
            for m in minutes:
                out.append(datetime(day.year, day.month, day.day, h, m, tzinfo=tz).astimezone(timezone.utc))
    return out


@cache
def scheduled_hours_per_month(start: str, stop: str, time_zone: str = "Etc/UTC", year: int = REFERENCE_YEAR) -> float:
    """Hours per month (a twelfth of ``year``) between each ``start`` and the next ``stop``."""
    tz = ZoneInfo(time_zone)
    begin = datetime(year, 1, 1, tzinfo=tz).astimezone(timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=tz).astimezone(timezone.utc)
    # at the same instant a stop sorts before a start: the pool ends up started
    events = sorted([(t, 1) for t in firings(start, time_zone, year)] + [(t, 0) for t in firings(stop, time_zone, year)])
    if not events:
        return float(HOURS_PER_YEAR / 12)
    kinds = {k for _, k in events}
    if kinds == {0}:
        return 0.0
    if kinds == {1}:
        return float(HOURS_PER_YEAR / 12)
    running = events[-1][1] == 1  # the year wraps around
    seconds, since = 0.0, begin
    for when, kind in events:
        if running:
            seconds += (when - since).total_seconds()
        running, since = kind == 1, when
    if running:
        seconds += (end - since).total_seconds()
    # the reference year's length in this zone is 8,760 h (daylight-saving changes cancel out)
    return round(seconds / 3600 / 12, 2)
