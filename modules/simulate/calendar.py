"""The scale-down schedule on the simulated clock.

The stack's ``stop`` and ``start`` crons (``gpufleet:cost.schedule``, applied by
:mod:`modules.cost.schedules` as Auto Scaling scheduled actions in the schedule's time zone)
become instants in seconds from the trace start. Cron semantics as EC2 Auto Scaling reads
them (five fields: minute hour day-of-month month day-of-week; ``*``, lists, ranges, steps,
day and month names; Sunday is 0 or 7; when both day fields are restricted a day matching
either runs, as in Vixie cron). Local times are converted with the IANA zone, so
daylight-saving changes move the instants as they move the real actions.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
          "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
          "nov": 11, "dec": 12}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _value(text: str) -> int:
    return _NAMES[text.lower()] if text.lower() in _NAMES else int(text)


def _field(text: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        spec, _, step = part.partition("/")
        if spec == "*":
            a, b = lo, hi
        elif "-" in spec:
            x, y = spec.split("-", 1)
            a, b = _value(x), _value(y)
        else:
            a = b = _value(spec)
            if step:
                b = hi
        out.update(range(a, b + 1, int(step) if step else 1))
    return out


def parse(expr: str) -> tuple[set[int], set[int], set[int], set[int], set[int], bool, bool]:
    """(minutes, hours, days, months, weekdays 0-6, day restricted, weekday restricted)."""
    f = expr.split()
    sets = [_field(t, lo, hi) for t, (lo, hi) in zip(f, _RANGES)]
    sets[4] = {d % 7 for d in sets[4]}
    return (*sets, f[2] != "*", f[4] != "*")  # type: ignore[return-value]


def _day_matches(day: datetime, days: set[int], months: set[int], weekdays: set[int], dom_r: bool, dow_r: bool) -> bool:
    if day.month not in months:
        return False
    dom, dow = day.day in days, (day.isoweekday() % 7) in weekdays
    if dom_r and dow_r:
        return dom or dow
    return dom and dow


def instants(expr: str, tz: str, start: datetime, end_s: float, *, before_s: float = 0.0) -> list[float]:
    """Seconds from ``start`` (aware) at which ``expr`` fires in ``tz``, in
    [-before_s, end_s], sorted."""
    minutes, hours, days, months, weekdays, dom_r, dow_r = parse(expr)
    zone = ZoneInfo(tz)
    origin = start.astimezone(timezone.utc)
    first = (origin - timedelta(seconds=before_s)).astimezone(zone).date()
    last = (origin + timedelta(seconds=end_s)).astimezone(zone).date()
    out: list[float] = []
    day = first
    times = sorted((h, m) for h in hours for m in minutes)
    while day <= last:
        local = datetime(day.year, day.month, day.day, tzinfo=zone)
        if _day_matches(local, days, months, weekdays, dom_r, dow_r):
            for h, m in times:
                at = datetime(day.year, day.month, day.day, h, m, tzinfo=zone).astimezone(timezone.utc)
                s = (at - origin).total_seconds()
                if -before_s <= s <= end_s:
                    out.append(s)
        day += timedelta(days=1)
    return out


def transitions(stop: str, start_expr: str, tz: str, start: datetime, end_s: float) -> tuple[bool, list[tuple[float, bool]]]:
    """Whether the pools are up at time 0, and the (instant, up?) changes after it."""
    week = 8 * 86400.0
    stops = [(t, False) for t in instants(stop, tz, start, end_s, before_s=week)]
    starts = [(t, True) for t in instants(start_expr, tz, start, end_s, before_s=week)]
    events = sorted(stops + starts)
    past = [e for e in events if e[0] <= 0]
    up = past[-1][1] if past else True
    return up, [e for e in events if e[0] > 0]
