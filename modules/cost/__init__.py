"""Cost guards: cost model, cost tool, budgets, scheduled scale-down (issue #5)."""

from __future__ import annotations

from typing import Any

from ..context import PlatformContext


def compose(ctx: PlatformContext) -> dict[str, Any]:
    """Declare the cost layer; returns the ``cost`` stack output."""
    return {}
