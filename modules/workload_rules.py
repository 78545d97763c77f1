"""Will it run? The rules that decide whether a workload submitted to a stack ever starts.

A workload starts when four independent components agree, each by its own rule:

1. **Kueue admits it to a flavor** (kubernetes-sigs/kueue
   ``pkg/scheduler/flavorassigner/flavorassigner.go``): the team's ClusterQueue tries its
   flavors in order; a flavor fits when the pods' node selector does not contradict the
   flavor's ``nodeLabels``, every requested resource is covered by the queue (except the
   ``excludeResourcePrefixes`` of the manager config, ``pkg/workload/resources.go``), and the
   whole gang's requests fit the nominal quota plus what the queue may borrow from its
   cohort (``borrowingLimit``; others' ``lendingLimit``). Kueue then injects the flavor's
   ``nodeLabels`` as node selector and its ``tolerations``.
2. **The cluster-autoscaler scales the flavor's pool up from zero** (kubernetes/autoscaler
   ``cluster-autoscaler/FAQ.md`` "How does scale-up work?", ``core/scaleup/orchestrator``):
   the pod's priority is not below ``--expendable-pods-priority-cutoff`` (default -10,
   ``config/flags/flags.go``; lower pods never trigger a scale-up and are evicted freely), and
   the scheduler's predicates pass on the *template node* (``cloudprovider/aws/aws_manager.go``
   ``buildNodeFromTemplate``, see :mod:`modules.node_model`): every requested resource present
   and large enough, taints tolerated, node selector satisfied, and no PVC waiting for a local
   PV of a no-provisioner class (such a volume does not exist until a node does:
   kubernetes/autoscaler#1658, sig-storage-local-static-provisioner#288).
3. **It fits the real node** (kube-scheduler ``NodeResourcesFit``): requests at most the ready
   node's allocatable (:class:`modules.node_model.NodeShape`) less what the platform's
   DaemonSets take (``ml.kueue.node_reserved_*``). The template keeps the instance's nominal
   cpu and memory, so a pod can pass rule 2 and still not fit: the autoscaler then adds a node
   the pod never lands on.
4. **It is ready before Kueue gives up** (kueue ``apis/config/v1beta2/configuration_types.go``,
   ``WaitForPodsReady``): an admitted workload whose pods are not all ready within the
   timeout is evicted and requeued with backoff, and deactivated after ``backoffLimitCount``
   tries. The time a pool at zero needs: EC2 launch + node join + GPU stack (+ EFA) + MIG
   reconfiguration with reboot on MIG pools + pulling the image
   (``modules/data/node_ready_minutes.json``: estimates, with their sources).

The same rules serve the configuration checks (``ml.kueue.pods_ready_timeout_minutes``), the
tests of every shipped example and of a job per team and pool, and a workload simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from . import catalog
from .k8s_quantity import parse_quantity

if TYPE_CHECKING:  # pragma: no cover
    from .schema.pools import GpuPool

#: cluster-autoscaler ``--expendable-pods-priority-cutoff`` default (config/flags/flags.go)
EXPENDABLE_PRIORITY_CUTOFF = -10
#: Kueue's default ``waitForPodsReady.timeout`` (minutes)
KUEUE_DEFAULT_PODS_READY_MINUTES = 10
#: units the rules work in: cpu millicores, memory and huge pages MiB, ephemeral-storage GiB
MIB, GIB = 2 ** 20, 2 ** 30


def canonical(resources: Mapping[str, Any]) -> dict[str, float]:
    """Kubernetes resource quantities in the rules' units."""
    out: dict[str, float] = {}
    for name, value in resources.items():
        q = parse_quantity(value)
        if name == "cpu":
            out[name] = q * 1000
        elif name == "memory" or name.startswith("hugepages-"):
            out[name] = q / MIB
        elif name == "ephemeral-storage":
            out[name] = q / GIB
        else:
            out[name] = q
    return out


@dataclass(frozen=True)
class PodSet:
    """``count`` identical pods of a workload (a gang is admitted and placed whole)."""

    requests: Mapping[str, float]
    count: int = 1
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, str], ...] = ()
    priority: int = 0
    #: PVCs of a no-provisioner (local PV) class the pods wait for
    local_pvcs: int = 0


@dataclass(frozen=True)
class Workload:
    name: str
    queue: str
    pod_sets: tuple[PodSet, ...]


@dataclass(frozen=True)
class PoolFacts:
    """What the plan sends for one pool: its Auto Scaling group's node-template tags, the
    node group's labels and taints, and the node a ready instance becomes."""

    name: str
    instance_types: tuple[str, ...]
    labels: Mapping[str, str]
    taints: tuple[tuple[str, str, str], ...]
    template_tags: Mapping[str, str]
    max_nodes: int
    ready_minutes: float
    #: allocatable of the smallest instance type, in the rules' units
    allocatable: Mapping[str, float]


# ------------------------------------------------------------------ 1. Kueue


def _selector_conflicts(selector: Mapping[str, str], node_labels: Mapping[str, str]) -> list[str]:
    return [f"{k}={v} (the flavor has {node_labels[k]})" for k, v in selector.items()
            if k in node_labels and node_labels[k] != v]


def kueue_flavor(workload: Workload, cluster_queue: Mapping[str, Any], flavors: Mapping[str, Mapping[str, Any]],
                 borrowable: Mapping[tuple[str, str], float], excluded_prefixes: Sequence[str] = ()
                 ) -> tuple[str | None, list[str]]:
    """The flavor Kueue assigns (first that fits, in the queue's order), or None and why
    no flavor fits. ``borrowable[(flavor, resource)]``: what the queue may borrow there."""
    reasons: list[str] = []
    totals: dict[str, float] = {}
    for ps in workload.pod_sets:
        for r, n in ps.requests.items():
            if not any(r.startswith(p) for p in excluded_prefixes):
                totals[r] = totals.get(r, 0) + n * ps.count
    selector = {k: v for ps in workload.pod_sets for k, v in ps.node_selector.items()}
    for group in cluster_queue.get("resourceGroups", []):
        covered = set(group.get("coveredResources", []))
        missing = sorted(set(totals) - covered)
        for fl in group.get("flavors", []):
            name = fl["name"]
            if missing:
                reasons.append(f"{name}: the queue covers no {', '.join(missing)}")
                continue
            conflicts = _selector_conflicts(selector, flavors.get(name, {}).get("nodeLabels", {}))
            if conflicts:
                reasons.append(f"{name}: node selector {', '.join(conflicts)}")
                continue
            short = []
            for res in fl.get("resources", []):
                want = totals.get(res["name"], 0)
                nominal = canonical({res["name"]: res["nominalQuota"]})[res["name"]]
                limit = res.get("borrowingLimit")
                borrow = borrowable.get((name, res["name"]), 0)
                if limit is not None:
                    borrow = min(borrow, canonical({res["name"]: limit})[res["name"]])
                if want > nominal + borrow + 1e-9:
                    short.append(f"{res['name']} {want:g} > quota {nominal:g} + borrowable {borrow:g}")
            if short:
                reasons.append(f"{name}: {'; '.join(short)}")
                continue
            return name, []
    return None, reasons or ["the queue has no flavor"]


def cohort_borrowable(cluster_queues: Iterable[Mapping[str, Any]], cohorts: Iterable[Mapping[str, Any]]
                      ) -> dict[str, dict[tuple[str, str], float]]:
    """Per ClusterQueue: what it may borrow per (flavor, resource) from an idle cohort: the
    other queues' nominal quota (up to their lendingLimit) plus the cohort's own quota."""
    lendable: dict[tuple[str, str, str], float] = {}  # (queue, flavor, resource)
    own: dict[tuple[str, str], float] = {}
    for cq in cluster_queues:
        for group in cq["spec"].get("resourceGroups", []):
            for fl in group["flavors"]:
                for res in fl["resources"]:
                    amount = canonical({res["name"]: res.get("lendingLimit", res["nominalQuota"])})[res["name"]]
                    lendable[(cq["metadata"]["name"], fl["name"], res["name"])] = amount
    for cohort in cohorts:
        for group in cohort.get("spec", {}).get("resourceGroups", []):
            for fl in group["flavors"]:
                for res in fl["resources"]:
                    own[(fl["name"], res["name"])] = own.get((fl["name"], res["name"]), 0) + canonical(
                        {res["name"]: res["nominalQuota"]})[res["name"]]
    out: dict[str, dict[tuple[str, str], float]] = {}
    names = {q for q, _, _ in lendable}
    for q in names:
        pool: dict[tuple[str, str], float] = dict(own)
        for (other, fl, res), n in lendable.items():
            if other != q:
                pool[(fl, res)] = pool.get((fl, res), 0) + n
        out[q] = pool
    return out


# ------------------------------------------------------- 2. the autoscaler's template node


def tolerates(tolerations: Iterable[Mapping[str, str]], taint: tuple[str, str, str]) -> bool:
    """Kubernetes toleration matching (k8s.io/api core/v1 ``Toleration.ToleratesTaint``)."""
    key, value, effect = taint
    for t in tolerations:
        if t.get("effect") and t["effect"] != effect:
            continue
        if t.get("operator", "Equal") == "Exists":
            if not t.get("key") or t["key"] == key:
                return True
        elif t.get("key") == key and t.get("value", "") == value:
            return True
    return False


def autoscaler_scale_up(ps: PodSet, pool: PoolFacts, cutoff: int = EXPENDABLE_PRIORITY_CUTOFF) -> list[str]:
    """Why the autoscaler would *not* add a node of ``pool`` for this pod (empty: it would)."""
    from .node_model import template_capacity

    reasons = []
    if ps.priority < cutoff:
        reasons.append(f"priority {ps.priority} is below the expendable cutoff {cutoff}: never scales a pool up")
    if ps.local_pvcs:
        reasons.append("waits for a local PV, which no node at zero can offer")
    for taint in pool.taints:
        if not tolerates(ps.tolerations, taint):
            reasons.append(f"does not tolerate the taint {taint[0]}={taint[1]}:{taint[2]}")
    for k, v in ps.node_selector.items():
        if pool.labels.get(k) != v:
            reasons.append(f"node selector {k}={v} is not a label of the pool")
    templates = [template_capacity(t, pool.template_tags) for t in pool.instance_types]
    for r, n in ps.requests.items():
        offered = min(t.get(r, 0) for t in templates)
        if n > offered + 1e-9:
            reasons.append(f"{r} {n:g} > {offered:g} on the template node")
    return reasons


# ------------------------------------------------------------------ 3. the real node


def fits_node(ps: PodSet, pool: PoolFacts, reserved: Mapping[str, float] | None = None) -> list[str]:
    """Why a pod would not fit a ready node of ``pool`` (empty: it fits)."""
    reasons = []
    for r, n in ps.requests.items():
        free = pool.allocatable.get(r, 0) - (reserved or {}).get(r, 0)
        if n > free + 1e-9:
            reasons.append(f"{r} {n:g} > {free:g} free on a ready node")
    return reasons


# ------------------------------------------------------------------ 4. time to ready


def ready_minutes(pool: GpuPool) -> float:
    """Minutes from a scale-up decision to a ready pod on a new node of ``pool`` (the
    slowest of its instance types), image pull included."""
    t = catalog.load("node_ready_minutes.json")
    launch = max(t["launch"].get(catalog.instance_type(i).family, t["launch"]["default"]) for i in pool.instance_types)
    total = launch + t["join"] + t["gpu_stack"] + t["image_pull"]
    if pool.efa:
        total += t["efa"]
    if pool.sharing == "mig":
        total += t["mig_reconfigure"]
    return total


def provision_minutes(pool: GpuPool) -> float:
    """Minutes until a new node of ``pool`` registers (what the autoscaler's
    ``--max-node-provision-time`` bounds)."""
    t = catalog.load("node_ready_minutes.json")
    return max(t["launch"].get(catalog.instance_type(i).family, t["launch"]["default"])
               for i in pool.instance_types) + t["join"]


def pods_ready_timeout_minutes(pools: Sequence[GpuPool]) -> int:
    """The Kueue ``waitForPodsReady`` timeout a stack needs: the slowest pool's time to
    ready, with half again as margin, in whole 5 minutes, never below Kueue's default."""
    slowest = max((ready_minutes(p) for p in pools), default=0)
    return max(KUEUE_DEFAULT_PODS_READY_MINUTES, 5 * math.ceil(slowest * 1.5 / 5))


# ------------------------------------------------------------------ all four


@dataclass(frozen=True)
class Verdict:
    workload: str
    flavor: str | None
    reasons: tuple[str, ...]

    @property
    def runs(self) -> bool:
        return self.flavor is not None and not self.reasons


def will_it_run(workload: Workload, cluster_queue: Mapping[str, Any], flavors: Mapping[str, Mapping[str, Any]],
                pools: Mapping[str, PoolFacts], borrowable: Mapping[tuple[str, str], float], *,
                timeout_minutes: float, excluded_prefixes: Sequence[str] = (),
                reserved: Mapping[str, float] | None = None, cutoff: int = EXPENDABLE_PRIORITY_CUTOFF) -> Verdict:
    """Every rule, in the order a workload meets them."""
    flavor, reasons = kueue_flavor(workload, cluster_queue, flavors, borrowable, excluded_prefixes)
    if flavor is None:
        return Verdict(workload.name, None, tuple(f"Kueue: {r}" for r in reasons))
    pool = pools[flavor]
    spec = flavors[flavor]
    out: list[str] = []
    for ps in workload.pod_sets:
        admitted = PodSet(ps.requests, ps.count, {**ps.node_selector, **spec.get("nodeLabels", {})},
                          (*ps.tolerations, *spec.get("tolerations", [])), ps.priority, ps.local_pvcs)
        out += [f"autoscaler: {r}" for r in autoscaler_scale_up(admitted, pool, cutoff)]
        out += [f"node: {r}" for r in fits_node(admitted, pool, reserved)]
        if ps.count > pool.max_nodes * max(1, _pods_per_node(admitted, pool, reserved)):
            out.append(f"node: {ps.count} pods need more than {pool.max_nodes} nodes of {pool.name}")
    if pool.ready_minutes >= timeout_minutes:
        out.append(f"Kueue: a node of {pool.name} needs ~{pool.ready_minutes:g} min to be ready, "
                   f"waitForPodsReady gives up after {timeout_minutes:g} min")
    return Verdict(workload.name, flavor, tuple(out))


def _pods_per_node(ps: PodSet, pool: PoolFacts, reserved: Mapping[str, float] | None) -> int:
    fits = [(pool.allocatable.get(r, 0) - (reserved or {}).get(r, 0)) // n for r, n in ps.requests.items() if n > 0]
    return int(min(fits)) if fits else 1
