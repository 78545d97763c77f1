"""The line of a key path in a stack file (``gpufleet check``'s findings, SARIF locations):
``gpufleet:pools.gpu[0].max`` or, for list items by name, ``gpufleet:teams[research]``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gpufleet.modules import config as stack_config

_PART = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def line_finder(path: Path):
    """``key path -> line`` (1-based) in a stack file: the line of the deepest key of the path
    the file has (``gpufleet:pools.gpu[0].max``; a list item by index or by its ``name``:
    ``gpufleet:teams[research]``). Best effort: a file that does not parse gives line 1 (it
    has its own finding)."""
    try:
        stack_config.check_file(path, "stack file")
        root = yaml.compose(stack_config.read_text_file(path, "stack file"), Loader=yaml.SafeLoader)
    except Exception:  # noqa: BLE001 - lines are a nicety
        root = None

    def child(node: Any, part: str) -> tuple[int, Any] | None:
        """(line of the entry, its value node) of a mapping key or a list item."""
        if isinstance(node, yaml.MappingNode):
            return next(((k.start_mark.line + 1, v) for k, v in node.value if getattr(k, "value", None) == part), None)
        if isinstance(node, yaml.SequenceNode):
            items = node.value
            if part.isdigit():
                return (items[int(part)].start_mark.line + 1, items[int(part)]) if int(part) < len(items) else None
            for item in items:
                named = isinstance(item, yaml.MappingNode) and any(
                    getattr(k, "value", None) == "name" and getattr(v, "value", None) == part for k, v in item.value)
                if named:
                    return item.start_mark.line + 1, item
        return None

    def find(key_path: str) -> int:
        entry = child(root, "config") if root is not None else None
        if entry is None:
            return 1
        head, _, rest = key_path.partition(".")
        if "[" in head:
            head, rest = head[: head.index("[")], head[head.index("["):] + ("." + rest if rest else "")
        line = entry[0]
        for part in [head] + [name or index for name, index in _PART.findall(rest)]:
            entry = child(entry[1], part)
            if entry is None:
                break
            line = entry[0]
        return line

    return find
