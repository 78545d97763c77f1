"""Config models for cost guards: budget, cost tool, scale-down schedules, pricing (issue #5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from .stack import StackConfig


class CostConfig(StrictModel):
    pass


def check(cfg: "StackConfig") -> None:
    """Cross-section rules for cost (called by StackConfig's validator)."""
