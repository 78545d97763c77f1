"""The budget guards' break-even spot discount (modules/cost/guard.py) is the bisection of the
guards' figure itself, whatever shortcut computes it."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet.modules.cost import guard

from .helpers import STACKS, raw_config, validate


@functools.cache
def _cfg(stack: str):
    return validate(raw_config(stack))


def _by_the_figure(cfg, budget: float) -> float | None:
    if guard.guard_figure(cfg, 1.0).total > budget:
        return None
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if guard.guard_figure(cfg, mid).total > budget else (lo, mid)
    return hi


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(STACKS), st.floats(-0.05, 1.1))
def test_the_break_even_is_the_figures_own(stack, where):
    cfg = _cfg(stack)
    free, full = guard.guard_figure(cfg, 1.0).total, guard.guard_figure(cfg, 0.0).total
    budget = free + (full - free) * where  # from below the free-spot figure to above the full one
    assert guard.break_even_discount(cfg, budget) == _by_the_figure(cfg, budget)


@pytest.mark.parametrize("stack", STACKS)
def test_the_break_even_of_each_stacks_budget(stack):
    cfg = _cfg(stack)
    assert guard.break_even_discount(cfg, cfg.cost.budget_usd) == _by_the_figure(cfg, cfg.cost.budget_usd)
