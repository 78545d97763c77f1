"""Config models for storage: EFS datasets, NVMe scratch, checkpoints, S3 buckets (issue #3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from .stack import StackConfig


class StorageConfig(StrictModel):
    pass


def check(cfg: "StackConfig") -> None:
    """Cross-section rules for storage (called by StackConfig's validator)."""
