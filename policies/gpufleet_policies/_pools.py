"""What a node group is, read back from its props: the facts the node and cost rules share.

A size the pack cannot read (``scalingConfig`` computed from another resource's output, so
unknown at preview, or missing) is never taken for 0 nodes: :attr:`PoolFacts.unreadable`
names it, and each rule that needs it reports "cannot verify" (:func:`cannot_verify`), a
violation at the rule's level (mandatory), instead of passing on a guess."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from gpufleet.modules import catalog

from ._props import (ALWAYS_ON_LABEL, ASG_TAG, CA_TEMPLATE, LAUNCH_TEMPLATE, NODE_GROUP, POOL_LABEL, PURPOSE_LABEL,
                     UNKNOWN, get, known, number, plain, quantity, tags_of)


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
    #: props the rules need but cannot read: path -> why ("not known before deployment ...")
    unreadable: Mapping[str, str] = field(default_factory=dict)

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


#: why a prop cannot be read
NOT_KNOWN = "is not known before deployment (a computed value)"
MISSING = "is missing"
#: what every "cannot verify" message ends with
READ_NO_GUESS = ("the pack never counts a size it cannot read as 0 nodes: give the node group sizes known at "
                 "preview (literals, not outputs of other resources)")


def _size(props: Any, path: str, unreadable: dict[str, str]) -> float | None:
    raw = get(props, path)
    value = number(raw)
    if not known(raw):
        unreadable[path] = NOT_KNOWN
    elif raw is None:
        unreadable[path] = MISSING
    elif value is None or value < 0:
        unreadable[path] = "is not a number of nodes"
        value = None
    return value


def pool_facts(props: Any, name: str) -> PoolFacts:
    unreadable: dict[str, str] = {}
    labels = plain(get(props, "labels", {}))
    labels = {k: v for k, v in labels.items() if isinstance(v, str)} if isinstance(labels, dict) else {}
    raw_types = plain(get(props, "instanceTypes", []))
    types = tuple(t for t in raw_types if isinstance(t, str)) if isinstance(raw_types, list) else ()
    if not known(raw_types) or (isinstance(raw_types, list) and any(not known(t) for t in raw_types)):
        unreadable["instanceTypes"] = NOT_KNOWN
    capacity = get(props, "capacityType", "ON_DEMAND")
    min_size = _size(props, "scalingConfig.minSize", unreadable)
    max_size = _size(props, "scalingConfig.maxSize", unreadable)
    pool = labels.get(POOL_LABEL) or get(props, "nodeGroupName") or name
    return PoolFacts(
        pool=pool if known(pool) else name,
        resource=name,
        instance_types=types,
        capacity=capacity if known(capacity) else "UNKNOWN",
        min_size=min_size,
        max_size=max_size,
        labels=labels,
        tags=tags_of(props),
        unreadable=unreadable,
    )


def cannot_verify(facts: PoolFacts, *paths: str) -> str | None:
    """What of ``paths`` the pool's node group does not let the pack read (None: all readable)."""
    found = [f"{p} {facts.unreadable[p]}" for p in paths if p in facts.unreadable]
    return f"{facts.pool} ({facts.resource}): {', '.join(found)}" if found else None


#: EKS's root volume for a node group without a launch template (``diskSize``'s default), and the
#: root volume size of the EKS AMIs a launch template without block device mappings boots
EKS_DEFAULT_DISK_GB = 20


def root_volume_gb(resources: Iterable[Any], node_group: Any) -> tuple[float | None, str | None]:
    """GB of EBS each node of ``node_group`` boots with: the block device mappings of its launch
    template (the one beside it in its parent component, as gpufleet's ``NodePool`` declares
    them; in a preview the node group's ``launchTemplate.id`` is not known yet), or ``diskSize``
    without a launch template. ``(None, why)`` when the pack cannot read it."""
    props = node_group.props
    ref = get(props, "launchTemplate")
    if ref is None:
        disk = get(props, "diskSize")
        if not known(disk):
            return None, f"diskSize {NOT_KNOWN}"
        size = EKS_DEFAULT_DISK_GB if disk is None else number(disk)
        return (size, None) if size is not None else (None, "diskSize is not a number of GB")
    parent = _parent_urn(node_group)
    templates = [r for r in resources if r.resource_type == LAUNCH_TEMPLATE and parent is not None
                 and _parent_urn(r) == parent]
    if len(templates) != 1:
        return None, ("launchTemplate refers to a launch template the pack does not find beside the node group "
                      "(in its parent component), so its root volume size is unknown")
    lt = templates[0]
    mappings = plain(get(lt.props, "blockDeviceMappings", []))
    if not known(mappings) or not isinstance(mappings, list):
        return None, f"{lt.name} blockDeviceMappings {NOT_KNOWN}"
    total, ebs_found = 0.0, False
    for i, mapping in enumerate(mappings):
        ebs = mapping.get("ebs") if isinstance(mapping, Mapping) else None
        if not known(mapping) or not known(ebs):
            return None, f"{lt.name} blockDeviceMappings[{i}] {NOT_KNOWN}"
        if not isinstance(ebs, Mapping):
            continue  # an instance-store or suppressed device: no EBS volume
        size = ebs.get("volumeSize")
        if not known(size):
            return None, f"{lt.name} blockDeviceMappings[{i}].ebs.volumeSize {NOT_KNOWN}"
        ebs_found = True
        total += EKS_DEFAULT_DISK_GB if size is None else (number(size) or 0.0)
    return (total if ebs_found else EKS_DEFAULT_DISK_GB), None


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


__all__ = ["EKS_DEFAULT_DISK_GB", "MISSING", "NOT_KNOWN", "READ_NO_GUESS", "PoolFacts", "cannot_verify",
           "pool_facts", "gpu_pools", "node_resources", "root_volume_gb", "UNKNOWN"]
