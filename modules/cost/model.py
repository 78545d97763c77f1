"""The cost model: a monthly estimate of a stack, line by line.

Interface shared by the CLI (``gpufleet cost``, ``plan --json``'s ``cost`` key), the
policy pack (budget policy) and the README figures. Pure: prices come from a
:class:`modules.cost.pricing.PriceTable` (the bundled us-east-1 table by default); no
network, no Pulumi.

Three figures per line, USD per month (730 hours):

- ``idle``: what the stack costs with nobody working: every pool at its min size.
- ``expected``: idle plus the configured work (``gpufleet:cost.busy``: hours per month at
  a number of nodes per GPU pool; warm work-hour nodes of the scale-down schedule).
- ``max``: every pool at its max size all month (the most a runaway config can burn).

A pool with several instance types is priced at its first type for idle and expected
(the type it is designed around) and at its most expensive type for max (worst case).
Spot capacity is priced from observed spot history when the price table has it, else as
on-demand minus ``gpufleet:cost.spot_discount``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Literal, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.cost import CostConfig, ScheduleConfig
    from ..schema.stack import StackConfig
    from .pricing import PriceTable

Category = Literal["control-plane", "network", "system-nodes", "storage", "gpu", "observability"]
CATEGORIES: tuple[Category, ...] = ("control-plane", "network", "system-nodes", "storage", "gpu", "observability")
HOURS_PER_MONTH = 730
WEEKS_PER_MONTH = 52 / 12
DEFAULT_SPOT_DISCOUNT = 0.6
#: persistent volumes of the cost tools (GiB), besides Prometheus (sized by config)
KUBECOST_VOLUMES = {"cost-analyzer": 8, "alertmanager": 2}


@dataclass(frozen=True)
class CostItem:
    name: str
    category: Category
    #: logical name (or URN) of the resource the line prices
    resource: str
    idle: float
    expected: float
    max: float


@dataclass(frozen=True)
class PriceSource:
    source: str
    date: str
    region: str


@dataclass(frozen=True)
class CostEstimate:
    items: tuple[CostItem, ...]
    prices: PriceSource
    currency: str = "USD"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def monthly(self) -> dict[str, float]:
        return {k: round(sum(getattr(i, k) for i in self.items), 2) for k in ("idle", "expected", "max")}

    def by_category(self, category: Category) -> dict[str, float]:
        items = [i for i in self.items if i.category == category]
        return {k: round(sum(getattr(i, k) for i in items), 2) for k in ("idle", "expected", "max")}

    def to_json(self) -> dict:
        """The ``cost`` key of ``gpufleet plan --json``, exactly the issue's shape (items add
        up to ``monthly``); the notes are in the text table and in ``gpufleet cost --format json``."""
        return {
            "currency": self.currency,
            "monthly": self.monthly,
            "items": [{"name": i.name, "category": i.category, "resource": i.resource,
                       "idle": i.idle, "expected": i.expected, "max": i.max} for i in self.items],
            "prices": {"source": self.prices.source, "date": self.prices.date, "region": self.prices.region},
        }


def _money(x: float) -> float:
    return round(x, 2)


def _item(name: str, category: Category, resource: str, idle: float, expected: float | None = None,
          max_: float | None = None) -> CostItem:
    expected = idle if expected is None else expected
    return CostItem(name, category, resource, _money(idle), _money(expected), _money(expected if max_ is None else max_))


# ------------------------------------------------------------------ one node pool

@dataclass(frozen=True)
class PoolCost:
    """Monthly USD of one node pool: instances and their root volumes."""

    instances: tuple[float, float, float]
    volumes: tuple[float, float, float]
    #: USD per node-hour used for idle/expected and for max
    hourly: float
    hourly_max: float

    @property
    def idle(self) -> float:
        return _money(self.instances[0] + self.volumes[0])

    @property
    def expected(self) -> float:
        return _money(self.instances[1] + self.volumes[1])

    @property
    def max(self) -> float:
        return _money(self.instances[2] + self.volumes[2])


def _is_spot(capacity: str) -> bool:
    c = capacity.lower().replace("_", "-")
    if c not in ("spot", "on-demand"):
        raise ValueError(f"capacity {capacity!r}: expected spot or on-demand (SPOT / ON_DEMAND)")
    return c == "spot"


def node_hour(instance_type: str, capacity: str, prices: "PriceTable", spot_discount: float = DEFAULT_SPOT_DISCOUNT) -> float:
    """USD per hour of one node of ``instance_type`` on ``capacity``."""
    return prices.spot_hour(instance_type, spot_discount) if _is_spot(capacity) else prices.instance_hour(instance_type)


def pool_monthly(
    instance_types: Sequence[str],
    capacity: str,
    min_nodes: int,
    max_nodes: int,
    *,
    busy_hours: float = 0.0,
    busy_nodes: int | None = None,
    warm_nodes: int = 0,
    warm_hours: float = 0.0,
    disk_gb: int = 0,
    spot_discount: float = DEFAULT_SPOT_DISCOUNT,
    prices: "PriceTable | None" = None,
) -> PoolCost:
    """Monthly cost of one node pool from raw node-group facts (pure).

    For the policy pack, which sees node groups as resources: ``instance_types`` and
    ``capacity`` (``"SPOT"``/``"ON_DEMAND"`` as EKS spells them, or the config's
    ``spot``/``on-demand``), ``scalingConfig.minSize`` / ``maxSize``; e.g. the most a pool
    can cost in a month is ``pool_monthly(types, "ON_DEMAND", 0, 10).max``.

    - idle: ``min_nodes`` all month;
    - expected: idle plus ``busy_nodes`` (default ``max_nodes``) above the min for
      ``busy_hours`` a month, or ``warm_nodes`` for ``warm_hours`` (scheduled work-hour
      nodes), whichever adds more;
    - max: ``max_nodes`` all month at the most expensive of ``instance_types``.

    Root volumes (``disk_gb`` gp3 per node) follow the same node-hours.
    """
    from .pricing import bundled

    if not instance_types:
        raise ValueError("a pool needs at least one instance type")
    if not 0 <= min_nodes <= max_nodes:
        raise ValueError(f"sizes min {min_nodes}, max {max_nodes}: expected 0 <= min <= max")
    prices = prices or bundled()
    hourly = node_hour(instance_types[0], capacity, prices, spot_discount)
    hourly_max = max(node_hour(t, capacity, prices, spot_discount) for t in instance_types)
    busy_nodes = max_nodes if busy_nodes is None else busy_nodes
    extra_busy = max(0, busy_nodes - min_nodes) * min(busy_hours, HOURS_PER_MONTH)
    extra_warm = max(0, warm_nodes - min_nodes) * min(warm_hours, HOURS_PER_MONTH)
    node_hours = (
        min_nodes * HOURS_PER_MONTH,
        min_nodes * HOURS_PER_MONTH + max(extra_busy, extra_warm),
        max_nodes * HOURS_PER_MONTH,
    )
    gb_hour = disk_gb * prices.unit("ebs_gp3_gb_month") / HOURS_PER_MONTH
    return PoolCost(
        instances=(node_hours[0] * hourly, node_hours[1] * hourly, node_hours[2] * hourly_max),
        volumes=tuple(h * gb_hour for h in node_hours),  # type: ignore[arg-type]
        hourly=hourly,
        hourly_max=hourly_max,
    )


# ------------------------------------------------------------------ schedules

_DOW = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def _days_per_week(dow: str) -> int | None:
    if dow == "*":
        return 7
    days: set[int] = set()
    for part in dow.lower().split(","):
        if "/" in part:
            return None
        lo, _, hi = part.partition("-")
        try:
            a = _DOW[lo] if lo in _DOW else int(lo) % 7
            b = (_DOW[hi] if hi in _DOW else int(hi) % 7) if hi else a
        except ValueError:
            return None
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return len(days)


def work_hours_per_month(schedule: "ScheduleConfig") -> float:
    """Hours per month between the schedule's ``start`` and ``stop`` (simple crons
    ``M H * * DOW``); 730 when the expressions are too complex to tell."""
    start, stop = schedule.start.split(), schedule.stop.split()
    if not all(re.fullmatch(r"\d+", f) for f in (*start[:2], *stop[:2])) or start[2:4] != ["*", "*"]:
        return float(HOURS_PER_MONTH)
    days = _days_per_week(start[4])
    if days is None:
        return float(HOURS_PER_MONTH)
    span = (int(stop[1]) + int(stop[0]) / 60) - (int(start[1]) + int(start[0]) / 60)
    if span <= 0:
        span += 24
    return round(min(HOURS_PER_MONTH, span * days * WEEKS_PER_MONTH), 1)


# ------------------------------------------------------------------ the whole stack

def tool_volumes(cost: "CostConfig") -> dict[str, int]:
    """Persistent volumes (GiB) the cost tool creates; the cost-tool component uses the same sizes."""
    volumes = {"prometheus": cost.prometheus.volume_gb}
    if cost.tool == "kubecost":
        volumes.update(KUBECOST_VOLUMES)
    return volumes


def control_plane_support(version: str, on: date | None = None) -> Literal["standard", "extended"]:
    from .. import catalog

    ver = catalog.eks_versions().get(version)
    on = on or date.today()
    return "extended" if ver is not None and on > ver.end_of_standard_support else "standard"


#: resource types the model prices when it is given the plan's resources (beyond what
#: the config describes): type -> (unit price key, category, label)
PRICED_RESOURCES = {
    "aws:kms/key:Key": ("kms_key_month", "control-plane", "KMS key"),
    "aws:lb/loadBalancer:LoadBalancer": ("nlb_hour", "network", "load balancer"),
}
#: resources the config-based lines already price
_CONFIG_PRICED = {"cluster-secrets"}


def estimate(cfg: "StackConfig", prices: "PriceTable | None" = None, on: date | None = None,
             resources: Sequence[tuple[str, str]] | None = None) -> CostEstimate:
    """The monthly estimate of one stack config, line by line.

    ``resources``: (type, logical name) of the rendered plan's resources, to price what
    other layers add beyond the config (KMS keys, load balancers); None: config only.
    """
    from ..schema.cost import schedule_of
    from .pricing import bundled

    prices = prices or bundled()
    cost = cfg.cost
    u = prices.unit
    h = HOURS_PER_MONTH
    items: list[CostItem] = []
    notes: list[str] = []
    if prices.region != cfg.region:
        notes.append(f"prices are for {prices.region}, the stack runs in {cfg.region}: "
                     f"use `gpufleet cost --live-prices` for {cfg.region}'s prices")

    support = control_plane_support(cfg.cluster.version, on)
    items.append(_item(f"EKS control plane ({support} support, {cfg.cluster.version})", "control-plane",
                       "cluster-eks", prices.eks[support] * h))
    items.append(_item("KMS key for secrets encryption", "control-plane", "cluster-secrets", u("kms_key_month")))
    if cost.logs_gb:
        logs = cost.logs_gb * (u("cloudwatch_logs_ingest_gb") + u("cloudwatch_logs_store_gb_month"))
        items.append(_item(f"control-plane logs ({cost.logs_gb:g} GB/month)", "observability", "cluster-logs", logs))

    nat_azs = list(cfg.network.azs) if cfg.nat == "per_az" else [cfg.network.azs[0]]
    per_nat_gb = cost.nat_gb / len(nat_azs)
    for az in nat_azs:
        items.append(_item(f"NAT gateway {az}" + (f" (+{per_nat_gb:,.0f} GB processed)" if per_nat_gb else ""),
                           "network", f"network-nat-{az}",
                           u("nat_gateway_hour") * h + per_nat_gb * u("nat_gateway_gb")))
        items.append(_item(f"public IPv4 of NAT gateway {az}", "network", f"network-nat-{az}",
                           u("public_ipv4_hour") * h))
    for i in range(cost.load_balancers):
        items.append(_item(f"Network Load Balancer {i + 1}", "network", f"nlb-{i + 1}", u("nlb_hour") * h))

    s = cfg.pools.system
    sys_cost = pool_monthly(s.instance_types, s.capacity, s.min, s.max, disk_gb=s.disk_gb,
                            spot_discount=cost.spot_discount, prices=prices)
    items.append(_item(f"system nodes {s.min}..{s.max} × {s.instance_types[0]} ({s.capacity})", "system-nodes",
                       "pool-system-ng", sys_cost.instances[0], sys_cost.instances[1], sys_cost.instances[2]))
    items.append(_item(f"system root volumes {s.disk_gb} GB gp3 per node", "storage", "pool-system-lt",
                       *sys_cost.volumes))

    schedule = schedule_of(cfg)
    warm_hours = work_hours_per_month(schedule) if schedule else 0.0
    for p in cfg.pools.gpu:
        busy = cost.busy.get(p.name)
        warm = schedule.pools[p.name].work_hours_nodes if schedule and p.name in schedule.pools else 0
        pc = pool_monthly(p.instance_types, p.capacity, p.min, p.max,
                          busy_hours=busy.hours if busy else 0.0, busy_nodes=busy.nodes if busy else None,
                          warm_nodes=warm, warm_hours=warm_hours, disk_gb=p.disk_gb,
                          spot_discount=cost.spot_discount, prices=prices)
        label = f"GPU pool {p.name}: {p.min}..{p.max} × {p.instance_types[0]} ({p.capacity})"
        if pc.hourly_max > pc.hourly:
            worst = max(p.instance_types, key=lambda t: node_hour(t, p.capacity, prices, cost.spot_discount))
            label += f", max at {worst}"
        items.append(_item(label, "gpu", f"pool-{p.name}-ng", *pc.instances))
        items.append(_item(f"GPU pool {p.name} root volumes {p.disk_gb} GB gp3 per node", "storage",
                           f"pool-{p.name}-lt", *pc.volumes))
        if p.capacity == "spot" and any(t not in prices.spot for t in p.instance_types):
            notes.append(f"{p.name}: spot priced at {cost.spot_discount:.0%} off on-demand "
                         "(gpufleet cost --spot-history uses observed prices)")

    if cost.efs_gb:
        items.append(_item(f"EFS Standard {cost.efs_gb:g} GB", "storage", "storage-efs",
                           cost.efs_gb * u("efs_standard_gb_month")))
    if cost.s3_gb:
        items.append(_item(f"S3 Standard {cost.s3_gb:g} GB", "storage", "storage-buckets",
                           cost.s3_gb * u("s3_standard_gb_month")))
    for vol, gb in tool_volumes(cost).items():
        items.append(_item(f"{cost.tool} {vol} volume {gb} GiB gp3", "observability", f"cost-tool-{vol}",
                           gb * u("ebs_gp3_gb_month")))
    for typ, name in resources or ():
        if typ in PRICED_RESOURCES and name not in _CONFIG_PRICED:
            key, category, label = PRICED_RESOURCES[typ]
            monthly = u(key) * (h if key.endswith("_hour") else 1)
            items.append(_item(f"{label} {name}", category, name, monthly))  # type: ignore[arg-type]
    if cfg.pools.system.capacity == "spot" and not any(t in prices.spot for t in cfg.pools.system.instance_types):
        notes.append(f"system nodes: spot priced at {cost.spot_discount:.0%} off on-demand")
    return CostEstimate(items=tuple(items), prices=prices.source, notes=tuple(dict.fromkeys(notes)))
