"""Team quotas against pool capacity (from ``modules/schema/teams.py``).

A team's share above 0 of a GPU pool must give it at least one of each GPU resource the pool
offers at max size: Kueue's nominal quota is the share of the pool's capacity rounded down
(``modules.ml.quotas.share_of``), and a quota of 0 GPUs admits nothing. A share of 0 is
borrow-only and always allowed. Which pools exist and that shares add up to at most 100 %
are field rules (``modules.schema.teams.check``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ml.quotas import pool_capacity, share_of
from ..schema.base import fail

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.pools import GpuPool
    from ..schema.stack import StackConfig


def check(cfg: "StackConfig") -> None:
    pools = {p.name: p for p in cfg.pools.gpu}
    for i, team in enumerate(cfg.teams):
        for pool, pct in team.shares.items():
            _check_usable(f"teams[{i}].shares.{pool}", pools[pool], pct)


def _check_usable(path: str, pool: "GpuPool", pct: int) -> None:
    """A share above 0 must give the team at least one of each GPU resource of the pool."""
    if pct == 0:
        return
    capacity = pool_capacity(pool, 0, 0)
    for resource, total in capacity.gpus.items():
        if share_of(total, pct) < 1:
            need = -(-100 // total) if total else 100
            fail(path, pct,
                 f"a share that gives at least one {resource} (pool {pool.name} has {total} at most: "
                 f"at least {need} %), or 0 for borrow-only")
