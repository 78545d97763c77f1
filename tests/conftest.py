"""Shared fixtures: each shipped stack is rendered once per test session."""

from __future__ import annotations

import pytest

from gpufleet import plan as planner

from .helpers import STACKS

_plans: dict[str, planner.Plan] = {}


def shipped_plan(stack: str) -> planner.Plan:
    if stack not in _plans:
        _plans[stack] = planner.render(stack)
    return _plans[stack]


@pytest.fixture(params=STACKS)
def any_stack_plan(request) -> planner.Plan:
    """The plan of each shipped stack (parametrised)."""
    return shipped_plan(request.param)


@pytest.fixture
def dev_plan() -> planner.Plan:
    return shipped_plan("dev")


@pytest.fixture
def prod_plan() -> planner.Plan:
    return shipped_plan("prod")
