"""Cron expressions as EC2 Auto Scaling's scheduled actions run them (issue #11).

The scale-down schedule's ``stop`` and ``start`` become ``aws.autoscaling.Schedule.recurrence``,
EC2 Auto Scaling's ``Recurrence``: "the recurring schedule for the action, in Unix cron
syntax format. This format consists of five fields separated by white spaces: [Minute]
[Hour] [Day_of_Month] [Month_of_Year] [Day_of_Week]", 1-255 characters
(EC2 Auto Scaling API reference, PutScheduledUpdateGroupAction / ScheduledUpdateGroupActionRequest,
docs.aws.amazon.com/autoscaling/ec2/APIReference/API_ScheduledUpdateGroupActionRequest.html;
the Application Auto Scaling guide adds that EC2 Auto Scaling uses "traditional cron syntax",
not the 6-field ``cron(...)`` of EventBridge: no ``?``, ``L``, ``W``, ``#`` or year).

What is accepted here is the part of Unix cron (crontab(5)) every implementation agrees on:
``*``, lists ``a,b``, ranges ``a-b`` (low ≤ high: no wrap-around), steps ``*/n`` and
``a-b/n``; month names JAN-DEC and weekday names SUN-SAT (any case) in their own field only.
Day of week is 0-6 with 0 = Sunday: crontab(5) also reads 7 as Sunday, but AWS documents
only "Unix cron", so 7 is refused (write 0 or SUN) rather than risk a schedule EC2 Auto
Scaling rejects at deploy. A single value with a step (``5/15``) is refused too: its meaning
differs between implementations.

:func:`parse` is pure: it returns the set of values each field matches, or raises
:class:`CronError` naming the field and what it takes.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LENGTH = 255  # EC2 Auto Scaling: Recurrence length 1-255


@dataclass(frozen=True)
class CronField:
    position: int
    name: str
    lo: int
    hi: int
    #: what the field takes, in words ("hours 0-23")
    takes: str
    #: names for lo, lo+1, ... (month and day-of-week only)
    names: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"a cron expression whose {self.name} field (field {self.position} of 5) takes {self.takes}"


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELDS = (
    CronField(1, "minute", 0, 59, "minutes 0-59"),
    CronField(2, "hour", 0, 23, "hours 0-23"),
    CronField(3, "day-of-month", 1, 31, "days 1-31"),
    CronField(4, "month", 1, 12, "months 1-12 or JAN-DEC", MONTHS),
    CronField(5, "day-of-week", 0, 6, "weekdays 0-6 or SUN-SAT (0 = Sunday)", WEEKDAYS),
)
SYNTAX = "*, lists (a,b), ranges (a-b) and steps (*/n, a-b/n)"
FORMAT = "a 5-field cron expression 'minute hour day-of-month month day-of-week', e.g. '0 20 * * 1-5'"


class CronError(ValueError):
    """A cron expression EC2 Auto Scaling would not run as meant. ``str()`` is one line."""

    def __init__(self, problem: str, field: CronField | None = None):
        self.field = field
        self.problem = problem
        where = f"{field.describe()}, with {SYNTAX}" if field else FORMAT
        super().__init__(f"{where}: {problem}")


def parse(expr: str) -> tuple[frozenset[int], ...]:
    """The values each of the five fields matches (minute, hour, day of month, month, day of week)."""
    if not isinstance(expr, str):
        raise CronError(f"got a {type(expr).__name__}, not a string")
    if len(expr) > MAX_LENGTH:
        raise CronError(f"it has {len(expr)} characters (EC2 Auto Scaling takes at most {MAX_LENGTH})")
    parts = expr.split()
    if len(parts) != len(FIELDS):
        raise CronError(f"it has {len(parts)} field{'s' if len(parts) != 1 else ''}")
    return tuple(_field(text, f) for text, f in zip(parts, FIELDS))


def _field(text: str, f: CronField) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _item(item, f, text)
    return frozenset(values)


def _item(item: str, f: CronField, text: str) -> set[int]:
    if not item:
        raise CronError(f"'{text}' has an empty list item", f)
    body, slash, step_text = item.partition("/")
    if body == "*":
        lo, hi = f.lo, f.hi
    elif "-" in body:
        first, _, last = body.partition("-")
        lo, hi = _value(first, f, item), _value(last, f, item)
        if lo > hi:
            raise CronError(f"'{item}' is a reversed range (a range runs from low to high; "
                            "cron does not wrap around)", f)
    else:
        if slash:
            raise CronError(f"'{item}' puts a step after a single value (write */n or a range a-b/n)", f)
        return {_value(body, f, item)}
    if not slash:
        return set(range(lo, hi + 1))
    span = f.hi - f.lo
    if not step_text.isdigit() or not 1 <= int(step_text) <= span:
        raise CronError(f"'{item}' has step '{step_text}' (a step is an integer from 1 to {span})", f)
    return set(range(lo, hi + 1, int(step_text)))


def _value(token: str, f: CronField, item: str) -> int:
    if not token:
        raise CronError(f"'{item}' has a range without a start or an end", f)
    if token.isascii() and token.isdigit():
        n = int(token)
        if f.lo <= n <= f.hi:
            return n
        hint = " (0 is Sunday; 7 is not accepted)" if f.name == "day-of-week" and n == 7 else ""
        raise CronError(f"{_quote(token, item)} is out of range{hint}", f)
    upper = token.upper()
    if upper in f.names:
        return f.lo + f.names.index(upper)
    for other in FIELDS:
        if upper in other.names:
            raise CronError(f"{_quote(token, item)} is a {other.name} name", f)
    raise CronError(f"{_quote(token, item)} is not a value", f)


def _quote(token: str, item: str) -> str:
    return f"'{token}'" if token == item else f"'{token}' in '{item}'"
