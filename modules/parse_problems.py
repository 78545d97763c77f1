"""What a YAML parser's problem says, without what it quotes from the file (issue 18, 3: no
file content in an error). Shared by the stack-file reader (``modules/user_files.py``, PyYAML)
and the round-trip editor (``gpufleet/replicate_yaml.py``, ruamel): a parser's problem
(:func:`kind_of_problem`), and the names a message takes from the file: anchors and aliases
(:func:`name_text`), tags (:func:`tag_text`) and key paths (:func:`path_text`), each at most
an excerpt (:data:`~modules.shown_values.EXCERPT` characters, "..." included) with the kind
of name and its length when cut: a stack file may be a symlink to a token file."""

from __future__ import annotations

import re
from typing import Any

from .config_errors import _one_line
from .shown_values import EXCERPT, excerpt

#: what PyYAML quotes from the text in a problem: ``found character '%r'``, ``but found '%r'``,
#: ``unknown escape character '%r'``, ``undefined tag handle '%r'`` (libyaml quotes nothing)
_QUOTED = re.compile(r"\b(found|got|character|handle)\s+(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
#: ruamel's duplicate keys quote both values: ``with value "2" (original value: "1")``
_VALUES = re.compile(r"\s*with value (?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
                     r"(?:\s*\(original value: (?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\))?")
#: anything else a problem quotes (an alias, an anchor, a tag, a key: ``found undefined alias
#: 'x'``, ``found duplicate key "x"``, ``could not determine a constructor for the tag 'x'``)
_ANY_QUOTE = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
#: the tags PyYAML's constructors name (``!!python/object/apply:``): shown whole, what follows cut
_KNOWN_TAG = re.compile(r"!!python/(?:none|bool|str|unicode|bytes|int|long|float|complex|list|tuple|dict|"
                        r"name:|module:|object:|object/new:|object/apply:)|!!|!")
_YAML_TAG = "tag:yaml.org,2002:"


def kind_of_problem(problem: str) -> str:
    """A parser's problem without what it quotes from the file: ``found character '\\t' that
    cannot start any token`` is ``found character that cannot start any token``; a name it
    quotes (``found undefined alias '...'``) is cut to its excerpt."""
    def drop(m: re.Match[str]) -> str:
        return f"{m.group(1)} something else" if m.group(1) in ("found", "got") else m.group(1)

    def cut(m: re.Match[str]) -> str:
        quote = m.group()[0]
        text = m.group(1) if m.group(1) is not None else m.group(2)
        return f"{quote}{excerpt(text)}{quote}" + (f" ({len(text):,} characters)" if len(text) > EXCERPT else "")

    return _one_line(_ANY_QUOTE.sub(cut, _QUOTED.sub(drop, _VALUES.sub("", str(problem)))), 200)


def _note(cut: int | None, noun: str, column: int | None) -> str:
    """`` (a name of 40 characters; column 9)``: the length of what was cut, the column (1-based)."""
    parts = [f"{noun} of {cut:,} characters"] if cut is not None else []
    parts += [f"column {column}"] if column is not None else []
    return f" ({'; '.join(parts)})" if parts else ""


def name_text(name: str) -> str:
    """An anchor's or alias's name as a message shows it: at most an excerpt."""
    return _one_line(excerpt(str(name)), 3 * EXCERPT)


def name_note(name: str, column: int | None = None) -> str:
    """What follows a message that shows :func:`name_text`: the name's length when it was cut, the column."""
    name = str(name)
    return _note(len(name) if len(name) > EXCERPT else None, "a name", column)


def _split_tag(tag: str) -> tuple[str, str]:
    """(a known prefix shown whole, the rest): ``!!python/name:`` and ``os.system``."""
    tag = "!!" + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag
    known = _KNOWN_TAG.match(tag)
    return (known.group(), tag[known.end():]) if known else ("", tag)


def tag_text(tag: str) -> str:
    """A YAML tag as a message shows it: ``!!binary``, ``!!python/object/apply:os.system``,
    ``!mine``; of a tag from the file, the part after a known prefix at most an excerpt."""
    prefix, rest = _split_tag(tag)
    return _one_line(prefix + excerpt(rest), 3 * EXCERPT)


def tag_note(tag: str, column: int | None = None) -> str:
    """What follows :func:`tag_text`: the tag's length when it was cut, the column."""
    prefix, rest = _split_tag(tag)
    return _note(len(prefix) + len(rest) if len(rest) > EXCERPT else None, "a tag", column)


def _known_key(key: str) -> bool:
    """A key a stack file's schema names (gpufleet's words, not the file's content)."""
    from .config_keys import _leaf_paths, _top_keys

    return key in _top_keys() or key in _leaf_paths()


def path_text(path: list[Any], key_root: str | None = None) -> str:
    """A key path from the file (``gpufleet:pools.gpu[0].max``), ``key_root`` (``config``)
    left out: a key the schema names whole, any other at most an excerpt."""
    if key_root is not None and len(path) > 1 and path[0] == key_root:
        path = path[1:]
    text = ""
    for el in path:
        if isinstance(el, int) and not isinstance(el, bool):
            text += f"[{el}]"
        else:
            key = str(el) if len(str(el)) <= EXCERPT or _known_key(str(el)) else excerpt(str(el))
            text += f".{key}" if text else key
    return _one_line(text, 200)
