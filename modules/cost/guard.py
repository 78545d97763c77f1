"""The figure both budget guards check (config validation, ``modules/checks/ceilings.py``,
and the policy ``gpu-spend-within-budget``): what the stack can bill in a month from limits
it sets, whoever scales it.

- every node pool at its max size for 730 h at its dearest instance type, spot at the
  discount the environment's ceilings assume (never the stack's own hope);
- each of those nodes with its root volume (``disk_gb`` of gp3, per GB-month): a node at max
  brings its volume with it, so ``disk_gb: 4000`` on a pool at max 2 is $640 a month;
- EFS provisioned throughput (``storage.efs.throughput: provisioned``): billed per MiB/s-month
  whatever the file system stores or serves, so it belongs to the figure in full.

Pure (bundled prices by default); the policy pack prices the same parts from resources with
:func:`modules.cost.model.pool_monthly` and :func:`efs_throughput_monthly`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import pool_monthly

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig
    from .pricing import PriceTable

#: the unit price of EFS provisioned throughput (``modules/data/unit-prices-us-east-1.json``)
EFS_THROUGHPUT_KEY = "efs_provisioned_mibps_month"


def efs_throughput_monthly(mibps: float, prices: "PriceTable | None" = None) -> float:
    """USD a month of ``mibps`` MiB/s of EFS provisioned throughput (0 for none)."""
    from .pricing import bundled

    return mibps * (prices or bundled()).unit(EFS_THROUGHPUT_KEY) if mibps else 0.0


def provisioned_mibps(cfg: "StackConfig") -> int:
    """The MiB/s the stack provisions for its EFS file system (0 unless ``throughput: provisioned``)."""
    efs = cfg.storage.efs
    return int(efs.provisioned_mibps or 0) if efs.throughput == "provisioned" else 0


@dataclass(frozen=True)
class GuardPool:
    """One node pool at max: its instances and their root volumes, USD a month."""

    name: str
    nodes: int
    disk_gb: int
    instances: float
    volumes: float

    @property
    def total(self) -> float:
        return self.instances + self.volumes


@dataclass(frozen=True)
class GuardFigure:
    pools: tuple[GuardPool, ...]
    efs_mibps: int
    efs: float

    @property
    def instances(self) -> float:
        return sum(p.instances for p in self.pools)

    @property
    def volumes(self) -> float:
        return sum(p.volumes for p in self.pools)

    @property
    def total(self) -> float:
        return self.instances + self.volumes + self.efs

    def parts(self) -> dict[str, float]:
        return {"instances": round(self.instances, 2), "root_volumes": round(self.volumes, 2),
                "efs_provisioned_throughput": round(self.efs, 2)}


def guard_figure(cfg: "StackConfig", spot_discount: float, prices: "PriceTable | None" = None) -> GuardFigure:
    """The guards' figure of a stack, spot at ``spot_discount`` off on-demand."""
    pools = []
    for name, p in [("system", cfg.pools.system), *((g.name, g) for g in cfg.pools.gpu)]:
        cost = pool_monthly(p.instance_types, p.capacity, 0, p.max, disk_gb=p.disk_gb, spot_discount=spot_discount,
                            prices=prices)
        pools.append(GuardPool(name, p.max, p.disk_gb, cost.instances[2], cost.volumes[2]))
    mibps = provisioned_mibps(cfg)
    return GuardFigure(tuple(pools), mibps, efs_throughput_monthly(mibps, prices))


def break_even_discount(cfg: "StackConfig", budget: float) -> float | None:
    """The smallest spot discount at which the guards' figure fits ``budget`` (None: not even
    spot for free would do; root volumes and EFS throughput do not get cheaper with spot)."""
    free, full = guard_figure(cfg, 1.0).total, guard_figure(cfg, 0.0).total
    if free > budget:
        return None

    def total(discount: float) -> float:
        # with bundled prices spot is on-demand minus the discount, so the figure is the line
        # between its two ends; the bisection on the line ends in the same 2**-30 bracket as
        # one on the figure when the figure crosses the budget inside it (checked below), and
        # costs 2 figures instead of 30 (observed spot prices can bend it: then the figure's own)
        return full + (free - full) * discount

    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        if total(mid) > budget:
            lo = mid
        else:
            hi = mid
    if guard_figure(cfg, hi).total <= budget and (lo == 0.0 or guard_figure(cfg, lo).total > budget):
        return hi
    lo, hi = 0.0, 1.0  # not a line: search the figure itself
    for _ in range(30):
        mid = (lo + hi) / 2
        if guard_figure(cfg, mid).total > budget:
            lo = mid
        else:
            hi = mid
    return hi
