"""Storage and data: EFS datasets, NVMe scratch, checkpoints, S3 buckets (issue #3)."""

from __future__ import annotations

from typing import Any

from ..context import PlatformContext


def compose(ctx: PlatformContext) -> dict[str, Any]:
    """Declare the storage layer; returns the ``storage`` stack output."""
    return {}
