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

- day of month and day of week follow crontab(5) as Vixie cron implements it
  (:class:`CronSchedule`): when both are restricted (neither starts with ``*``) a day
  matching either runs; otherwise a day must match both;
- a start and a stop at the same instant leave the pool started (the ceiling errs high);
- the year wraps: the state on 1 January is the state after the year's last action;
- daylight saving (see below): a local time that does not exist that day does not fire; a
  local time that occurs twice fires once, at its first occurrence.

Daylight saving. EC2 Auto Scaling documents only that "when you specify a time zone that
observes Daylight Saving Time (DST), the action automatically adjusts for DST" (Amazon EC2
Auto Scaling User Guide, "Scheduled scaling", docs.aws.amazon.com/autoscaling/ec2/userguide/
ec2-auto-scaling-scheduled-scaling.html), not what happens to a firing in the skipped or the
repeated hour. AWS's one documented rule for a cron expression in a time zone is EventBridge
Scheduler's: "When the time shifts forward in Spring, your schedule invocation gets skipped if
the cron expression falls on a non-existent date and time. When the time shifts back in the
Fall, your schedule runs only once and doesn't repeat its invocation" (AWS Knowledge Center,
repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst; EventBridge Scheduler User Guide,
"Daylight savings time on EventBridge Scheduler", docs.aws.amazon.com/scheduler/latest/
UserGuide/schedule-types.html). Spring's ``CronExpression`` skips the same way; Vixie cron
and cronie (cron(8), "Daylight Saving Time and other time changes") run a skipped job right
after the change instead, and agree that a repeated time runs once. The model follows AWS's
rule: on New York's spring-forward day (02:00 EST becomes 03:00 EDT) an action at
``0 2 * * *`` does not run and the pool stays as it was until the next action; on the
fall-back day an action at ``30 1 * * *`` runs once, at 01:30 EDT. Distinct local times then
fire at distinct instants (reading a skipped 02:00 as zoneinfo does, with the old offset, put
it on 03:00 EDT, the instant of a ``0 3 * * *`` action: the day was counted on both sides), so
a start and a stop cron split the year exactly: the hours of (start, stop) and of
(stop, start) add up to the year's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ..schema import cron

REFERENCE_YEAR = 2027
HOURS_PER_YEAR = 8760


class CronSchedule(NamedTuple):
    """A cron expression as the days and times it fires: the one reading of a cron's fields,
    shared by the cost model (:func:`firings`) and ``gpufleet simulate``
    (:mod:`modules.simulate.calendar`). The fields come from :func:`modules.schema.cron.parse`,
    the stack validator's parser, so both accept exactly the crons a stack can hold.

    The day rule is crontab(5)'s: "If both fields are restricted (ie, aren't *), the command
    will be run when either field matches the current time" (Vixie cron's crontab.5), and
    what "aren't *" means is Vixie cron's code (github.com/vixie/cron): ``load_entry`` in
    entry.c sets ``DOM_STAR`` (``DOW_STAR``) when the first character of the day-of-month
    (day-of-week) field is ``*`` (``if (ch == '*') e->flags |= DOM_STAR;``), and
    ``find_jobs`` in cron.c runs a job on a day when ``((e->flags & DOM_STAR) || (e->flags &
    DOW_STAR)) ? (bit_test(e->dow,dow) && bit_test(e->dom,dom)) : (bit_test(e->dow,dow) ||
    bit_test(e->dom,dom))``. So a field is star by its first character, not by the days it
    matches: ``*/2`` and ``*/2,15`` are star (``0 8 */2 * 1`` runs on Mondays that are odd
    days of the month), ``15,*/2`` and ``1-31`` are restricted (``0 8 1-31 * 1`` runs every
    day).
    """

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    #: 0-6, 0 = Sunday
    weekdays: frozenset[int]
    #: the day-of-month field does not start with ``*`` (Vixie cron: not ``DOM_STAR``)
    day_restricted: bool
    #: the day-of-week field does not start with ``*`` (Vixie cron: not ``DOW_STAR``)
    weekday_restricted: bool

    def fires_on(self, day: date) -> bool:
        """Whether the cron fires on local ``day`` (a ``date`` or a ``datetime``'s date)."""
        if day.month not in self.months:
            return False
        dom, dow = day.day in self.days, day.isoweekday() % 7 in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return dom or dow
        return dom and dow

    def times(self) -> list[tuple[int, int]]:
        """The (hour, minute) local times it fires at on such a day, in order."""
        return [(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]

    def firings(self, first: date, last: date, tz: ZoneInfo) -> Iterator[datetime]:
        """Every instant (UTC) it fires on the local days ``first`` to ``last`` of ``tz``, in
        local-time order, by the daylight-saving rule of :func:`local_instant` (none in a
        gap, one for a repeated local time)."""
        times = self.times()
        day = first
        while day <= last:
            if self.fires_on(day):
                for h, m in times:
                    at = local_instant(datetime(day.year, day.month, day.day, h, m), tz)
                    if at is not None:
                        yield at
            day += timedelta(days=1)


def schedule(expr: str) -> CronSchedule:
    """``expr`` read by :func:`modules.schema.cron.parse` (raises its ``CronError``), with the
    day-field flags of Vixie cron (see :class:`CronSchedule`)."""
    minutes, hours, days, months, weekdays = cron.parse(expr)
    dom_text, dow_text = expr.split()[2], expr.split()[4]
    return CronSchedule(minutes, hours, days, months, weekdays,
                        not dom_text.startswith("*"), not dow_text.startswith("*"))


def firings(expr: str, time_zone: str, year: int = REFERENCE_YEAR) -> list[datetime]:
    """Every time (UTC) the cron ``expr`` fires in ``year`` of ``time_zone`` (sorted by local
    time; none in a daylight-saving gap, one for a repeated local time)."""
    return list(schedule(expr).firings(date(year, 1, 1), date(year, 12, 31), ZoneInfo(time_zone)))


def local_instant(local: datetime, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of the naive ``local`` time in ``tz``: None when the clocks skip it
    (it does not fire), the first of the two when they repeat it (``fold=0``: it fires once).

    The one implementation of the daylight-saving rule above: ``gpufleet simulate``
    (:mod:`modules.simulate.calendar`) fires the schedule's actions through it too."""
    at = local.replace(tzinfo=tz).astimezone(timezone.utc)
    if at.astimezone(tz).replace(tzinfo=None) != local:
        return None  # in the gap: zoneinfo would read it with the old offset, an hour after the gap
    return at


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
