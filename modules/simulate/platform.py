"""The stack as the simulator sees it: pools, queues, priorities, timings and prices.

Built from what a recorded plan sends (``gpufleet.will_it_run.stack_facts``: ClusterQueues,
ResourceFlavors, node groups with their node-template tags, PriorityClasses, the
autoscaler's cutoff, Kueue's pods-ready timeout), plus what only the plan's objects tell
(the Cohort's own quota, WorkloadPriorityClass values, Kueue's requeuing strategy, the
autoscaler's scale-down flags) and the config (pool sizes, schedule, team job limits),
priced with the cost model's price table and spot assumption. Amounts are in the rules'
units (:func:`modules.workload_rules.canonical`: cpu millicores, memory MiB, devices).

Each pool's resource vector is its GPU resources (``nvidia.com/gpu`` or its MIG profiles)
then ``cpu`` and ``memory``; a node offers its allocatable less the DaemonSet reserve
(``ml.kueue.node_reserved_*``), as the fit rule and the quotas count it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .. import catalog
from .. import workload_rules as rules

if TYPE_CHECKING:  # pragma: no cover
    from ..cost.model import CostEstimate
    from ..cost.pricing import PriceTable
    from ..schema.stack import StackConfig

GPU_PREFIX = "nvidia.com/"
_MIG = re.compile(r"^nvidia\.com/mig-(\d+)g\.(\d+)gb")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)$")


def defaults() -> dict[str, Any]:
    return catalog.load("simulate_defaults.json")


@dataclass(frozen=True)
class Assumptions:
    """What the stack does not say and the simulator must assume (all overridable)."""

    #: spot interruptions per node-hour (simulate_defaults.json, AWS Spot Instance Advisor)
    spot_rate: float = 6.849315e-05
    #: minutes from scale-up to a ready pod, per pool (default: workload_rules.ready_minutes)
    ready_minutes: Mapping[str, float] = field(default_factory=dict)
    #: trace time 0, local time in the schedule's time zone (UTC without a schedule)
    start: str = "2026-01-05T09:00"

    @classmethod
    def default(cls, **changes: Any) -> "Assumptions":
        d = defaults()
        return cls(**{"spot_rate": d["spot_interruptions_per_node_hour"], "start": d["start"], **changes})


@dataclass(frozen=True)
class PoolSpec:
    name: str
    index: int
    resources: tuple[str, ...]
    #: what one node offers pods, aligned with ``resources``
    capacity: tuple[float, ...]
    #: physical GPUs per unit of each GPU resource (1; 1/replicas time-sliced; slices/7 MIG)
    unit_gpus: Mapping[str, float]
    gpus_per_node: int
    gpu_model: str
    gpu_memory_gib: float
    sharing: str
    replicas: int
    #: MIG devices per GPU, profile -> count
    mig_layout: Mapping[str, int]
    min: int
    max: int
    spot: bool
    ready_s: float
    #: USD per node-hour: the instance (first type; spot at the cost model's price) + root volume
    price: float
    instance_type: str
    #: the schedule owns its sizes: nodes kept warm during work hours (None: not scheduled)
    warm: int | None
    facts: rules.PoolFacts

    @property
    def gpu_index(self) -> tuple[int, ...]:
        return tuple(i for i, r in enumerate(self.resources) if r.startswith(GPU_PREFIX))

    def vector(self, amounts: Mapping[str, float]) -> tuple[float, ...]:
        return tuple(float(amounts.get(r, 0.0)) for r in self.resources)


@dataclass(frozen=True)
class FlavorQuota:
    pool: int
    nominal: tuple[float, ...]
    #: None: may borrow anything idle in the cohort
    borrowing: tuple[float, ...] | None
    #: None: lends all of its unused nominal quota
    lending: tuple[float, ...] | None


@dataclass(frozen=True)
class QueueSpec:
    name: str
    team: str
    index: int
    flavors: tuple[FlavorQuota, ...]
    #: the team's max_job_hours (a batch job's activeDeadlineSeconds), seconds
    max_job_s: float


@dataclass(frozen=True)
class Platform:
    stack: str
    facts: Any  # gpufleet.will_it_run.StackFacts
    pools: tuple[PoolSpec, ...]
    queues: Mapping[str, QueueSpec]
    #: the Cohort's own quota per pool (what no team is guaranteed)
    cohort: Mapping[int, tuple[float, ...]]
    #: trace priority name -> (pod priority, Kueue workload priority)
    priorities: Mapping[str, tuple[int, int]]
    cutoff: int
    pods_ready_timeout_s: float
    backoff_limit: int | None
    backoff_base_s: float
    backoff_max_s: float
    unneeded_s: float
    after_add_s: float
    schedule: Any  # modules.schema.cost.ScheduleConfig | None
    fixed_monthly: float
    expected_monthly: float
    pool_expected_monthly: Mapping[str, float]
    assumptions: Assumptions
    start: datetime
    config: Any = None  # StackConfig

    def pool(self, name: str) -> PoolSpec:
        return next(p for p in self.pools if p.name == name)

    def priority(self, value: str | int) -> tuple[int, int] | None:
        if isinstance(value, int):
            return value, value
        return self.priorities.get(value)


def _duration_s(text: str) -> float | None:
    m = _DURATION.match(text.strip())
    if not m:
        return None
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def _flag(args: Sequence[str], name: str) -> str | None:
    for arg in args:
        if str(arg).startswith(f"--{name}="):
            return str(arg).split("=", 1)[1]
    return None


def _quota_vectors(pool: PoolSpec, resources: Sequence[Mapping[str, Any]]) -> FlavorQuota:
    nominal, borrow, lend = {}, {}, {}
    has_b = has_l = False
    for res in resources:
        name = res["name"]
        nominal[name] = rules.canonical({name: res["nominalQuota"]})[name]
        if "borrowingLimit" in res:
            has_b = True
            borrow[name] = rules.canonical({name: res["borrowingLimit"]})[name]
        if "lendingLimit" in res:
            has_l = True
            lend[name] = rules.canonical({name: res["lendingLimit"]})[name]
    return FlavorQuota(pool.index, pool.vector(nominal), pool.vector(borrow) if has_b else None,
                       pool.vector(lend) if has_l else None)


def _unit_gpus(resource: str, sharing: str, replicas: int) -> float:
    m = _MIG.match(resource)
    if m:
        return int(m.group(1)) / 7
    return 1.0 / replicas if sharing == "timeslice" else 1.0


def build(cfg: "StackConfig", stack: str, facts: Any, *, cohorts: Sequence[Mapping[str, Any]],
          workload_priorities: Mapping[str, int], kueue_manager: Mapping[str, Any], autoscaler_args: Sequence[str],
          estimate: "CostEstimate", prices: "PriceTable", assumptions: Assumptions | None = None) -> Platform:
    """The simulator's view of one rendered stack."""
    from zoneinfo import ZoneInfo

    from ..cost.model import HOURS_PER_MONTH, node_hour
    from ..cost.schedules import scheduled_pools
    from ..ml.priorities import PRIORITIES
    from ..schema.cost import schedule_of
    from ..schema.ml import scale_down_delay

    a = assumptions or Assumptions.default()
    schedule = schedule_of(cfg)
    warm = {sp.pool.name: sp.work_hours_nodes for sp in scheduled_pools(list(cfg.pools.gpu), schedule)} if schedule else {}
    gb_hour = prices.unit("ebs_gp3_gb_month") / HOURS_PER_MONTH
    pools: list[PoolSpec] = []
    reserved = facts.reserved
    for i, p in enumerate(cfg.pools.gpu):
        pf = facts.pools[p.name]
        if p.name in a.ready_minutes:
            pf = replace(pf, ready_minutes=float(a.ready_minutes[p.name]))
        gpu_res = sorted(r for r, n in pf.allocatable.items() if r.startswith(GPU_PREFIX) and n > 0)
        resources = (*gpu_res, "cpu", "memory")
        cap = tuple(float(pf.allocatable.get(r, 0)) - float(reserved.get(r, 0)) for r in resources)
        model = p.gpu_model
        gmem = catalog.instance_type(p.instance_types[0]).gpu_memory_mib / 1024
        pools.append(PoolSpec(
            name=p.name, index=i, resources=resources, capacity=cap,
            unit_gpus={r: _unit_gpus(r, p.sharing, p.replicas or 1) for r in gpu_res},
            gpus_per_node=p.instance.gpu_count, gpu_model=model.key, gpu_memory_gib=gmem, sharing=p.sharing,
            replicas=p.replicas or 1, mig_layout=dict(p.mig_layout), min=p.min, max=pf.max_nodes,
            spot=p.capacity == "spot", ready_s=pf.ready_minutes * 60,
            price=node_hour(p.instance_types[0], p.capacity, prices, cfg.cost.spot_discount) + p.disk_gb * gb_hour,
            instance_type=p.instance_types[0], warm=warm.get(p.name), facts=pf))
    by_name = {p.name: p for p in pools}
    if a.ready_minutes:
        facts = replace(facts, pools={**facts.pools, **{p.name: p.facts for p in pools}})
    queues: dict[str, QueueSpec] = {}
    for team in cfg.teams:
        cq = facts.cluster_queues.get(team.queue)
        if cq is None:
            continue
        flavors = tuple(_quota_vectors(by_name[fl["name"]], fl["resources"])
                        for g in cq["spec"].get("resourceGroups", []) for fl in g["flavors"] if fl["name"] in by_name)
        queues[team.queue] = QueueSpec(team.queue, team.name, len(queues), flavors, float(team.max_job_seconds))
    cohort: dict[int, tuple[float, ...]] = {}
    for co in cohorts:
        for g in co.get("spec", {}).get("resourceGroups", []):
            for fl in g["flavors"]:
                if fl["name"] in by_name:
                    q = _quota_vectors(by_name[fl["name"]], fl["resources"]).nominal
                    old = cohort.get(by_name[fl["name"]].index, (0.0,) * len(q))
                    cohort[by_name[fl["name"]].index] = tuple(x + y for x, y in zip(old, q))
    prio: dict[str, tuple[int, int]] = {}
    for p in PRIORITIES:
        if p.pod_class in facts.priority_values:
            pair = (facts.priority_values[p.pod_class], int(workload_priorities.get(p.workload_class, p.workload_value)))
            prio[p.workload_class] = prio[p.pod_class] = pair
    wfpr = (kueue_manager or {}).get("waitForPodsReady") or {}
    strategy = wfpr.get("requeuingStrategy") or {}
    limit = strategy.get("backoffLimitCount")
    delay_min = scale_down_delay(cfg)
    unneeded = _duration_s(_flag(autoscaler_args, "scale-down-unneeded-time") or "") or delay_min * 60.0
    after_add = _duration_s(_flag(autoscaler_args, "scale-down-delay-after-add") or "") or delay_min * 60.0
    gpu_items = {f"pool-{p.name}-ng" for p in cfg.pools.gpu} | {f"pool-{p.name}-lt" for p in cfg.pools.gpu}
    pool_expected = {p.name: round(sum(i.expected for i in estimate.items
                                       if i.resource in (f"pool-{p.name}-ng", f"pool-{p.name}-lt")), 2)
                     for p in cfg.pools.gpu}
    fixed = sum(i.expected for i in estimate.items if i.resource not in gpu_items)
    tz = ZoneInfo(schedule.time_zone) if schedule else ZoneInfo("Etc/UTC")
    start = datetime.fromisoformat(a.start).replace(tzinfo=tz)
    return Platform(
        stack=stack, facts=facts, pools=tuple(pools), queues=queues, cohort=cohort, priorities=prio,
        cutoff=facts.cutoff, pods_ready_timeout_s=facts.timeout_minutes * 60,
        backoff_limit=None if limit is None else int(limit),
        backoff_base_s=float(strategy.get("backoffBaseSeconds", 60)),
        backoff_max_s=float(strategy.get("backoffMaxSeconds", 3600)),
        unneeded_s=unneeded, after_add_s=after_add, schedule=schedule,
        fixed_monthly=round(fixed, 2), expected_monthly=estimate.monthly["expected"],
        pool_expected_monthly=pool_expected, assumptions=a, start=start, config=cfg)
