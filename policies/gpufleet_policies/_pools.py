"""What a node group is, read back from its props: the facts the node and cost rules share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from gpufleet.modules import catalog

from ._props import (ASG_TAG, CA_TEMPLATE, NODE_GROUP, POOL_LABEL, PURPOSE_LABEL, ALWAYS_ON_LABEL, UNKNOWN,
                     get, known, number, plain, quantity, tags_of)


@dataclass(frozen=True)
class PoolFacts:
    """One EKS managed node group as the policies see it."""

    pool: str
    resource: str
    instance_types: tuple[str, ...]
    capacity: str  # ON_DEMAND | SPOT | UNKNOWN
    min_size: float | None
    max_size: float | None
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def gpu(self) -> bool:
        """Every known instance type of the pool has NVIDIA GPUs (or the pool says it is a GPU pool)."""
        if self.labels.get("gpufleet.io/role") == "gpu":
            return True
        types = [catalog.instance_type(t) for t in self.instance_types]
        return bool(types) and all(t is not None and t.has_gpu for t in types)

    @property
    def purpose(self) -> str | None:
        return self.labels.get(PURPOSE_LABEL)

    @property
    def spot(self) -> bool:
        return self.capacity == "SPOT"

    def always_on(self, config: Mapping[str, Any]) -> bool:
        listed = config.get("alwaysOnPools") or []
        marked = "true" in (self.labels.get(ALWAYS_ON_LABEL), self.tags.get(ALWAYS_ON_LABEL))
        return self.pool in listed or marked

    @property
    def gpus_per_node(self) -> int:
        it = catalog.instance_type(self.instance_types[0]) if self.instance_types else None
        return it.gpu_count if it is not None else 0


def pool_facts(props: Any, name: str) -> PoolFacts:
    labels = plain(get(props, "labels", {}))
    labels = {k: v for k, v in labels.items() if isinstance(v, str)} if isinstance(labels, dict) else {}
    types = plain(get(props, "instanceTypes", []))
    types = tuple(t for t in types if isinstance(t, str)) if isinstance(types, list) else ()
    capacity = get(props, "capacityType", "ON_DEMAND")
    min_size, max_size = get(props, "scalingConfig.minSize"), get(props, "scalingConfig.maxSize")
    pool = labels.get(POOL_LABEL) or get(props, "nodeGroupName") or name
    return PoolFacts(
        pool=pool if known(pool) else name,
        resource=name,
        instance_types=types,
        capacity=capacity if known(capacity) else "UNKNOWN",
        min_size=number(min_size),
        max_size=number(max_size),
        labels=labels,
        tags=tags_of(props),
    )


def gpu_pools(resources: Iterable[Any]) -> list[tuple[Any, PoolFacts]]:
    """(resource, facts) of every GPU node group of a stack (``PolicyResource`` list)."""
    out = []
    for r in resources:
        if r.resource_type == NODE_GROUP:
            facts = pool_facts(r.props, r.name)
            if facts.gpu:
                out.append((r, facts))
    return out


def _parent_urn(r: Any) -> str | None:
    parent = getattr(r, "parent", None)
    return getattr(parent, "urn", None) if parent is not None else None


#: resources a node's allocatable (catalog) tells, for pools whose node-template tags don't
CATALOG_RESOURCES = ("cpu", "memory", "pods")


def node_resources(resources: Iterable[Any], node_group: Any) -> dict[str, float]:
    """What one node of ``node_group`` offers the scheduler. Extended resources (GPUs, MIG
    slices, EFA) from the cluster-autoscaler node-template tags on its Auto Scaling group
    (the ``aws:autoscaling/tag:Tag`` resources sharing the node group's parent component,
    or naming its pool in a label tag); CPU, memory and pods from the catalog's allocatable
    of the pool's smallest instance type (what every node of the pool can guarantee)."""
    facts = pool_facts(node_group.props, node_group.name)
    parent = _parent_urn(node_group)
    groups: dict[str | None, dict[str, str]] = {}
    for r in resources:
        if r.resource_type != ASG_TAG:
            continue
        key, value = get(r.props, "tag.key"), get(r.props, "tag.value")
        if isinstance(key, str) and isinstance(value, str):
            groups.setdefault(_parent_urn(r) or f"asg:{get(r.props, 'autoscalingGroupName')}", {})[key] = value
    tags: dict[str, str] = {}
    if parent is not None and parent in groups:
        tags = groups[parent]
    else:
        for group in groups.values():
            if group.get(f"{CA_TEMPLATE}/label/{POOL_LABEL}") == facts.pool:
                tags = group
                break
    prefix = f"{CA_TEMPLATE}/resources/"
    found = {k[len(prefix):]: number(v) for k, v in tags.items() if k.startswith(prefix)}
    found = {k: v for k, v in found.items() if v is not None}
    has_gpus = "nvidia.com/gpu" in found or any(k.startswith("nvidia.com/mig-") for k in found)
    if not has_gpus and facts.gpus_per_node:
        found["nvidia.com/gpu"] = float(facts.gpus_per_node)
    types = [catalog.instance_type(t) for t in facts.instance_types]
    if types and all(t is not None for t in types):
        for key in CATALOG_RESOURCES:
            amounts = [quantity(t.allocatable.get(key)) for t in types]
            if all(a is not None for a in amounts):
                found.setdefault(key, min(amounts))
    return found


__all__ = ["PoolFacts", "pool_facts", "gpu_pools", "node_resources", "UNKNOWN"]
