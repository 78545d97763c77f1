"""``Kueue``: job queueing with per-team quotas derived from pool capacity (API v1beta2).

- One ``ResourceFlavor`` per GPU pool: ``nodeLabels`` are the pool's node labels (spot and
  on-demand pools differ in ``gpufleet.io/capacity``, so they are different flavors) and
  ``tolerations`` tolerate the pool's taints (Kueue adds them to the pods it admits).
- One ``ClusterQueue`` per team, all in one cohort, limited to the team's namespace,
  covering cpu, memory and every GPU resource name of the team's pools (``nvidia.com/gpu``,
  or ``nvidia.com/mig-<profile>`` on MIG pools). Nominal quotas come from
  :mod:`modules.ml.quotas` (capacity × share, never above capacity); borrowing and lending
  limits from config; preemption ``withinClusterQueue: LowerPriority`` and
  ``reclaimWithinCohort: Any`` (a team gets its guarantee back from borrowers).
- The ``Cohort`` holds the capacity no team is guaranteed, for anyone to borrow.
- A ``LocalQueue`` per team namespace, ``WorkloadPriorityClass``es for inference,
  training and experiments.
- The controller's configuration enables the integrations the platform uses: batch Job,
  TrainJob (+ JobSet, which TrainJobs run as), PyTorchJob when the v1 operator is chosen
  (off in Kueue 0.19's defaults), and pods/Deployments/StatefulSets (KServe predictors).

Every custom resource is a plain dict validated against the pinned CRD schema in tests;
each depends on the Kueue release, whose chart installs the CRDs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from .. import workload_rules
from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from ..nodespec import NodeSpec
from ..schema.stack import StackConfig
from ..schema.teams import Team
from . import quotas
from .crs import custom_resource
from .gpu_operator import tolerations
from .priorities import PRIORITIES
from .teams import TENANT_LABEL, TENANT_VALUE

API = "kueue.x-k8s.io/v1beta2"
NAMESPACE = "kueue-system"
RELEASE = "kueue"
IMAGE = {"repository": "registry.k8s.io/kueue/kueue", "tag": f"v{CHARTS['kueue'].version}", "pullPolicy": "IfNotPresent"}
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
#: resources Kueue does not count against quotas (EFA interfaces come with the node)
EXCLUDED_RESOURCE_PREFIXES = ["vpc.amazonaws.com/", "ephemeral-storage"]


def pods_ready_timeout(cfg: StackConfig) -> int:
    """Kueue's waitForPodsReady timeout (minutes): the configured one, else derived from the
    pools' time to ready (``modules.workload_rules``)."""
    return cfg.ml.kueue.pods_ready_timeout_minutes or workload_rules.pods_ready_timeout_minutes(cfg.pools.gpu)


def frameworks(training: str) -> list[str]:
    """Kueue integrations the platform uses."""
    jobs = ["batch/job", "trainer.kubeflow.org/trainjob", "jobset.x-k8s.io/jobset"]
    if training == "pytorchjob":
        jobs = ["batch/job", "kubeflow.org/pytorchjob"]
    return [*jobs, "pod", "deployment", "statefulset"]


def manager_config(cfg: StackConfig) -> dict[str, Any]:
    """The controller's ``Configuration`` (the chart's fields, plus the platform's)."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {"groupKindConcurrency": {
            "Job.batch": 5, "Pod": 5, "Workload.kueue.x-k8s.io": 10,
            "LocalQueue.kueue.x-k8s.io": 5, "ClusterQueue.kueue.x-k8s.io": 5, "ResourceFlavor.kueue.x-k8s.io": 1,
        }},
        "clientConnection": {"qps": 300, "burst": 500},
        # All-or-nothing for distributed jobs: requeue one whose pods don't all start.
        "waitForPodsReady": {
            "timeout": f"{pods_ready_timeout(cfg)}m",
            "blockAdmission": False,
            "requeuingStrategy": {"timestamp": "Eviction", "backoffLimitCount": 5,
                                  "backoffBaseSeconds": 60, "backoffMaxSeconds": 3600},
        },
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": {"matchLabels": {TENANT_LABEL: TENANT_VALUE}},
        "integrations": {"frameworks": frameworks(cfg.ml.training)},
        "resources": {"excludeResourcePrefixes": list(EXCLUDED_RESOURCE_PREFIXES)},
    }


def chart_values(cfg: StackConfig) -> dict[str, Any]:
    return {
        "controllerManager": {"manager": {"image": dict(IMAGE)}},
        "managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(manager_config(cfg), sort_keys=False)},
    }


def resource_flavor(spec: NodeSpec) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ResourceFlavor",
        "metadata": {"name": spec.name, "labels": {"gpufleet.io/pool": spec.name}},
        "spec": {"nodeLabels": spec.flavor_labels, "tolerations": tolerations([spec])},
    }


def _flavor_entries(cfg: StackConfig, covered: list[str], flavors: Sequence[quotas.FlavorQuota]) -> list[dict]:
    out = []
    for fq in flavors:
        resources = []
        for r in covered:
            entry: dict[str, Any] = {"name": r, "nominalQuota": quotas.quantity(r, fq.nominal.get(r, 0))}
            if fq.borrowing_limit is not None:
                entry["borrowingLimit"] = quotas.quantity(r, fq.borrowing_limit.get(r, 0))
            if fq.lending_limit is not None:
                entry["lendingLimit"] = quotas.quantity(r, fq.lending_limit.get(r, 0))
            resources.append(entry)
        out.append({"name": fq.flavor, "resources": resources})
    return out


def cluster_queue(cfg: StackConfig, team: Team) -> dict[str, Any] | None:
    """The team's ClusterQueue (None when the team has no share in any pool)."""
    flavors = quotas.team_quotas(cfg, team)
    if not flavors:
        return None
    covered = quotas.covered_resources(cfg, [f.flavor for f in flavors])
    return {
        "apiVersion": API,
        "kind": "ClusterQueue",
        "metadata": {"name": team.queue, "labels": {"gpufleet.io/team": team.name}},
        "spec": {
            "cohortName": cfg.ml.kueue.cohort,
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": team.namespace}},
            "queueingStrategy": "BestEffortFIFO",
            "preemption": {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Any"},
            "resourceGroups": [{"coveredResources": covered, "flavors": _flavor_entries(cfg, covered, flavors)}],
        },
    }


def cohort(cfg: StackConfig) -> dict[str, Any] | None:
    """The cohort, holding the capacity no team is guaranteed (None without teams using pools)."""
    left = quotas.unassigned(cfg)
    if not left:
        return None
    covered = quotas.covered_resources(cfg, list(left))
    flavors = [quotas.FlavorQuota(pool, amounts) for pool, amounts in left.items()]
    return {
        "apiVersion": API,
        "kind": "Cohort",
        "metadata": {"name": cfg.ml.kueue.cohort},
        "spec": {"resourceGroups": [{"coveredResources": covered, "flavors": _flavor_entries(cfg, covered, flavors)}]},
    }


def local_queue(team: Team) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "LocalQueue",
        "metadata": {"name": team.queue, "namespace": team.namespace},
        "spec": {"clusterQueue": team.queue},
    }


def workload_priority_classes() -> list[dict[str, Any]]:
    return [{"apiVersion": API, "kind": "WorkloadPriorityClass", "metadata": {"name": p.workload_class},
             "value": p.workload_value, "description": p.description} for p in PRIORITIES]


@dataclass(frozen=True)
class KueueArgs:
    cfg: StackConfig
    #: node specs of the GPU pools, by pool name
    specs: Mapping[str, NodeSpec]
    #: team namespaces, by team name (LocalQueues live there)
    namespaces: Mapping[str, pulumi.Resource]
    #: the training operator's release (its CRDs must exist when Kueue starts its integrations)
    depends_on: Sequence[pulumi.Resource] = ()


class Kueue(pulumi.ComponentResource):
    addon: HelmAddon
    cluster_queues: dict[str, k8s.apiextensions.CustomResource]
    local_queues: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: KueueArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:Kueue", name, None, opts)
        cfg = args.cfg
        self.addon = HelmAddon(RELEASE, HelmAddonArgs(
            chart=CHARTS["kueue"], namespace=NAMESPACE, values=chart_values(cfg),
            depends_on=list(args.depends_on)), opts=pulumi.ResourceOptions(parent=self))
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[self.addon.release])
        for pool in cfg.pools.gpu:
            custom_resource(f"{name}-flavor-{pool.name}", resource_flavor(args.specs[pool.name]), after_crds)
        for wpc in workload_priority_classes():
            custom_resource(f"{name}-priority-{wpc['metadata']['name']}", wpc, after_crds)
        co = cohort(cfg)
        if co is not None:
            custom_resource(f"{name}-cohort", co, after_crds)
        self.cluster_queues, self.local_queues = {}, {}
        for team in cfg.teams:
            cq = cluster_queue(cfg, team)
            if cq is None:
                continue
            self.cluster_queues[team.name] = custom_resource(f"{name}-cq-{team.name}", cq, after_crds)
            self.local_queues[team.name] = custom_resource(
                f"{name}-lq-{team.name}", local_queue(team),
                pulumi.ResourceOptions(parent=self, depends_on=[
                    self.addon.release, self.cluster_queues[team.name], args.namespaces[team.name]]))
        self.register_outputs({"release": self.addon.release.name})
