"""Test helpers: shipped stack files, config edits, rendering a config under the mock engine."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from gpufleet import plan as planner
from modules import config as stack_config

ROOT = Path(__file__).resolve().parents[1]
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def raw_config(stack: str) -> dict[str, Any]:
    """The ``config:`` mapping of a shipped stack (a fresh copy to edit)."""
    return copy.deepcopy(yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"])


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def edit(raw: dict[str, Any], path: str, value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    """Set (or delete) ``path`` in a raw config: ``edit(raw, "gpufleet:pools.gpu[0].max", 3)``.
    The first segment is the full config key (``gpufleet:pools``, ``aws:region``)."""
    head, _, rest = path.partition(".")
    if "[" in head:
        head, rest = head[: head.index("[")], head[head.index("["):] + ("." + rest if rest else "")
    parts: list[Any] = [head] + [int(i) if i else k for k, i in _PART.findall(rest)]
    node: Any = raw
    for part in parts[:-1]:
        node = node[part]
    if delete:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return raw


def validate(raw: dict[str, Any], source: str = "stacks/Pulumi.test.yaml"):
    return stack_config.validate(raw, source)


def render(raw: dict[str, Any], stack: str = "test") -> planner.Plan:
    """Validate ``raw`` and run the real program on it under the recording mock engine."""
    cfg = validate(raw, f"stacks/Pulumi.{stack}.yaml")
    return planner.run_program(cfg, raw, stack, f"stacks/Pulumi.{stack}.yaml")
