"""How a message shows a value it was given: bounded (a value may be huge or shared by
aliases) and, for a string from a user file, only an excerpt (:data:`EXCERPT` characters): a
stack file may be a symlink to a token, and a message goes to CI logs, PR comments and
code-scanning alerts. Used by :class:`modules.config_errors.ConfigError`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any


class _Shown(str):
    """A given value that is already phrased for the message (e.g. ``unknown key 'x'``)."""


Shown = _Shown


class Verbatim(str):
    """A given value that is not the content of a user file (a stack name from a file name or
    the command line, a path given as an argument): quoted whole (up to 100 characters),
    never cut to an :data:`EXCERPT`."""


_MISSING = object()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: characters of a string from a user file a message quotes: a longer one shows its first
#: characters and "..." (never more, whatever the file is: a stack file may be a symlink to a
#: token), with the kind of value it is. Values gpufleet phrases (:class:`Shown`) and values
#: that are not file content (:class:`Verbatim`) are shown as they are.
EXCERPT = 20


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """``text`` cut to at most ``limit`` characters, the last three "..." when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: Any, limit: int) -> str:
    """``text`` cut to ``limit`` characters, control characters (newlines) escaped."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _plural_of(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


def _kind(value: Any) -> str:
    """What a value is, for a message that shows only part of it."""
    if isinstance(value, str):
        return f"a string of {_plural_of(len(value), 'character')}"
    if isinstance(value, Mapping):
        return f"a mapping of {_plural_of(len(value), 'key')}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return f"a list of {_plural_of(len(value), 'item')}"
    if isinstance(value, int) and not isinstance(value, bool):
        return "an integer"
    return f"a {type(value).__name__}"


def _show(value: Any, limit: int = 100) -> str:
    """A value as the message shows it: JSON-like, at most ``limit`` characters, computed
    without serialising more of the value than it shows (a value may be huge or shared).
    A string from the file (at the top or inside a list or mapping) shows at most its first
    :data:`EXCERPT` characters; when anything was cut, the kind of value follows."""
    if isinstance(value, _Shown):
        return _one_line(value, 300)
    if value is _MISSING:
        return "nothing (the key is missing)"
    if isinstance(value, Verbatim):
        text = repr(str(value)[: limit + 1])
        return _one_line(text if len(text) <= limit else text[: limit - 3] + "...", limit)
    cut = [False]
    if isinstance(value, str):
        text = repr(_cut(value, cut))
    elif isinstance(value, int) and not isinstance(value, bool):
        text = _scalar(value, limit, cut)
    else:
        parts: list[str] = []
        _emit(value, parts, [limit + 1], cut)
        text = "".join(parts)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    text = _one_line(text, limit)
    return f"{text} ({_kind(value)})" if cut[0] else text


def _cut(text: str, cut: list[bool]) -> str:
    if len(text) > EXCERPT:
        cut[0] = True
        return excerpt(text)
    return text


def _emit(value: Any, out: list[str], budget: list[int], cut: list[bool]) -> None:
    """Append JSON-like text of ``value`` to ``out`` until ``budget[0]`` characters are used
    (``cut[0]`` set when a string was cut to its excerpt)."""

    def put(text: str) -> bool:
        out.append(text)
        budget[0] -= len(text)
        return budget[0] > 0

    if budget[0] <= 0:
        return
    if isinstance(value, Mapping):
        if not put("{"):
            return
        for i, (k, v) in enumerate(value.items()):
            key = _cut(k, cut) if isinstance(k, str) else _scalar(k, budget[0], cut)
            if not put((", " if i else "") + json.dumps(key) + ": "):
                return
            _emit(v, out, budget, cut)
            if budget[0] <= 0:
                return
        put("}")
    elif isinstance(value, (list, tuple, set, frozenset)):
        if not put("["):
            return
        for i, v in enumerate(value):
            if i and not put(", "):
                return
            _emit(v, out, budget, cut)
            if budget[0] <= 0:
                return
        put("]")
    else:
        put(_scalar(value, budget[0], cut))


def _scalar(value: Any, limit: int, cut: list[bool] | None = None) -> str:
    if isinstance(value, str):
        return json.dumps(_cut(value, cut) if cut is not None else value[:limit])
    if value is None or isinstance(value, (bool, float)):
        return json.dumps(value)
    if isinstance(value, int):
        try:
            text = str(value)
        except ValueError:  # more digits than Python converts
            return "(an integer of thousands of digits)"
        return _cut(text, cut) if cut is not None else text
    return str(value)[:limit]
