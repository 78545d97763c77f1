"""Reading a trace file with every input bounded, and the one error it raises.

:class:`TraceError` is one line naming the file, the line and the column, and shows at most an
excerpt of what the file gave (:func:`shown`: 20 characters, "..." included, and the kind of
value when cut, as :mod:`modules.shown_values` shows a stack file's values: a trace may be a
symlink to a token file). :func:`scan` counts and measures a file
before it is read (``limits.MAX_JOBS``, ``limits.MAX_LINE_BYTES``); :func:`_csv_rows` and
:func:`_jsonl_rows` yield its rows with the CSV field limit, JSON nesting and types checked.
The native columns (``COLUMNS``) are described in :mod:`.trace`.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..shown_values import EXCERPT, Verbatim, _kind, excerpt
from . import limits
from .limits import MAX_TRACE_S

COLUMNS = ("submit", "run", "team", "gpus", "pods", "priority", "kind", "cpu", "memory_gib", "gpu_model",
           "gpu_memory_gib", "pool", "checkpoint_minutes", "name")
REQUIRED = ("submit", "run", "team", "gpus")
#: JSON Lines: the columns that take text (the others take numbers, ``priority`` either)
TEXT_COLUMNS = ("team", "kind", "gpu_model", "pool", "name")
TEN_YEARS = f"{MAX_TRACE_S:,.0f} ({limits.days(MAX_TRACE_S)})"


class Said(str):
    """A ``given`` that describes the value (shown as it is, not quoted)."""


def shown(value: Any, limit: int = 80) -> Said:
    """A value from a trace as a message shows it: quoted, at most an excerpt of
    :data:`~modules.shown_values.EXCERPT` characters (JSON for what JSON gave), with the kind
    of value when cut. A :class:`Said` as it is; a
    :class:`~modules.shown_values.Verbatim` (an option's value from the command line, a
    library's message) quoted whole, up to 100 characters."""
    def enc(v: Any, depth: int) -> str:
        if isinstance(v, dict):
            if depth > 2:
                return "{...}"
            items = [f"{json.dumps(str(k))[:40]}: {enc(x, depth + 1)}" for k, x in itertools.islice(v.items(), 4)]
            return "{" + ", ".join(items) + (", ..." if len(v) > 4 else "") + "}"
        if isinstance(v, list):
            if depth > 2:
                return "[...]"
            return "[" + ", ".join(enc(x, depth + 1) for x in v[:4]) + (", ..." if len(v) > 4 else "") + "]"
        if isinstance(v, str):
            return json.dumps(v[:limit])
        return json.dumps(v)

    if isinstance(value, Said):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 30:
        digits = len(str(abs(value))) if value.bit_length() < 14000 else int(value.bit_length() * math.log10(2)) + 1
        return Said(f"an integer of {'about ' if value.bit_length() >= 14000 else ''}{digits:,} digits")
    if isinstance(value, Verbatim):
        return Said(repr(excerpt(str(value), 100)))
    text = value if isinstance(value, str) else enc(value, 0)
    if len(text) <= EXCERPT:
        return Said(repr(text))
    return Said(f"{excerpt(text)!r} ({_kind(value)})")


def key_shown(key: Any) -> str:
    """A key (a column name) from a trace in a message's place (``line 3: KEY``): an excerpt."""
    return shown(str(key))


class TraceError(ValueError):
    """A trace that cannot be read. ``str()`` is the one-line message for users."""

    def __init__(self, source: str, where: str, given: Any, expected: str):
        self.source, self.where, self.given, self.expected = source, where, given, expected
        super().__init__(str(self))

    def __str__(self) -> str:
        given = shown(self.given)
        where = f"{self.where}: " if self.where else ""
        return f"{self.source}: {where}got {given}; expected {self.expected}"


# ------------------------------------------------------------------ reading a file, bounded

def scan(path: Path, source: str) -> int:
    """The lines of a trace file, counted before it is read (a line holds at most one job):
    a :class:`TraceError` for a line longer than :data:`limits.MAX_LINE_BYTES` or a trace
    of more jobs than :data:`limits.MAX_JOBS`, with the memory it would need."""
    limit, chunk_size = limits.MAX_LINE_BYTES, limits.MAX_LINE_BYTES
    lines = run = read = 0
    total = path.stat().st_size
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            if not chunk:
                break
            read += len(chunk)
            first = chunk.find(b"\n")
            if first < 0:
                run += len(chunk)
            else:
                run += first
            if run > limit:
                raise TraceError(source, f"line {lines + 1}", Said(f"a line of more than {limit:,} bytes"),
                                 f"one job per line, lines of at most {limits.size(limit)}")
            if first < 0:
                continue
            lines += chunk.count(b"\n")
            run = len(chunk) - chunk.rindex(b"\n") - 1  # lines inside a chunk are shorter than the limit
            if lines > limits.MAX_JOBS + 1:
                break
    if run:
        lines += 1
    if lines > limits.MAX_JOBS + 1:
        about = "" if read >= total else "about "
        est = lines if read >= total else int(lines * total / read)
        raise TraceError(source, "(file)", Said(f"{about}{est:,} lines (a job each: a simulation would need "
                                                f"about {limits.size(limits.memory_needed(est))} of memory)"),
                         f"a trace of at most {limits.MAX_JOBS:,} jobs "
                         f"(about {limits.size(limits.memory_needed(limits.MAX_JOBS))})")
    return lines


def _long_column(path: Path, line_num: int, header: Sequence[str] | None, limit: int) -> str | None:
    """Which column of physical line ``line_num`` holds a value over the csv field limit."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            line = next(itertools.islice(fh, line_num - 1, None), "")
    except (OSError, UnicodeError):
        return None
    for k, cell in enumerate(line.split(",")):
        if len(cell) > limit:
            return header[k] if header and k < len(header) else f"column {k + 1}"
    return None


def csv_error(path: Path, source: str, line_num: int, exc: csv.Error, header: Sequence[str] | None,
              expected: str = "comma-separated values") -> TraceError:
    """A csv module error as one line naming the line (and, past the field limit, the column)."""
    text = str(exc)
    if "field larger than field limit" in text:
        limit = csv.field_size_limit()
        col = _long_column(path, line_num, header, limit)
        if header is None:
            expected = f"a header row of column names of at most {limit:,} characters" + (f" ({col} has more)" if col else "")
        else:
            expected = f"values of at most {limit:,} characters" + (f" (the {col} column has more)" if col else "")
    return TraceError(source, f"line {line_num}", Verbatim(text), expected)  # the csv module's message


def _csv_rows(path: Path, source: str) -> Iterator[Any]:
    """Yields the header first, then (line number, cells) of every non-empty row."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise csv_error(path, source, 1, exc, None, "a header row of comma-separated column names") from None
        if header is None:
            raise TraceError(source, "line 1", "", f"a header row with the columns {', '.join(REQUIRED)}")
        header = [h.strip() for h in header]
        unknown = [h for h in header if h not in COLUMNS]
        if unknown:
            raise TraceError(source, "line 1", unknown[0], f"a column of the native format ({', '.join(COLUMNS)})")
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise TraceError(source, "line 1", ",".join(header), f"the required columns {', '.join(REQUIRED)}")
        width = len(header)
        yield header
        try:
            for cells in reader:
                if not cells:
                    continue
                if len(cells) != width:
                    raise TraceError(source, f"line {reader.line_num}", ",".join(cells),
                                     f"{width} comma-separated values")
                yield reader.line_num, cells
        except csv.Error as exc:
            raise csv_error(path, source, reader.line_num, exc, header) from None


_JSON_TEXT = {"team": "a team name (a JSON string)", "kind": "batch or service (a JSON string)",
              "gpu_model": "a catalog GPU model (a JSON string)", "pool": "a GPU pool's name (a JSON string)",
              "name": "a job name (a JSON string)"}


#: what a numeric column allows, for the errors that cannot say more
_BOUNDS = {"submit": f"seconds from the trace start (a number >= 0), at most {TEN_YEARS}",
           "run": f"seconds of work (a number > 0), at most {TEN_YEARS}",
           "gpus": f"GPUs per pod: a whole number, or a fraction below 1, at most {limits.MAX_GPUS:,}",
           "pods": f"a whole number of pods >= 1, at most {limits.MAX_PODS:,}",
           "priority": f"an integer priority from {limits.MIN_PRIORITY:,} to {limits.MAX_PRIORITY:,}",
           "cpu": f"cores per pod (a number > 0), at most {limits.MAX_CPU:,}",
           "memory_gib": f"GiB per pod (a number > 0), at most {limits.MAX_MEMORY_GIB:,}",
           "gpu_memory_gib": f"GiB (a number > 0), at most {limits.MAX_GPU_MEMORY_GIB:,}",
           "checkpoint_minutes": f"minutes between checkpoints (0: none), at most {MAX_TRACE_S / 60:,.0f} (10 years)"}


def _json_key(text: str, pattern: str) -> str | None:
    import re

    m = re.search(r'"([^"\\]{1,40})"\s*:\s*' + pattern, text)
    return m.group(1) if m and m.group(1) in COLUMNS else None


def _jsonl_rows(path: Path, source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig") as fh:
        for n, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except RecursionError:
                key = _json_key(text, r"[\[{]")
                raise TraceError(source, f"line {n}" + (f": {key}" if key else ""),
                                 Said("a JSON value nested too deeply to read"),
                                 "one JSON object per line whose values are strings or numbers") from None
            except ValueError as exc:  # JSONDecodeError, or an integer past Python's 4,300 digits
                if "integer string conversion" in str(exc):
                    key = _json_key(text, r"-?\d{4000}")
                    raise TraceError(source, f"line {n}" + (f": {key}" if key else ""),
                                     Said("an integer of more than 4,300 digits"),
                                     _BOUNDS.get(key, "numbers of at most 4,300 digits (Python's limit)")) from None
                raise TraceError(source, f"line {n}", text.strip(), "one JSON object per line") from None
            if not isinstance(obj, dict):
                raise TraceError(source, f"line {n}", obj, "a JSON object")
            for key, value in obj.items():
                if key not in COLUMNS:
                    raise TraceError(source, f"line {n}: {key_shown(key)}", value,
                                     f"a key of the native format ({', '.join(COLUMNS)})")
                if value is None:
                    continue
                if key in _JSON_TEXT:
                    if not isinstance(value, str):
                        raise TraceError(source, f"line {n}: {key}", value, _JSON_TEXT[key])
                elif isinstance(value, (bool, dict, list)) or (key == "priority" and isinstance(value, float)):
                    expected = ("a priority name (a JSON string) or an integer" if key == "priority"
                                else "a number (a JSON number, or a string holding one)")
                    raise TraceError(source, f"line {n}: {key}", value, expected)
            yield f"line {n}", obj
