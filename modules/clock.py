"""Today, read in one place.

Every reading of the date in gpufleet (the EKS calendar in config rules and the policy pack, the
cost model's support charge, the headers ``init`` and ``replicate`` write, spot-price history
windows) goes through :func:`today` or :func:`now`, so that a test, a CI job or a user can say
which day it is:

- ``GPUFLEET_TODAY=2027-06-01`` in the environment (an ISO date; reaches child processes too),
- :func:`frozen` (a context manager) or :func:`set_today` in-process.

The suite pins the clock (``tests/conftest.py``) and moves it on purpose where a rule depends on
the date; ``tests/test_clock.py`` scans the source for any reading of the date behind this
module's back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timezone

#: the environment variable that sets today (an ISO date, ``YYYY-MM-DD``)
ENV = "GPUFLEET_TODAY"

_override: date | None = None


class ClockError(ValueError):
    """``GPUFLEET_TODAY`` is not a date: a usage error (exit 2), said in one line."""


def _from_env() -> date | None:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        shown = raw[:20] + ("..." if len(raw) > 20 else "")
        raise ClockError(f"{ENV}={shown!r} is not a date: give an ISO date such as 2027-06-01, "
                         f"or unset it to use the machine's date") from None


def today() -> date:
    """Today's date (UTC), or the day the clock was set to."""
    if _override is not None:
        return _override
    return _from_env() or datetime.now(timezone.utc).date()


def now() -> datetime:
    """The current time (UTC, aware). With the clock set, noon UTC of that day: the same day
    everywhere on Earth but the date line's far side, and deterministic."""
    if _override is not None or os.environ.get(ENV, "").strip():
        return datetime.combine(today(), time(12, 0), tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


def set_today(day: date | None) -> None:
    """Set today for this process (None: back to the environment and the machine's date)."""
    global _override
    if day is not None and not isinstance(day, date):
        raise TypeError(f"set_today takes a date, not {type(day).__name__}")
    _override = day.date() if isinstance(day, datetime) else day


def is_set() -> bool:
    """Is the clock set (in-process or through the environment)?"""
    return _override is not None or bool(os.environ.get(ENV, "").strip())


@contextmanager
def frozen(day: date) -> Iterator[date]:
    """Run a block with today set to ``day`` (restores what was set before)."""
    before = _override
    set_today(day)
    try:
        yield day
    finally:
        set_today(before)
