"""What ``gpufleet simulate`` accepts: the bounds of every number it reads, and of the work a
trace can make it do.

Every input the simulator reads is bounded, so no trace or option can crash it, make it run
out of memory or keep it running for ever:

- **times** (``submit``, ``run``, ``submit + run``, Alibaba's ``creation_time`` …): at most
  :data:`MAX_TRACE_DAYS` days (10 years) from the trace start, after ``--time-scale``; a
  simulation runs at most :data:`MAX_HORIZON_DAYS` days (the trace and the 30 days of slack
  after it), and ``--start`` must leave room for that before the end of the calendar
  (year 9999, what :class:`datetime.datetime` holds);
- **amounts** per pod: GPUs, pods per job, cpu, memory, GPU memory (:data:`MAX_GPUS` …);
- **options**: ``--spot-rate`` (at most one interruption per node-hour), ``--ready-minutes``
  (a day), ``--time-scale``, ``--checkpoint-minutes``, ``--horizon-days``, ``--seed``;
- **size**: a trace of at most :data:`MAX_JOBS` jobs, counted before it is read (a line is
  at most one job), with the memory it would need (:func:`memory_needed`); a line of at most
  :data:`MAX_LINE_BYTES`;
- **work**: the event loop stops with one line after :func:`max_events` events (a backstop:
  real traces make about two events a job; spot interruptions at the highest rate, or
  preemptions that never settle, are what it stops).

Parsers here never raise anything but :class:`Refused` (a :class:`ValueError`), whatever
the text: a number beyond the bounds, ``nan``, ``inf``, thousands of digits (past Python's
4,300-digit int conversion limit) or a value of the wrong JSON type.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

DAY_S = 86400.0
#: the longest trace: every job submitted and finished within 10 years of the trace start
MAX_TRACE_DAYS = 3650
MAX_TRACE_S = MAX_TRACE_DAYS * DAY_S
#: the simulator's slack after the trace's last job (the engine's default horizon)
SLACK_DAYS = 30
#: the longest simulation (``--horizon-days``, or the trace and its slack)
MAX_HORIZON_DAYS = MAX_TRACE_DAYS + SLACK_DAYS
#: the schedule looks back this far before the trace start (``calendar.transitions``)
LOOKBACK_DAYS = 8
#: ``--start``: a local time whose simulation fits the calendar (datetime's years 1..9999)
FIRST_START = datetime(1900, 1, 1)
LAST_START = datetime(9999, 12, 31) - timedelta(days=MAX_HORIZON_DAYS + 2)

#: a trace of at most this many jobs (a million simulate in about 40 s and 730 MiB)
MAX_JOBS = 2_000_000
#: memory a simulation needs: the program, plus per job (README "Speed": 1,000,000 jobs,
#: 734 MiB peak; 100,000 jobs, 237 MiB)
BASE_BYTES = 180 << 20
BYTES_PER_JOB = 580
#: a line of a trace (a native row is a few hundred bytes; Python's csv module refuses a
#: field above 131,072 characters)
MAX_LINE_BYTES = 1 << 20

#: per pod: GPUs (EC2's largest GPU instances have 8 or 16), pods per job (Kubernetes'
#: largest supported cluster: 150,000 pods), cores, GiB of memory, GiB of GPU memory
MAX_GPUS = 1024
MAX_PODS = 150_000
MAX_CPU = 100_000
MAX_MEMORY_GIB = 1_000_000
MAX_GPU_MEMORY_GIB = 10_000
#: a pod's priority is an int32 (k8s.io/api core/v1 PodSpec.priority)
MIN_PRIORITY, MAX_PRIORITY = -(2 ** 31), 2 ** 31 - 1

#: options
MAX_SPOT_RATE = 1.0  # interruptions per node-hour: a node lasting an hour on average
MAX_READY_MINUTES = 1440.0  # a day from scale-up to a ready pod
MAX_TIME_SCALE = 1e6
MAX_SEED_DIGITS = 19

#: the event loop's budget: a backstop (real traces make about 2 events a job)
EVENTS_BASE = 2_000_000
EVENTS_PER_JOB = 20


class Refused(ValueError):
    """A value outside what is allowed. ``range`` is True when it was a number, only too
    large or too small (the message then says the bound)."""

    def __init__(self, given: Any, range_: bool = False):
        self.given, self.range = given, range_
        super().__init__("a number beyond the bounds" if range_ else "not a value allowed here")


def to_float(value: Any) -> float:
    """A number from a CSV cell, a JSON value or an option: a float (``inf`` for numbers too
    large for one), or :class:`Refused` (not a number, ``nan``, a bool, a container)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Refused(value)
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    try:
        x = float(value)
    except (ValueError, OverflowError):
        raise Refused(value) from None
    if math.isnan(x):
        raise Refused(value)
    return x


def number(value: Any, *, low: float = 0.0, high: float, strict: bool = False) -> float:
    """A number in [low, high] (low excluded when ``strict``), else :class:`Refused`."""
    x = to_float(value)
    if x < low or (strict and x <= low) or x > high:
        raise Refused(value, True)
    return x


def whole(value: Any, *, low: int, high: int) -> int:
    """A whole number written as one (``3``, not ``3.0``) in [low, high], else :class:`Refused`."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Refused(value)
    if isinstance(value, int):
        n = value
    else:
        text = value.strip()
        digits = text[1:] if text[:1] in ("+", "-") else text
        if not digits.isdigit() or not digits.isascii():
            raise Refused(value)
        if len(digits.lstrip("0")) > len(str(max(abs(low), abs(high)))):
            raise Refused(value, True)  # before int(): no 4,300-digit conversion
        n = int(text)
    if not low <= n <= high:
        raise Refused(value, True)
    return n


def start(text: str) -> datetime:
    """``--start``: a naive local date and time from :data:`FIRST_START` to :data:`LAST_START`."""
    if not isinstance(text, str) or len(text) > 64:
        raise Refused(text)
    try:
        at = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        raise Refused(text) from None
    at = at.replace(tzinfo=None)
    if not FIRST_START <= at <= LAST_START:
        raise Refused(text, True)
    return at


def days(seconds: float) -> str:
    return f"{seconds / DAY_S:,.0f} days" if seconds < 2 * 365 * DAY_S else f"{seconds / DAY_S / 365:,.0f} years"


def memory_needed(jobs: int) -> int:
    """Bytes a simulation of ``jobs`` jobs needs, about."""
    return BASE_BYTES + BYTES_PER_JOB * jobs


def size(n: float) -> str:
    """1.3 GiB, 540 MiB, or beyond."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):,.1f} {unit}"
    return f"{n:,.0f} bytes"


def max_events(jobs: int) -> int:
    return EVENTS_BASE + EVENTS_PER_JOB * jobs


class TooLarge(ValueError):
    """A trace or a simulation beyond the bounds: ``str()`` is the one line for users."""
