"""How deep a JSON text nests, without walking its values (used by ``modules/user_files.py``
to refuse plan and config files nested past its limit)."""

from __future__ import annotations

import re

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def json_too_deep(text: str, limit: int) -> bool:
    """Valid JSON ``text`` nests deeper than ``limit``: its brackets (strings removed) do not
    vanish in ``limit`` rounds of removing the innermost pairs (regex passes, not a walk of
    the values: a million empty lists cost no more than one)."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(limit):
        if not brackets:
            return False
        brackets = _INNERMOST.sub("", brackets)
    return bool(brackets)
