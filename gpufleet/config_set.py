"""``--set KEY.PATH=VALUE`` for ``gpufleet simulate``: a variant of a stack's raw config.

Parsed as ``gpufleet replicate --set`` parses it (:func:`gpufleet.replicate.parse_set`: the
``gpufleet:`` prefix optional, the value read as YAML with the user-file guards) and set as
it sets it (:func:`gpufleet.replicate.set_path`: a list element by index or by ``name``,
``pools.gpu[shared-l4].replicas=8``), except that a variant may add a key the stack leaves
at its default (``replicas``, ``mig_config``, ``cost.schedule``): the mappings on the way are
created. A path through a value, an index out of range or an unknown element name is a
:class:`gpufleet.exit_codes.BadInputError` (one line, exit 2); so is, once validated, a
config the edit makes invalid (a :class:`modules.config.ConfigError`).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from .replicate import BadInput, parse_set, set_path


def _missing_key(message: str) -> bool:
    return ": no key " in message


def _create(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path``, creating the mappings it crosses (lists are walked, never created)."""
    head, _, rest = path.partition(".")
    parts = [head] + [p for p in rest.replace("[", ".[").split(".") if p] if rest else [head]
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part.startswith("["):
            name = part[1:-1]
            if not isinstance(node, list):
                raise BadInput(f"--set {path}: {name!r} indexes a value that is not a list")
            if name.isdigit():
                if int(name) >= len(node):
                    raise BadInput(f"--set {path}: the list has {len(node)} item(s), no index {name}")
                key: Any = int(name)
            else:
                found = [j for j, el in enumerate(node) if isinstance(el, dict) and el.get("name") == name]
                if not found:
                    names = ", ".join(str(el.get("name")) for el in node if isinstance(el, dict)) or "none"
                    raise BadInput(f"--set {path}: no item named {name!r} (names: {names})")
                key = found[0]
        else:
            if not isinstance(node, dict):
                raise BadInput(f"--set {path}: {part!r} is under a value ({node!r}), not a mapping")
            key = part
        if last:
            node[key] = value
            return
        if isinstance(node, dict) and node.get(key) is None:
            node[key] = {}
        node = node[key]


def apply(raw: dict[str, Any], edits: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with every ``--set`` edit applied (the input is left alone)."""
    raw = copy.deepcopy(raw)
    for expr in edits:
        path, value = parse_set(expr)
        try:
            set_path(raw, path, value)
        except BadInput as exc:
            if not _missing_key(str(exc)):
                raise
            _create(raw, path, value)
    return raw
