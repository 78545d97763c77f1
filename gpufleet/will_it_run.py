"""Will it run on this stack? The rules of :mod:`modules.workload_rules`, applied to what a
recorded plan sends: its ClusterQueues, Cohort, ResourceFlavors, node groups, node-template
tags, PriorityClasses, the autoscaler's flags and Kueue's manager config.

- :func:`stack_facts` reads those facts from a plan (never from the stack file, so a bug
  between config and resources shows up here);
- :func:`workloads` turns submitted manifests (TrainJob, PyTorchJob, InferenceService, Job)
  into :class:`~modules.workload_rules.Workload` s;
- :func:`team_jobs` makes one typical job per team and pool (one GPU unit, a CPU and
  memory share of it) for the checks that must hold on every stack;
- :func:`check` gives a :class:`~modules.workload_rules.Verdict` per workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import yaml

from gpufleet.modules import workload_rules as rules
from gpufleet.modules.k8s_schema import manifest
from gpufleet.modules.node_model import pool_shape
from gpufleet.modules.nodespec import EKS_TAINT_EFFECT, gpu_spec

from .plan import Plan

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ASG_TAG = "aws:autoscaling/tag:Tag"
RELEASE = "kubernetes:helm.sh/v3:Release"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
_EFFECT = {v: k for k, v in EKS_TAINT_EFFECT.items()}


@dataclass(frozen=True)
class StackFacts:
    cluster_queues: Mapping[str, Mapping[str, Any]]
    #: LocalQueue (namespace, name) -> ClusterQueue name
    local_queues: Mapping[tuple[str, str], str]
    flavors: Mapping[str, Mapping[str, Any]]
    pools: Mapping[str, rules.PoolFacts]
    borrowable: Mapping[str, Mapping[tuple[str, str], float]]
    priority_values: Mapping[str, int]
    cutoff: int
    timeout_minutes: float
    excluded_prefixes: tuple[str, ...]
    reserved: Mapping[str, float]
    no_provisioner_classes: frozenset[str]


def _objects(plan: Plan, kind: str) -> list[dict[str, Any]]:
    out = []
    for r in plan.resources:
        if r.type.endswith(f":{kind}"):
            obj = manifest(r.type, r.inputs)
            if obj is not None:
                out.append(obj)
    return out


def _release_values(plan: Plan, chart_suffix: str) -> Mapping[str, Any] | None:
    for r in plan.by_type(RELEASE):
        if str(r.inputs.get("chart", "")).endswith(chart_suffix):
            return r.inputs.get("values") or {}
    return None


def stack_facts(plan: Plan) -> StackFacts:
    cfg = plan.config
    cqs = {o["metadata"]["name"]: o for o in _objects(plan, "ClusterQueue")}
    cohorts = _objects(plan, "Cohort")
    flavors = {o["metadata"]["name"]: o["spec"] for o in _objects(plan, "ResourceFlavor")}
    pools: dict[str, rules.PoolFacts] = {}
    for pool in cfg.pools.gpu:
        ng = plan.get(NODE_GROUP, f"pool-{pool.name}-ng").inputs
        tags = {r.inputs["tag"]["key"]: r.inputs["tag"]["value"]
                for r in plan.by_type(ASG_TAG) if r.name.startswith(f"pool-{pool.name}-asg-")}
        spec = gpu_spec(pool, cfg.network.azs)
        shape = pool_shape(spec.instance_types, disk_gb=spec.disk_gb, nvme_raid0=spec.nvme_raid0,
                           hugepages_2mi=spec.hugepages_2mi, extended=spec.resources)
        pools[pool.name] = rules.PoolFacts(
            name=pool.name, instance_types=tuple(ng["instanceTypes"]), labels=ng.get("labels") or {},
            taints=tuple((t["key"], t.get("value", ""), _EFFECT[t["effect"]]) for t in ng.get("taints") or []),
            template_tags=tags, max_nodes=int(ng["scalingConfig"]["maxSize"]),
            ready_minutes=rules.ready_minutes(pool), allocatable=shape.allocatable())
    ca = _release_values(plan, "cluster-autoscaler") or {}
    cutoff = rules.EXPENDABLE_PRIORITY_CUTOFF
    for arg in ca.get("customArgs", []) or []:
        if str(arg).startswith("--expendable-pods-priority-cutoff="):
            cutoff = int(str(arg).split("=", 1)[1])
    kueue = _release_values(plan, "kueue") or {}
    manager = yaml.safe_load(kueue.get("managerConfig", {}).get("controllerManagerConfigYaml", "{}")) or {}
    timeout = str(manager.get("waitForPodsReady", {}).get("timeout", f"{rules.KUEUE_DEFAULT_PODS_READY_MINUTES}m"))
    k = cfg.ml.kueue
    return StackFacts(
        cluster_queues=cqs,
        local_queues={(o["metadata"]["namespace"], o["metadata"]["name"]): o["spec"]["clusterQueue"]
                      for o in _objects(plan, "LocalQueue")},
        flavors=flavors, pools=pools,
        borrowable=rules.cohort_borrowable(cqs.values(), cohorts),
        priority_values={o["metadata"]["name"]: int(o["value"]) for o in _objects(plan, "PriorityClass")},
        cutoff=cutoff,
        timeout_minutes=float(timeout.removesuffix("m")),
        excluded_prefixes=tuple(manager.get("resources", {}).get("excludeResourcePrefixes", [])),
        reserved={"cpu": k.node_reserved_cpu_millis, "memory": k.node_reserved_memory_mib},
        no_provisioner_classes=frozenset(o["metadata"]["name"] for o in _objects(plan, "StorageClass")
                                         if o.get("provisioner") == NO_PROVISIONER),
    )


# ------------------------------------------------------------------ manifests -> workloads


def _pod_set(pod: Mapping[str, Any], requests: Mapping[str, Any], count: int, facts: StackFacts,
             pvc_classes: Mapping[str, str]) -> rules.PodSet:
    local = sum(1 for v in pod.get("volumes", []) or []
                if pvc_classes.get((v.get("persistentVolumeClaim") or {}).get("claimName", "")) in facts.no_provisioner_classes)
    local += sum(1 for v in pod.get("volumes", []) or []
                 if ((v.get("ephemeral") or {}).get("volumeClaimTemplate", {}).get("spec", {}).get("storageClassName")
                     in facts.no_provisioner_classes))
    return rules.PodSet(
        requests=rules.canonical(requests), count=count, node_selector=pod.get("nodeSelector") or {},
        tolerations=tuple(pod.get("tolerations") or ()),
        priority=facts.priority_values.get(pod.get("priorityClassName", ""), 0), local_pvcs=local)


def _requests(resources: Mapping[str, Any]) -> dict[str, Any]:
    """Requests as the API server defaults them: a limit without a request is the request."""
    return {**(resources.get("limits") or {}), **(resources.get("requests") or {})}


def workloads(docs: Iterable[Mapping[str, Any]], facts: StackFacts) -> list[rules.Workload]:
    docs = list(docs)
    pvc_classes = {d["metadata"]["name"]: d["spec"].get("storageClassName", "")
                   for d in docs if d.get("kind") == "PersistentVolumeClaim"}
    out = []
    for d in docs:
        kind, meta = d.get("kind"), d.get("metadata", {})
        queue = (meta.get("labels") or {}).get("kueue.x-k8s.io/queue-name", "")
        target = facts.local_queues.get((meta.get("namespace", ""), queue), "")
        if kind == "TrainJob":
            trainer = d["spec"]["trainer"]
            pod = {}
            for patch in d["spec"].get("runtimePatches", []):
                for job in patch.get("trainingRuntimeSpec", {}).get("template", {}).get("spec", {}).get("replicatedJobs", []):
                    pod = job["template"]["spec"]["template"]["spec"]
            sets = (_pod_set(pod, _requests(trainer.get("resourcesPerNode", {})), trainer.get("numNodes", 1),
                             facts, pvc_classes),)
        elif kind == "InferenceService":
            pred = d["spec"]["predictor"]
            model = pred.get("model", {})
            sets = (_pod_set(pred, _requests(model.get("resources", {})), pred.get("minReplicas", 1), facts, pvc_classes),)
        elif kind == "PyTorchJob":
            sets = tuple(_pod_set(spec["template"]["spec"], _requests(spec["template"]["spec"]["containers"][0].get("resources", {})),
                                  spec.get("replicas", 1), facts, pvc_classes)
                         for spec in d["spec"]["pytorchReplicaSpecs"].values())
        elif kind == "Job":
            pod = d["spec"]["template"]["spec"]
            sets = (_pod_set(pod, _requests(pod["containers"][0].get("resources", {})), d["spec"].get("parallelism", 1),
                             facts, pvc_classes),)
        else:
            continue
        out.append(rules.Workload(f"{kind}/{meta.get('namespace', '')}/{meta.get('name', '')}", target, sets))
    return out


def team_jobs(plan: Plan, facts: StackFacts) -> list[rules.Workload]:
    """One typical job per team and pool the team may use: one GPU unit of the pool (a
    whole GPU, a time-slice, the pool's smallest MIG slice), with that unit's share of the
    node's cpu and memory (after the DaemonSet reserve), at training priority, selecting
    the pool by its label."""
    out = []
    for team in plan.config.teams:
        cq = facts.cluster_queues.get(team.queue, {}).get("spec", {})
        pools_of_team = {fl["name"] for g in cq.get("resourceGroups", []) for fl in g["flavors"]}
        for name in sorted(pools_of_team):
            pool = facts.pools[name]
            gpu = {r: n for r, n in pool.allocatable.items() if r.startswith("nvidia.com/") and n > 0}
            if not gpu:
                continue
            resource = min(gpu, key=lambda r: (r != "nvidia.com/gpu", gpu[r]))  # whole/time-sliced GPU, else a slice
            units = sum(gpu.values())
            share = {r: (pool.allocatable[r] - facts.reserved.get(r, 0)) / units * 0.9 for r in ("cpu", "memory")}
            out.append(rules.Workload(f"{team.name}@{name}", team.queue, (rules.PodSet(
                requests={resource: 1, "cpu": int(share["cpu"]), "memory": int(share["memory"])},
                node_selector={"gpufleet.io/pool": name},
                priority=facts.priority_values.get("gpufleet-training", 0)),)))
    return out


def check(workload: rules.Workload, facts: StackFacts) -> rules.Verdict:
    cq = facts.cluster_queues.get(workload.queue)
    if cq is None:
        return rules.Verdict(workload.name, None, (f"Kueue: no LocalQueue leads to a ClusterQueue ({workload.queue!r})",))
    return rules.will_it_run(
        workload, cq["spec"], facts.flavors, facts.pools, facts.borrowable.get(workload.queue, {}),
        timeout_minutes=facts.timeout_minutes, excluded_prefixes=facts.excluded_prefixes,
        reserved=facts.reserved, cutoff=facts.cutoff)
