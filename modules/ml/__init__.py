"""The GPU and ML stack: GPU Operator, autoscaler, Kueue, training, KServe, teams (issue #4)."""

from __future__ import annotations

from typing import Any

from ..context import PlatformContext


def compose(ctx: PlatformContext) -> dict[str, Any]:
    """Declare the ML platform; returns the ``ml_platform`` stack output."""
    return {}
