"""What a YAML parser's problem says, without what it quotes from the file (issue 18, 3: no
file content in an error). Shared by the stack-file reader (``modules/user_files.py``, PyYAML)
and the round-trip editor (``gpufleet/replicate_yaml.py``, ruamel)."""

from __future__ import annotations

import re

from .config_errors import _one_line

#: what PyYAML quotes from the text in a problem: ``found character '%r'``, ``but found '%r'``,
#: ``unknown escape character '%r'``, ``undefined tag handle '%r'`` (libyaml quotes nothing)
_QUOTED = re.compile(r"\b(found|got|character|handle)\s+(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
#: ruamel's duplicate keys quote both values: ``with value "2" (original value: "1")``
_VALUES = re.compile(r"\s*with value (?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
                     r"(?:\s*\(original value: (?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\))?")


def kind_of_problem(problem: str) -> str:
    """A parser's problem without what it quotes from the file: ``found character '\\t' that
    cannot start any token`` is ``found character that cannot start any token``."""
    def drop(m: re.Match[str]) -> str:
        return f"{m.group(1)} something else" if m.group(1) in ("found", "got") else m.group(1)

    return _one_line(_QUOTED.sub(drop, _VALUES.sub("", str(problem))), 200)
