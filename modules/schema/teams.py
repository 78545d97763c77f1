"""Config models for teams: who shares the GPU pools, and how much of each.

(Issue #4 owns Kueue quotas built from these; issue #3 grants S3 access per team.)

A team's ``shares`` are its guarantee: percent of each GPU pool's capacity (pool name ->
0..100) that becomes the nominal quota of its Kueue ClusterQueue. A pool the team has no
share in is a pool it cannot use; a share of 0 means borrow-only. ``ceilings`` cap how
much of a pool the team may hold at once, borrowing included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from .base import Name, StrictModel, fail

if TYPE_CHECKING:  # pragma: no cover
    from .stack import StackConfig


def _percents(v: dict[str, int]) -> dict[str, int]:
    for pool, pct in v.items():
        if not 0 <= pct <= 100:
            fail(f".{pool}", pct, "a percentage from 0 to 100")
    return v


class Team(StrictModel):
    name: Name
    """Team name: its namespace is ``team-<name>``, its Kueue queues too."""
    shares: dict[str, int] = Field(default_factory=dict)
    """Percent of each GPU pool's capacity this team is guaranteed (pool name -> 0..100)."""
    ceilings: dict[str, int] = Field(default_factory=dict)
    """Most of a pool this team may use at once, borrowing included (pool name -> percent, at
    least its share, only on pools it has a share in); default: ``ml.kueue.borrowing_limit_percent``."""
    max_job_hours: int = Field(default=24, ge=1, le=168)
    """Longest a batch job of this team may run (activeDeadlineSeconds bound, runaway-job alerts)."""
    max_pods: int = Field(default=200, ge=1, le=5000)
    """Pods the team's namespace may hold (ResourceQuota)."""
    max_pvcs: int = Field(default=20, ge=0, le=1000)
    """PersistentVolumeClaims the team's namespace may hold (ResourceQuota)."""

    @property
    def namespace(self) -> str:
        return f"team-{self.name}"

    @property
    def queue(self) -> str:
        """The team's LocalQueue (in its namespace) and ClusterQueue name."""
        return f"team-{self.name}"

    @property
    def max_job_seconds(self) -> int:
        return self.max_job_hours * 3600

    @field_validator("shares", "ceilings")
    @classmethod
    def _range(cls, v: dict[str, int]) -> dict[str, int]:
        return _percents(v)

    @model_validator(mode="after")
    def _ceilings(self) -> Team:
        for pool, pct in self.ceilings.items():
            if pool not in self.shares:
                fail(f"ceilings.{pool}", pct,
                     f"a ceiling only on a pool this team has a share in ({', '.join(self.shares) or 'none'}); "
                     f"a team cannot use a pool without a share (give it shares.{pool}: 0 for borrow-only)")
            if pct < self.shares[pool]:
                fail(f"ceilings.{pool}", pct, f"at least the team's share of {pool} ({self.shares[pool]})")
        return self


def check(cfg: StackConfig) -> None:
    """Cross-section rules for teams (called by StackConfig's validator): shares only of the
    stack's GPU pools, adding up to at most 100 % per pool. That a share gives at least one
    GPU is a rule on derived figures (``modules/checks/quotas.py``)."""
    pools = {p.name: p for p in cfg.pools.gpu}
    names = ", ".join(pools) or "(none)"
    held: dict[str, list[tuple[str, int]]] = {}
    for i, team in enumerate(cfg.teams):
        for pool, pct in team.shares.items():
            if pool not in pools:
                fail(f"teams[{i}].shares.{pool}", pct, f"a share of a GPU pool of this stack: {names}")
            others = held.setdefault(pool, [])
            taken = sum(p for _, p in others)
            if taken + pct > 100:
                who = ", ".join(f"{t} {p} %" for t, p in others)
                fail(f"teams[{i}].shares.{pool}", pct,
                     f"at most {100 - taken} (shares of pool {pool} add up to at most 100 %; already held: {who})")
            others.append((team.name, pct))
