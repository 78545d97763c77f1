"""Config models for the GPU and ML stack: operators, queues, training, serving (issue #4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from .stack import StackConfig


class MlConfig(StrictModel):
    pass


def check(cfg: "StackConfig") -> None:
    """Cross-section rules for the ML stack (called by StackConfig's validator)."""
