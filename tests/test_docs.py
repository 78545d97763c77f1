"""The README's config reference is generated from the models and must not drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_config_reference_is_current():
    spec = importlib.util.spec_from_file_location("config_reference", ROOT / "scripts" / "config_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    readme = (ROOT / "README.md").read_text()
    assert f"{mod.BEGIN}\n{mod.reference()}\n{mod.END}" in readme, \
        "README config reference is stale: run python scripts/config_reference.py --write"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "./run plan dev" in readme and "./run test" in readme
    assert "./run test" in (ROOT / ".ci" / "run").read_text()
