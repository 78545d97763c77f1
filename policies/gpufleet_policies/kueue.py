"""GPU sharing: Kueue quotas within what the pools can offer, time-slicing within a bound."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator, Mapping

import yaml
from pulumi_policy import (ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs,
                           StackValidationPolicy)

from . import defaults
from ._policy import mandatory
from ._pools import NOT_KNOWN, READ_NO_GUESS, cannot_verify, gpu_pools, node_resources
from ._props import CONFIG_MAP, HELM_RELEASE, POOL_LABEL, chart_name, get, known, plain, quantity

KUEUE_GROUP = "kubernetes:kueue.x-k8s.io/"
def _kind(r: Any, kind: str) -> bool:
    return r.resource_type.startswith(KUEUE_GROUP) and r.resource_type.endswith(f":{kind}")


def _k8s_name(r: Any) -> str:
    name = get(r.props, "metadata.name")
    return name if isinstance(name, str) else r.name


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _amount(x: float, resource: str) -> str:
    """A quantity as people read it: memory in GiB, the rest as numbers (CPU in cores)."""
    return f"{x / 2**30:,.1f}Gi" if resource == "memory" else _n(round(x, 3))


def quotas_within_capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    percent = float(config.get("maxQuotaPercent") or 100)
    flavor_pool: dict[str, str] = {}
    for r in args.resources:
        if _kind(r, "ResourceFlavor"):
            labels = plain(get(r.props, "spec.nodeLabels", {}))
            pool = labels.get(POOL_LABEL) if isinstance(labels, dict) else None
            flavor_pool[_k8s_name(r)] = pool if isinstance(pool, str) else _k8s_name(r)
    pools = {facts.pool: (r, facts) for r, facts in gpu_pools(args.resources)}
    totals: dict[tuple[str, str], float] = defaultdict(float)
    queues: dict[tuple[str, str], list[str]] = defaultdict(list)
    unread: list[str] = []
    for cq in (r for r in args.resources if _kind(r, "ClusterQueue")):
        groups = plain(get(cq.props, "spec.resourceGroups", []))
        if not known(groups):
            unread.append(f"ClusterQueue {_k8s_name(cq)}: spec.resourceGroups {NOT_KNOWN}")
            continue
        for group in groups or []:
            for flavor in (group or {}).get("flavors") or []:
                for res in (flavor or {}).get("resources") or []:
                    raw = (res or {}).get("nominalQuota")
                    if not known(raw) or not known(flavor.get("name")):
                        unread.append(f"ClusterQueue {_k8s_name(cq)}: a nominalQuota {NOT_KNOWN}")
                        continue
                    amount = quantity(raw)
                    if amount is None or not isinstance(flavor.get("name"), str):
                        continue
                    key = (flavor["name"], str(res.get("name")))
                    totals[key] += amount
                    queues[key].append(_k8s_name(cq))
    for (flavor, resource), total in sorted(totals.items()):
        pool_name = flavor_pool.get(flavor, flavor)
        if pool_name not in pools:
            continue
        node_group, facts = pools[pool_name]
        size = cannot_verify(facts, "scalingConfig.maxSize")
        if size:
            unread.append(f"the quota of flavor '{flavor}' on pool {size}")
            continue
        per_node = node_resources(args.resources, node_group).get(resource)
        if per_node is None or facts.max_size is None:
            continue
        capacity = facts.max_size * per_node
        if total > capacity * percent / 100:
            names = ", ".join(sorted(queues[(flavor, resource)]))
            report(f"ClusterQueue(s) {names} guarantee {_amount(total, resource)} {resource} on flavor '{flavor}', "
                   f"but pool '{pool_name}' offers at most {_amount(capacity, resource)} ({_n(facts.max_size)} nodes x {_amount(per_node, resource)})")
    if unread:
        report(f"cannot verify that the Kueue quotas fit the pools: {'; '.join(dict.fromkeys(unread))}; "
               f"{READ_NO_GUESS}")


def _timeslice_configs(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(where, parsed device-plugin config) for a ConfigMap or the GPU Operator chart's inline config."""
    data: Mapping[str, Any] = {}
    if args.resource_type == CONFIG_MAP:
        data = plain(get(args.props, "data", {})) or {}
    elif args.resource_type == HELM_RELEASE and chart_name(args.props) == "gpu-operator":
        data = plain(get(args.props, "values.devicePlugin.config.data", {})) or {}
    for key, text in (data.items() if isinstance(data, Mapping) else []):
        if isinstance(text, str) and "timeSlicing" in text:
            try:
                yield key, yaml.safe_load(text)
            except yaml.YAMLError:
                continue


def timeslice_replicas(args: ResourceValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    low = int(config.get("minReplicas") or defaults.TIMESLICE_REPLICAS["min"])
    high = int(config.get("maxReplicas") or defaults.TIMESLICE_REPLICAS["max"])
    for key, doc in _timeslice_configs(args):
        resources = (((doc or {}).get("sharing") or {}).get("timeSlicing") or {}).get("resources") or []
        for res in resources:
            replicas = (res or {}).get("replicas")
            if not isinstance(replicas, int) or not low <= replicas <= high:
                report(f"time-slicing config '{key}' in '{args.name}' shares each {res.get('name', 'GPU')} "
                       f"{replicas} ways: allowed {low} to {high} replicas (each replica gets 1/{replicas} of "
                       f"the GPU's time and shares its memory without isolation)")


POLICIES = [
    mandatory(StackValidationPolicy, "kueue-quota-within-capacity",
              "Kueue ClusterQueue nominal quotas per flavor fit the GPU pool's max nodes x per-node resources "
              "(GPUs and MIG slices from the node-template tags, CPU and memory from the catalog).",
              quotas_within_capacity, {
                  "maxQuotaPercent": {"type": "number", "minimum": 1,
                                      "description": "sum of nominal quotas as a percent of pool capacity (default 100)"},
              }),
    mandatory(ResourceValidationPolicy, "timeslice-replicas-bound",
              "GPU time-slicing shares a GPU between a bounded number of pods.",
              timeslice_replicas, {
                  "minReplicas": {"type": "integer", "minimum": 2, "description": "default 2"},
                  "maxReplicas": {"type": "integer", "minimum": 2, "description": "default 16"},
              }),
]
