"""Every Helm release of every fixture stack, rendered from its real chart (issue #10,
section 1): the renders shared by ``tests/test_chart_render_*.py``, each stack's releases
rendered once per session (per xdist worker) whichever modules use the ``rendered`` fixture."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gpufleet import chart_render as cr
from gpufleet import plan as planner

from .conftest import shipped_plan
from .helpers import STACKS


@dataclass
class StackRender:
    stack: str
    plan: planner.Plan
    version: str
    releases: list[cr.RenderedRelease]

    def chart(self, name: str) -> cr.RenderedRelease | None:
        found = [r for r in self.releases if r.chart == name]
        return found[0] if found else None

    def objects(self, kind: str) -> list[dict]:
        return [o for r in self.releases for o in r.find(kind)]


#: the renders, by stack: each module that imports ``rendered`` gets its own fixture, all share this cache
_renders: dict[str, StackRender] = {}


def stack_render(stack: str) -> StackRender:
    if stack not in _renders:
        plan = shipped_plan(stack)
        _renders[stack] = StackRender(stack, plan, plan.config.cluster.version, cr.render_plan(plan))
    return _renders[stack]


@pytest.fixture(scope="session", params=STACKS)
def rendered(request) -> StackRender:
    """Each shipped stack's releases, rendered once per session (per xdist worker)."""
    return stack_render(request.param)
