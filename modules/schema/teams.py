"""Config models for teams: who shares the GPU pools, and how much of each.

(Issue #4 owns Kueue quotas built from these; issue #3 grants S3 access per team.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from .base import Name, StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from .stack import StackConfig


class Team(StrictModel):
    name: Name
    shares: dict[str, int] = Field(default_factory=dict)
    """percent of each GPU pool's capacity this team is guaranteed (pool name -> 0..100)"""
    max_job_hours: int = Field(default=24, ge=1, le=168)
    """longest a batch job of this team may run (activeDeadlineSeconds bound, runaway-job alerts)"""

    @property
    def namespace(self) -> str:
        return f"team-{self.name}"


def check(cfg: "StackConfig") -> None:
    """Cross-section rules for teams (called by StackConfig's validator)."""
