"""Shared helpers of the simulator tests: platforms read from rendered plans (each rendered
once per session), and traces written inline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gpufleet.modules.simulate import engine, report
from gpufleet.modules.simulate.platform import Assumptions, Platform
from gpufleet.modules.simulate.trace import Trace, from_rows

from gpufleet import simulate_stack

from .conftest import shipped_plan
from .helpers import apply_edits, render

TRACES = Path(__file__).resolve().parent / "data" / "traces"
ALIBABA = TRACES / "openb_pod_list_default.csv"
HOUR = 3600.0
#: dev with one 4-GPU spot node at most, no busy hours, no night schedule: the hand scenarios
ONE_NODE = [("gpufleet:pools.gpu[1].max", 1), ("gpufleet:cost.busy", {}), ("gpufleet:cost.schedule.enabled", False)]

_plans: dict[str, Any] = {}


def plan(name: str):
    """A shipped stack's plan, or ``one-node`` (dev with ONE_NODE)."""
    if name == "one-node":
        if name not in _plans:
            _plans[name] = render(apply_edits("dev", ONE_NODE), "dev-one-node")
        return _plans[name]
    return shipped_plan(name)


def platform(name: str = "one-node", *, spot_rate: float = 0.0, **changes: Any) -> Platform:
    return simulate_stack.from_plan(plan(name), Assumptions.default(spot_rate=spot_rate, **changes), name)


def jobs(*rows: dict[str, Any]) -> Trace:
    return from_rows(rows, "test")


def run(plat: Platform, trace: Trace, **kw: Any) -> engine.Result:
    kw.setdefault("audit", True)
    return engine.simulate(plat, trace, **kw)


def by_name(result: engine.Result) -> dict[str, Any]:
    return {j.label: j for j in result.jobs}


def summary(result: engine.Result) -> dict[str, Any]:
    return report.summarize(result)


@pytest.fixture
def shipped(monkeypatch):
    """Shipped stacks rendered once per session (the command renders on every call)."""
    real = simulate_stack.render
    monkeypatch.setattr(simulate_stack, "render",
                        lambda loaded: plan(loaded.stack) if loaded.name == loaded.stack else real(loaded))
