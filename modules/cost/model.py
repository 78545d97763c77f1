"""The cost model: a monthly estimate of a stack, line by line, each line with its basis.

Interface shared by the CLI (``gpufleet cost``, ``plan --json``'s ``cost`` key), the
policy pack (budget policy) and the README figures. Pure: prices come from a
:class:`modules.cost.pricing.PriceTable` (the bundled us-east-1 table by default); no
network.

Four figures per line, USD per month (730 hours; :data:`modules.cost.basis.FIGURE_MEANINGS`):

- ``idle``: what the stack costs with nobody working: every pool at its min size.
- ``expected``: idle plus the configured work (``gpufleet:cost.busy``: hours per month at
  a number of nodes per GPU pool; warm work-hour nodes of the scale-down schedule).
- ``max``: the ceiling. Every node pool at its max size all month at its dearest instance
  type, spot capacity at the on-demand price: a spot price can reach on-demand (and EC2's
  default maximum price is the on-demand price), so no discount belongs in a ceiling.
- ``max_within_schedule``: the same ceiling with the scheduled GPU pools running only the
  hours the scale-down schedule allows (:mod:`modules.cost.schedule_hours`); equal to
  ``max`` without a schedule (prod).

Idle and expected price a pool at its first instance type (the one it is designed around),
spot from observed history when the price table has it for the pool's AZs, else on-demand
minus ``gpufleet:cost.spot_discount``. Neither ceiling is what the budget guards check: they
price every node pool at max for 730 h with spot at the discount the environment's ceilings
assume (:func:`budget_guard`, printed with every estimate).

Every item carries, per figure, the charges it is made of (:mod:`modules.cost.basis`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

from .basis import FIGURE_MEANINGS, FIGURES, HOURS_PER_MONTH, Charge, UnitPrice

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.cost import CostConfig, ScheduleConfig
    from ..schema.stack import StackConfig
    from .pricing import PriceTable
    from .unpriced import NotPriced

Category = Literal["control-plane", "network", "system-nodes", "storage", "gpu", "observability"]
CATEGORIES: tuple[Category, ...] = ("control-plane", "network", "system-nodes", "storage", "gpu", "observability")
DEFAULT_SPOT_DISCOUNT = 0.6
#: persistent volumes of the cost tools (GiB), besides Prometheus (sized by config)
KUBECOST_VOLUMES = {"cost-analyzer": 8, "alertmanager": 2}
__all__ = ["FIGURES", "HOURS_PER_MONTH", "CostItem", "CostEstimate", "PriceSource", "estimate", "pool_monthly",
           "node_hour", "work_hours_per_month"]


@dataclass(frozen=True)
class CostItem:
    name: str
    category: Category
    #: logical name (or URN) of the resource the line prices
    resource: str
    idle: float
    expected: float
    max: float
    #: defaults to ``max`` (a line the schedule does not bound)
    max_within_schedule: float | None = None
    #: per figure, the charges that add up to it
    basis: Mapping[str, tuple[Charge, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_within_schedule is None:
            object.__setattr__(self, "max_within_schedule", self.max)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "category": self.category, "resource": self.resource}
        out.update({f: getattr(self, f) for f in FIGURES})
        out["basis"] = {f: [c.to_json() for c in self.basis.get(f, ())] for f in FIGURES}
        return out


def item(name: str, category: Category, resource: str, basis: Mapping[str, Sequence[Charge]]) -> CostItem:
    """A line from its charges; a figure not given has the previous figure's charges."""
    full: dict[str, tuple[Charge, ...]] = {}
    previous: tuple[Charge, ...] = ()
    for f in FIGURES:
        previous = tuple(basis.get(f, previous))
        full[f] = previous
    amounts = {f: round(sum(c.usd for c in full[f]), 2) for f in FIGURES}
    return CostItem(name, category, resource, **amounts, basis=full)


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
    not_priced: tuple["NotPriced", ...] = field(default_factory=tuple)
    assumptions: Mapping[str, Any] = field(default_factory=dict)
    #: the figure the budget guards check (:func:`budget_guard`); None outside a stack
    budget_guard: Mapping[str, Any] | None = None

    @property
    def monthly(self) -> dict[str, float]:
        return {k: round(sum(getattr(i, k) for i in self.items), 2) for k in FIGURES}

    def by_category(self, category: Category) -> dict[str, float]:
        items = [i for i in self.items if i.category == category]
        return {k: round(sum(getattr(i, k) for i in items), 2) for k in FIGURES}

    def to_json(self) -> dict[str, Any]:
        """The ``cost`` key of ``gpufleet plan --json`` (items add up to ``monthly``; each
        item's ``basis`` adds up to its figures)."""
        return {
            "currency": self.currency,
            "monthly": self.monthly,
            "figures": dict(FIGURE_MEANINGS),
            "items": [i.to_json() for i in self.items],
            "prices": {"source": self.prices.source, "date": self.prices.date, "region": self.prices.region},
            "assumptions": dict(self.assumptions),
            "budget_guard": dict(self.budget_guard) if self.budget_guard else None,
            "notes": list(self.notes),
            "not_priced": [n.to_json() for n in self.not_priced],
        }


# ------------------------------------------------------------------ one node pool (the guards' function)

@dataclass(frozen=True)
class PoolCost:
    """Monthly USD of one node pool: instances and their root volumes, each at the capacity's
    price (spot at the given discount); ``max`` here is max nodes for 730 h at that price, the
    figure the budget guards use, not the estimate's ``max`` (spot at on-demand)."""

    instances: tuple[float, float, float]
    volumes: tuple[float, float, float]
    #: USD per node-hour used for idle/expected and for max
    hourly: float
    hourly_max: float

    @property
    def idle(self) -> float:
        return round(self.instances[0] + self.volumes[0], 2)

    @property
    def expected(self) -> float:
        return round(self.instances[1] + self.volumes[1], 2)

    @property
    def max(self) -> float:
        return round(self.instances[2] + self.volumes[2], 2)


def _is_spot(capacity: str) -> bool:
    c = capacity.lower().replace("_", "-")
    if c not in ("spot", "on-demand"):
        raise ValueError(f"capacity {capacity!r}: expected spot or on-demand (SPOT / ON_DEMAND)")
    return c == "spot"


def node_hour(instance_type: str, capacity: str, prices: "PriceTable", spot_discount: float = DEFAULT_SPOT_DISCOUNT) -> float:
    """USD per hour of one node of ``instance_type`` on ``capacity``."""
    return prices.spot_hour(instance_type, spot_discount) if _is_spot(capacity) else prices.instance_hour(instance_type)


def pool_monthly(instance_types: Sequence[str], capacity: str, min_nodes: int, max_nodes: int, *,
                 busy_hours: float = 0.0, busy_nodes: int | None = None, warm_nodes: int = 0, warm_hours: float = 0.0,
                 disk_gb: int = 0, spot_discount: float = DEFAULT_SPOT_DISCOUNT,
                 prices: "PriceTable | None" = None) -> PoolCost:
    """Monthly cost of one node pool from raw node-group facts (pure), for the budget guards
    (config validation and the policy pack, which see node groups as resources):
    ``instance_types`` and ``capacity`` (``"SPOT"``/``"ON_DEMAND"`` as EKS spells them, or the
    config's ``spot``/``on-demand``), ``scalingConfig.minSize`` / ``maxSize``.

    - idle: ``min_nodes`` all month; expected: idle plus ``busy_nodes`` (default
      ``max_nodes``) above the min for ``busy_hours``, or ``warm_nodes`` for ``warm_hours``,
      whichever adds more; max: ``max_nodes`` all month at the dearest of ``instance_types``,
      spot at ``spot_discount`` (pass ``"ON_DEMAND"`` for the ceiling).

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
    node_hours = (min_nodes * HOURS_PER_MONTH, min_nodes * HOURS_PER_MONTH + max(extra_busy, extra_warm),
                  max_nodes * HOURS_PER_MONTH)
    gb_hour = disk_gb * prices.unit("ebs_gp3_gb_month") / HOURS_PER_MONTH
    return PoolCost(
        instances=(node_hours[0] * hourly, node_hours[1] * hourly, node_hours[2] * hourly_max),
        volumes=tuple(h * gb_hour for h in node_hours),  # type: ignore[arg-type]
        hourly=hourly,
        hourly_max=hourly_max,
    )


@dataclass(frozen=True)
class PoolWork:
    """What a pool does in a month besides its min: busy hours and warm work-hour nodes, and
    the hours the schedule lets it run (None: unscheduled, 730)."""

    busy_hours: float = 0.0
    busy_nodes: int | None = None
    warm_nodes: int = 0
    warm_hours: float = 0.0
    window_hours: float | None = None


def pool_items(label: str, vol_label: str, resources: tuple[str, str], category: Category, pool: Any,
               work: PoolWork, prices: "PriceTable", discount: float, azs: Sequence[str]) -> tuple[CostItem, CostItem]:
    """The instance line and the root-volume line of one pool, with their charges."""
    types, h = list(pool.instance_types), HOURS_PER_MONTH
    first = prices.node_price(types[0], "spot" if _is_spot(pool.capacity) else "on-demand", discount, azs)
    dearest = max((prices.instance_price(t) for t in types), key=lambda p: p.usd)
    window = h if work.window_hours is None else work.window_hours
    busy_nodes = pool.max if work.busy_nodes is None else work.busy_nodes
    extras = [(max(0, busy_nodes - pool.min), min(work.busy_hours, window)),
              (max(0, work.warm_nodes - pool.min), min(work.warm_hours, window))]
    n, hours = max(extras, key=lambda e: e[0] * e[1])
    terms: dict[str, list[tuple[float, float]]] = {
        "idle": [(pool.min, h)],
        "expected": [(pool.min, h)] + ([(n, hours)] if n * hours > 0 else []),
        "max": [(pool.max, h)],
        "max_within_schedule": [(pool.max, window)],
    }
    price: dict[str, UnitPrice] = {"idle": first, "expected": first, "max": dearest, "max_within_schedule": dearest}
    gb = prices.unit_price("ebs_gp3_gb_month")
    nodes = {f: [Charge(price[f].key, c, "node", hrs, price[f]) for c, hrs in terms[f]] for f in FIGURES}
    disks = {f: [Charge(f"root volumes, {pool.disk_gb} GB gp3 per node", pool.disk_gb * c, "GB", hrs, gb)
                 for c, hrs in terms[f]] for f in FIGURES}
    return item(label, category, resources[0], nodes), item(vol_label, "storage", resources[1], disks)


# ------------------------------------------------------------------ schedules

def work_hours_per_month(schedule: "ScheduleConfig") -> float:
    """Hours per month between the schedule's ``start`` and ``stop`` in its time zone."""
    from .schedule_hours import scheduled_hours_per_month

    return scheduled_hours_per_month(schedule.start, schedule.stop, schedule.time_zone)


# ------------------------------------------------------------------ the whole stack

def tool_volumes(cost: "CostConfig") -> dict[str, int]:
    """Persistent volumes (GiB) the cost tool creates; the cost-tool component uses the same sizes."""
    volumes = {"prometheus": cost.prometheus.volume_gb}
    if cost.tool == "kubecost":
        volumes.update(KUBECOST_VOLUMES)
    return volumes


def control_plane_support(version: str, on: date | None = None) -> Literal["standard", "extended"]:
    """Which price the control plane bills on ``on`` (default: the clock's today): extended once
    the version's standard support has ended (``modules/eks_support.py``)."""
    from ..eks_support import support

    return "extended" if support(version, on).phase in ("extended", "ended") else "standard"


#: resource types the model prices when it is given the plan's resources (beyond what
#: the config describes): type -> (unit price key, category, label, unit)
PRICED_RESOURCES = {
    "aws:kms/key:Key": ("kms_key_month", "control-plane", "KMS key", "key"),
    "aws:lb/loadBalancer:LoadBalancer": ("nlb_hour", "network", "load balancer", "load balancer"),
}
#: resources the config-based lines already price
_CONFIG_PRICED = {"cluster-secrets"}


def estimate(cfg: "StackConfig", prices: "PriceTable | None" = None, on: date | None = None,
             resources: Sequence[tuple[str, str]] | None = None) -> CostEstimate:
    """The monthly estimate of one stack config, line by line, with notes and what is not priced.

    ``resources``: (type, logical name) of the rendered plan's resources, to price what
    other layers add beyond the config (KMS keys, load balancers); None: config only.
    """
    from ..schema.cost import schedule_of
    from .guard import EFS_THROUGHPUT_KEY, provisioned_mibps
    from .logs import control_plane_logs
    from .network import nat_items
    from .notes import budget_guard, guard_note, log_notes, price_note, schedule_note, spot_notes
    from .pricing import bundled, pool_azs
    from .schedules import scheduled_pool_names
    from .unpriced import not_priced

    prices = prices or bundled()
    cost, h = cfg.cost, HOURS_PER_MONTH
    items: list[CostItem] = []
    notes: list[str] = []

    def const(name: str, category: Category, resource: str, *charges: Charge) -> None:
        items.append(item(name, category, resource, {"idle": charges}))

    notes.append(price_note(cfg, prices))

    support = control_plane_support(cfg.cluster.version, on)
    const(f"EKS control plane ({support} support, {cfg.cluster.version})", "control-plane", "cluster-eks",
          Charge("cluster", 1, "cluster", h, prices.eks_price(support)))
    const("KMS key for secrets encryption", "control-plane", "cluster-secrets",
          Charge("customer managed key", 1, "key", None, prices.unit_price("kms_key_month")))
    logs = control_plane_logs(cfg)
    if logs.gb:
        how = "gpufleet:cost.logs_gb" if logs.configured else "estimated from lease renewals"
        const(f"control-plane logs ({logs.gb:g} GB/month, {how})", "observability", "cluster-logs",
              Charge("GB ingested", logs.gb, "GB", None, prices.unit_price("cloudwatch_logs_ingest_gb")),
              Charge("GB stored for a month", logs.gb, "GB", None, prices.unit_price("cloudwatch_logs_store_gb_month")))
    notes.extend(log_notes(logs))

    items.extend(nat_items(cfg, prices))  # NAT gateways or the NAT instance (modules/cost/network.py)
    for i in range(cost.load_balancers):
        const(f"Network Load Balancer {i + 1}", "network", f"nlb-{i + 1}",
              Charge("load balancer", 1, "load balancer", h, prices.unit_price("nlb_hour")))

    s = cfg.pools.system
    items.extend(pool_items(f"system nodes {s.min}..{s.max} × {s.instance_types[0]} ({s.capacity})",
                            f"system root volumes {s.disk_gb} GB gp3 per node", ("pool-system-ng", "pool-system-lt"),
                            "system-nodes", s, PoolWork(), prices, cost.spot_discount, pool_azs(cfg, s)))

    schedule = schedule_of(cfg)
    scheduled = scheduled_pool_names(cfg)
    window = work_hours_per_month(schedule) if schedule else None
    for p in cfg.pools.gpu:
        busy = cost.busy.get(p.name)
        on_schedule = p.name in scheduled
        warm = schedule.pools[p.name].work_hours_nodes if on_schedule and p.name in schedule.pools else 0
        work = PoolWork(busy_hours=busy.hours if busy else 0.0, busy_nodes=busy.nodes if busy else None,
                        warm_nodes=warm, warm_hours=window or 0.0, window_hours=window if on_schedule else None)
        if on_schedule and busy and window is not None and busy.hours > window:
            notes.append(f"{p.name}: gpufleet:cost.busy asks {busy.hours:g} h/month, the schedule allows "
                         f"{window:g}: expected counts {window:g}")
        first = p.instance_types[0]
        dearest = max(p.instance_types, key=prices.instance_hour)
        label = f"GPU pool {p.name}: {p.min}..{p.max} × {first} ({p.capacity})"
        if dearest != first:
            label += f", max at {dearest}"
        items.extend(pool_items(label, f"GPU pool {p.name} root volumes {p.disk_gb} GB gp3 per node",
                                (f"pool-{p.name}-ng", f"pool-{p.name}-lt"), "gpu", p, work, prices,
                                cost.spot_discount, pool_azs(cfg, p)))

    if cost.efs_gb:
        const(f"EFS Standard {cost.efs_gb:g} GB", "storage", "storage-efs",
              Charge("GB stored", cost.efs_gb, "GB", None, prices.unit_price("efs_standard_gb_month")))
    mibps = provisioned_mibps(cfg)
    if mibps:  # billed per MiB/s-month whatever the file system stores or serves
        const(f"EFS provisioned throughput {mibps:,} MiB/s", "storage", "storage-efs-throughput",
              Charge("MiB/s provisioned", mibps, "MiB/s", None, prices.unit_price(EFS_THROUGHPUT_KEY)))
    if cost.s3_gb:
        const(f"S3 Standard {cost.s3_gb:g} GB", "storage", "storage-buckets",
              Charge("GB stored", cost.s3_gb, "GB", None, prices.unit_price("s3_standard_gb_month")))
    for vol, gb in tool_volumes(cost).items():
        const(f"{cost.tool} {vol} volume {gb} GiB gp3", "observability", f"cost-tool-{vol}",
              Charge("GiB gp3", gb, "GB", None, prices.unit_price("ebs_gp3_gb_month")))
    for typ, name in resources or ():
        if typ in PRICED_RESOURCES and name not in _CONFIG_PRICED:
            key, category, label, unit = PRICED_RESOURCES[typ]
            hours = h if key.endswith("_hour") else None
            const(f"{label} {name}", category, name, Charge(label, 1, unit, hours, prices.unit_price(key)))  # type: ignore[arg-type]

    notes.extend(spot_notes(items, cost.spot_discount))
    notes.append(schedule_note(schedule, scheduled, window))
    guard = budget_guard(cfg)
    notes.append(guard_note(guard))
    assumptions = {
        "hours_per_month": h,
        "spot_discount": cost.spot_discount,
        "price_region": prices.region,
        "stack_region": cfg.region,
        "schedule": None if schedule is None else {
            "start": schedule.start, "stop": schedule.stop, "time_zone": schedule.time_zone,
            "hours_per_month": window, "pools": sorted(scheduled)},
        "control_plane_logs": {"gb_per_month": logs.gb, "from": "gpufleet:cost.logs_gb" if logs.configured else "estimate",
                               "estimate_gb_per_month": logs.estimate_gb, "estimate_basis": logs.basis},
    }
    return CostEstimate(items=tuple(items), prices=prices.source, notes=tuple(dict.fromkeys(notes)),
                        not_priced=not_priced(cfg), assumptions=assumptions, budget_guard=guard)

