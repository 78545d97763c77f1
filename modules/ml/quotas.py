"""Kueue quotas derived from pool capacity (pure functions, no Pulumi).

A pool's capacity is ``max nodes × per-node allocatable`` for cpu and memory (the
smallest instance type of the pool, less what DaemonSets keep), and ``max nodes × the
GPU resources one node advertises`` (× replicas for time-slicing, × slices for MIG, as
:attr:`GpuPool.gpu_resources_per_node` says). Each team's nominal quota on a pool is
``floor(capacity × share / 100)``: shares add up to at most 100 %, so the nominal quotas
of a pool never add up to more than the pool. What no team is guaranteed stays in the
cohort (the ``Cohort`` object's own quota), where every team using the pool may borrow it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.pools import GpuPool
    from ..schema.stack import StackConfig
    from ..schema.teams import Team

CPU, MEMORY = "cpu", "memory"
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)([a-zA-Z]*)$")
_MEMORY_UNITS_MIB = {"": 1 / 2**20, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024**2,
                     "k": 1000 / 2**20, "M": 1000**2 / 2**20, "G": 1000**3 / 2**20}


def parse_cpu_millis(q: str | int) -> int:
    """``"3920m"`` -> 3920, ``"4"`` -> 4000."""
    m = _QUANTITY.match(str(q))
    if not m or m.group(2) not in ("", "m"):
        raise ValueError(f"not a CPU quantity: {q!r}")
    value = float(m.group(1))
    return int(value) if m.group(2) == "m" else int(value * 1000)


def parse_memory_mib(q: str | int) -> int:
    """``"14162Mi"`` -> 14162, ``"15Gi"`` -> 15360 (rounded down to whole MiB)."""
    m = _QUANTITY.match(str(q))
    if not m or m.group(2) not in _MEMORY_UNITS_MIB:
        raise ValueError(f"not a memory quantity: {q!r}")
    return int(float(m.group(1)) * _MEMORY_UNITS_MIB[m.group(2)])


def quantity(resource: str, amount: int) -> str | int:
    """Kubernetes form of an amount in this module's units (cpu millicores, memory MiB, devices)."""
    if resource == CPU:
        return amount // 1000 if amount % 1000 == 0 else f"{amount}m"
    if resource == MEMORY:
        return f"{amount}Mi"
    return amount


def share_of(total: int, percent: int) -> int:
    """The whole units ``percent`` % of ``total`` guarantees (rounded down, never above)."""
    return total * percent // 100


@dataclass(frozen=True)
class Capacity:
    """What a pool (or one node of it) offers: cpu millicores, memory MiB, GPU devices by resource name."""

    cpu_millis: int
    memory_mib: int
    gpus: Mapping[str, int] = field(default_factory=dict)

    def as_resources(self) -> dict[str, int]:
        return {CPU: self.cpu_millis, MEMORY: self.memory_mib, **self.gpus}


def node_allocatable(pool: GpuPool) -> tuple[int, int]:
    """(cpu millicores, memory MiB) the smallest instance type of the pool reports as allocatable."""
    from .. import catalog

    types = [catalog.instance_type(t) for t in pool.instance_types]
    return (min(parse_cpu_millis(t.allocatable["cpu"]) for t in types),
            min(parse_memory_mib(t.allocatable["memory"]) for t in types))


def node_capacity(pool: GpuPool, reserved_cpu_millis: int, reserved_memory_mib: int) -> Capacity:
    """What one node of the pool offers to workloads."""
    cpu, mem = node_allocatable(pool)
    return Capacity(max(cpu - reserved_cpu_millis, 0), max(mem - reserved_memory_mib, 0),
                    dict(pool.gpu_resources_per_node))


def pool_capacity(pool: GpuPool, reserved_cpu_millis: int, reserved_memory_mib: int) -> Capacity:
    """The whole pool at its max size."""
    node = node_capacity(pool, reserved_cpu_millis, reserved_memory_mib)
    return Capacity(node.cpu_millis * pool.max, node.memory_mib * pool.max,
                    {r: n * pool.max for r, n in node.gpus.items()})


@dataclass(frozen=True)
class FlavorQuota:
    """One flavor (pool) of one ClusterQueue; amounts in this module's units."""

    flavor: str
    nominal: Mapping[str, int]
    #: None: the team may borrow anything idle in the cohort
    borrowing_limit: Mapping[str, int] | None = None
    #: None: the team lends all of its unused nominal quota
    lending_limit: Mapping[str, int] | None = None

    def ceiling(self, capacity: Mapping[str, int]) -> dict[str, int]:
        """Most the team can hold of each resource on this flavor at once."""
        if self.borrowing_limit is None:
            return dict(capacity)
        return {r: min(self.nominal[r] + self.borrowing_limit[r], capacity[r]) for r in self.nominal}


def flavor_order(cfg: StackConfig) -> list[str]:
    """Pools in the order Kueue tries them: the configured order, else spot pools first."""
    configured = list(cfg.ml.kueue.flavor_order)
    rest = [p.name for p in cfg.pools.gpu if p.name not in configured]
    rest.sort(key=lambda name: cfg.pool(name).capacity != "spot")
    return configured + rest


def capacities(cfg: StackConfig) -> dict[str, Capacity]:
    k = cfg.ml.kueue
    return {p.name: pool_capacity(p, k.node_reserved_cpu_millis, k.node_reserved_memory_mib) for p in cfg.pools.gpu}


def team_quotas(cfg: StackConfig, team: Team) -> list[FlavorQuota]:
    """The team's ClusterQueue flavors, in flavor order: one per pool the team has a share in."""
    k = cfg.ml.kueue
    caps = capacities(cfg)
    quotas = []
    for pool in flavor_order(cfg):
        if pool not in team.shares:
            continue
        cap = caps[pool].as_resources()
        share = team.shares[pool]
        nominal = {r: share_of(n, share) for r, n in cap.items()}
        ceiling_pct = team.ceilings.get(pool)
        borrow = None
        if ceiling_pct is not None:
            borrow = {r: max(share_of(cap[r], ceiling_pct) - nominal[r], 0) for r in cap}
        elif k.borrowing_limit_percent is not None:
            borrow = {r: min(share_of(cap[r], k.borrowing_limit_percent), cap[r] - nominal[r]) for r in cap}
        lend = None
        if k.lending_limit_percent is not None:
            lend = {r: share_of(n, k.lending_limit_percent) for r, n in nominal.items()}
        quotas.append(FlavorQuota(pool, nominal, borrow, lend))
    return quotas


def covered_resources(cfg: StackConfig, flavors: list[str]) -> list[str]:
    """cpu, memory and every GPU resource name the given pools advertise (sorted)."""
    gpus = sorted({r for name in flavors for r in cfg.pool(name).gpu_resources_per_node})
    return [CPU, MEMORY, *gpus]


def unassigned(cfg: StackConfig) -> dict[str, dict[str, int]]:
    """Per pool that some team uses: capacity no team is guaranteed (the cohort's own quota)."""
    caps = capacities(cfg)
    left: dict[str, dict[str, int]] = {}
    for pool in flavor_order(cfg):
        users = [t for t in cfg.teams if pool in t.shares]
        if not users:
            continue
        cap = caps[pool].as_resources()
        left[pool] = {r: n - sum(share_of(n, t.shares[pool]) for t in users) for r, n in cap.items()}
    return left


def team_ceiling(cfg: StackConfig, team: Team) -> dict[str, int]:
    """Most the team can hold at once across all its pools, per resource (for its ResourceQuota)."""
    caps = capacities(cfg)
    total: dict[str, int] = {}
    for q in team_quotas(cfg, team):
        for r, n in q.ceiling(caps[q.flavor].as_resources()).items():
            total[r] = total.get(r, 0) + n
    return total


def largest_node(cfg: StackConfig, team: Team) -> Capacity | None:
    """The biggest node (cpu, memory) among the team's pools: no container may ask for more."""
    k = cfg.ml.kueue
    nodes = [node_capacity(cfg.pool(p), k.node_reserved_cpu_millis, k.node_reserved_memory_mib) for p in team.shares]
    if not nodes:
        return None
    return Capacity(max(n.cpu_millis for n in nodes), max(n.memory_mib for n in nodes))
