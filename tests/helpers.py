"""Test helpers: the fixture project (its stack files), config edits, rendering a config under the mock engine."""

from __future__ import annotations

import copy
import re
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from gpufleet import plan as planner
from gpufleet.modules import config as stack_config

#: the repository (code, examples, workflows, README): never its stack files or policy configs
ROOT = Path(__file__).resolve().parents[1]

# The project the suite runs on: a Pulumi project of its own under tests/ (its Pulumi.yaml,
# stack files, fleet file and policy pack configs: copies of the shipped ones, kept here), so
# that adding, replicating or editing the user's stacks never changes what the tests see
# (DEVELOPING.md, "tests/"). `gpufleet check --all` is what guards the user's stacks.
#: the day the EKS calendar and the prices in modules/data were last checked
DATA_DAY = date(2026, 12, 7)
#: CI's second run moves the suite's day this many days ahead (.ci/run: the suite passes on any
#: day from DATA_DAY to two years ahead, issue 18 section 1); a test never reads the variable
DAYS_AHEAD_ENV = "GPUFLEET_TEST_DAYS_AHEAD"


def _days_ahead() -> int:
    given = os.environ.get(DAYS_AHEAD_ENV, "0").strip() or "0"
    if not given.isdigit() or int(given) > 800:
        raise SystemExit(f"{DAYS_AHEAD_ENV}={given[:12]!r}: a whole number of days from 0 to 800")
    return int(given)


#: the day the suite runs on (tests/conftest.py sets the clock to it): DATA_DAY, or that many
#: days later in CI's second run; tests that depend on the date move it from here
TEST_TODAY = DATA_DAY + timedelta(days=_days_ahead())

FIXTURE_ROOT = Path(__file__).resolve().parent / "fixtures" / "project"
#: the fixture project's stackConfigDir, as its Pulumi.yaml says ("stacks")
STACK_FOLDER = yaml.safe_load((FIXTURE_ROOT / "Pulumi.yaml").read_text())["stackConfigDir"]
FIXTURE_STACKS = FIXTURE_ROOT / STACK_FOLDER
FIXTURE_POLICY_CONFIG = FIXTURE_ROOT / "policies" / "config"
FIXTURE_FLEET = FIXTURE_STACKS / "fleet.yaml"
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in FIXTURE_STACKS.glob("Pulumi.*.yaml"))


def stack_path(stack: str) -> Path:
    """The fixture project's stack file of ``stack``."""
    return FIXTURE_STACKS / f"Pulumi.{stack}.yaml"


def stack_source(stack: str) -> str:
    """How messages name a stack file: relative to the project root (``<stackConfigDir>/Pulumi.<stack>.yaml``)."""
    return f"{STACK_FOLDER}/Pulumi.{stack}.yaml"


#: the source name validation messages use for an edited config in the tests
TEST_SOURCE = stack_source("test")


_read: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}


def raw_config(stack: str) -> dict[str, Any]:
    """The ``config:`` mapping of a fixture stack (a fresh copy to edit; the file is parsed
    again only when it changed: ~850 calls a session)."""
    path = stack_path(stack)
    st = path.stat()
    seen = _read.get(stack)
    if seen is None or seen[0] != (st.st_mtime_ns, st.st_size):
        seen = _read[stack] = ((st.st_mtime_ns, st.st_size), yaml.safe_load(path.read_text())["config"])
    return copy.deepcopy(seen[1])


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


def validate(raw: dict[str, Any], source: str = TEST_SOURCE):
    """Both layers, as every loading path runs them: the field rules, then the checks layer."""
    return stack_config.validate(raw, source)


def render(raw: dict[str, Any], stack: str | None = None) -> planner.Plan:
    """Validate ``raw`` and run the real program on it under the recording mock engine, as
    stack ``stack`` (default ``<environment>-test``: a stack's name says its environment)."""
    stack = stack or f"{raw.get('gpufleet:environment', 'dev')}-test"
    cfg = validate(raw, stack_source(stack))
    return planner.run_program(cfg, raw, stack, stack_source(stack))


#: in an ``apply_edits`` list: delete the key instead of setting it
DELETE = object()


def apply_edits(stack: str, edits: list[tuple[str, Any]]) -> dict[str, Any]:
    """A fixture stack's raw config with ``[(path, value or DELETE), ...]`` applied."""
    raw = raw_config(stack)
    for path, value in edits:
        if value is DELETE:
            edit(raw, path, delete=True)
        else:
            edit(raw, path, value)
    return raw


def assert_one_line_error(raw: dict[str, Any], source: str, key_path: str, expected: str) -> str:
    """Validation of ``raw`` (field rules and checks layer) fails with one line naming ``source`` and
    ``key_path``, containing ``expected``."""
    import pytest

    with pytest.raises(stack_config.ConfigError) as info:
        validate(raw, source)
    message = str(info.value)
    assert message.startswith(f"{source}: {key_path}: got "), message
    assert expected in message, message
    assert "\n" not in message
    return message


def storage_classes(plan: planner.Plan) -> dict[str, dict]:
    """The StorageClasses the storage layer declares, by class name."""
    return {r.inputs["metadata"]["name"]: r.inputs for r in plan.by_type("kubernetes:storage.k8s.io/v1:StorageClass")
            if r.name.startswith("storage-classes-")}
