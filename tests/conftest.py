"""Shared fixtures: the suite runs on the fixture project under tests/ (never on the stacks
the user keeps in the checkout, DEVELOPING.md "tests/"); each of its stacks is rendered once per
test session."""

from __future__ import annotations

import pytest

from gpufleet import plan as planner

from .helpers import FIXTURE_ROOT, STACKS

_plans: dict[str, planner.Plan] = {}


def shipped_plan(stack: str) -> planner.Plan:
    """The plan of a fixture stack (rendered once per session)."""
    if stack not in _plans:
        _plans[stack] = planner.render(stack, FIXTURE_ROOT)
    return _plans[stack]


def _fixture_files() -> dict[str, bytes]:
    return {str(p.relative_to(FIXTURE_ROOT)): p.read_bytes() for p in sorted(FIXTURE_ROOT.rglob("*"))
            if p.is_file() and ".hypothesis" not in p.parts and "__pycache__" not in p.parts}


@pytest.fixture(autouse=True, scope="session")
def _session_in_the_fixture_project():
    """Module- and session-scoped fixtures run in the fixture project too; and since commands
    in tests act on it, no test may write into it (a test that writes works on a copy)."""
    before = _fixture_files()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(FIXTURE_ROOT)
        yield
    after = _fixture_files()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"a test wrote into the fixture project {FIXTURE_ROOT}: {changed}"


@pytest.fixture(autouse=True)
def in_the_fixture_project(_session_in_the_fixture_project, monkeypatch):
    """Every test runs in the fixture project's directory: a command that finds its project
    from the current directory (``gpufleet plan dev``, the policy pack's config and
    suppressions) acts on the fixture project, never on the checkout's own stacks."""
    monkeypatch.chdir(FIXTURE_ROOT)


@pytest.fixture(params=STACKS)
def any_stack_plan(request) -> planner.Plan:
    """The plan of each fixture stack (parametrised)."""
    return shipped_plan(request.param)


@pytest.fixture
def dev_plan() -> planner.Plan:
    return shipped_plan("dev")


@pytest.fixture
def prod_plan() -> planner.Plan:
    return shipped_plan("prod")
