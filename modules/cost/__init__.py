"""Cost guards: cost model, cost tool, GPU dashboards and alerts, budget, scale-down (issue #5).

``compose(ctx)`` declares one component per concern and returns the ``cost`` stack
output. The pure parts (``model``, ``pricing``, ``rules``) import no Pulumi provider, so
the CLI and the policy pack can use them cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..context import PlatformContext


def compose(ctx: "PlatformContext") -> dict[str, Any]:
    """Declare the cost layer; returns the ``cost`` stack output."""
    from .layer import compose as _compose

    return _compose(ctx)
