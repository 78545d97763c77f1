"""Escaping what came from users (stack, pool, team, job and resource names, values, messages
that quote them) in the Markdown and SARIF gpufleet prints: ``check --format markdown|sarif``,
``diff --format markdown`` (the replacement guard's PR comment), ``cost --format markdown``.

A PR comment is rendered as GitHub Flavored Markdown and then post-processed by GitHub
(@mentions, issue references, bare URLs): a name or a value must read as the text it is,
never become markup. Three helpers, one per place a value goes:

- :func:`md` – inline text and table cells: no line break (a newline or any control
  character becomes a space), HTML's ``& < >`` as entities (no tag, no autolink
  ``<http://...>``), Markdown's punctuation backslash-escaped (emphasis ``* _ ~``, links and
  images ``[ ]``, code spans, table cells ``|``, math ``$``, a backslash itself), a list
  marker at the start escaped, and a zero-width joiner (U+200D, invisible) after ``@``
  (no @mention, no e-mail autolink), ``#`` (no heading, no issue reference) and inside
  ``://`` and ``www.`` (no bare-URL autolink). The rendered text is the input's, control
  characters aside (``tests/test_escape.py`` checks it).
- :func:`code` – a code span (inside it nothing is markup): the fence is longer than any
  run of backticks in the value, padded when the value starts or ends with one; in a table
  cell (``cell=True``) ``|`` is written ``\\|``, which GFM reads as a pipe inside the span.
- :func:`sarif_text` – a SARIF 2.1.0 plain-text message: ``[`` and ``]`` backslash-escaped
  (section 3.11.6, embedded links), ``{`` and ``}`` doubled (section 3.11.5, placeholders),
  no line break, and the same zero-width joiner after ``@`` and ``<`` and inside ``://``
  (a consumer that renders the text as Markdown or HTML still shows it as text).
"""

from __future__ import annotations

import re
from typing import Any

#: invisible, and splits what GitHub would link (``@org``, ``#12``, ``http://``)
ZWJ = "\u200d"
#: line breaks and other control characters (C0, DEL, C1, the Unicode line and paragraph separators)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: backslash-escaped in :func:`md` (ASCII punctuation CommonMark lets a backslash escape)
_MD_ESCAPED = frozenset("\\`*_[]|~$")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD_JOINED = frozenset("@#")
_URL = re.compile(r"(?i)(:)(?=//)|(www)(?=\.)")
_LIST_START = re.compile(r"^([-+=]|\d+(?=[.)]))")


def _flat(text: Any) -> str:
    return _CONTROL.sub(" ", "" if text is None else str(text))


def md(text: Any) -> str:
    """``text`` as inline Markdown (a paragraph's text or a table cell) that renders as itself."""
    flat = _URL.sub(lambda m: (m.group(1) or m.group(2)) + ZWJ, _flat(text))
    out = []
    for ch in flat:
        if ch in _MD_ENTITIES:
            out.append(_MD_ENTITIES[ch])
        elif ch in _MD_ESCAPED:
            out.append("\\" + ch)
        elif ch in _MD_JOINED:
            out.append(ch + ZWJ)
        else:
            out.append(ch)
    escaped = "".join(out)
    # where the text starts a line: indentation (a code block), a list item or setext underline
    if escaped[:1].isspace():
        return f"&#{ord(escaped[0])};{escaped[1:]}"
    match = _LIST_START.match(escaped)
    if match:
        marker = match.group(1)
        if marker.isdigit():
            rest = escaped[match.end():]
            return f"{marker}\\{rest}" if rest else escaped
        return f"\\{marker}{escaped[match.end():]}"
    return escaped


def code(text: Any, *, cell: bool = False) -> str:
    """``text`` as a Markdown code span; ``cell``: inside a table cell."""
    flat = _flat(text)
    if cell:
        flat = flat.replace("|", "\\|")
    if not flat:
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = flat.startswith("`") or flat.endswith("`") or (flat.startswith(" ") and flat.endswith(" ") and flat.strip())
    space = " " if pad else ""
    return f"{fence}{space}{flat}{space}{fence}"


def sarif_text(text: Any) -> str:
    """``text`` as a SARIF plain-text message string that shows as itself."""
    flat = _URL.sub(lambda m: (m.group(1) or m.group(2)) + ZWJ, _flat(text))
    # a backslash is doubled when its run of backslashes ends at a bracket (SARIF reads the
    # run as pairs, then the escaped bracket): one pass from the end
    before_bracket = [False] * len(flat)
    ends_at_bracket = False
    for i in range(len(flat) - 1, -1, -1):
        if flat[i] != "\\":
            ends_at_bracket = flat[i] in "[]"
        before_bracket[i] = ends_at_bracket
    out = []
    for i, ch in enumerate(flat):
        if ch in "[]":
            out.append("\\" + ch)
        elif ch == "\\" and before_bracket[i]:
            out.append("\\\\")
        elif ch in "{}":
            out.append(ch * 2)
        elif ch in "@<":
            out.append(ch + ZWJ)
        else:
            out.append(ch)
    return "".join(out)
