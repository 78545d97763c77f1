"""What the platform requests for the pods it sizes itself on the system pool (pure).

Every add-on pod on the system pool has cpu and memory requests (and a memory limit where
the upstream chart recommends one), so the system pool's fit check
(:mod:`modules.fit`) adds up what the scheduler will see. Charts that set their own
requests keep them (``modules/data/system_pods.json`` records those); the figures here
are the ones the platform sets, each with its basis. The add-on components build their
chart values (or EKS add-on ``configuration_values``) from these, and
``tests/test_fit.py`` renders the charts to prove the rendered pods request them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .k8s_quantity import quantity

if TYPE_CHECKING:  # pragma: no cover
    from .schema.pools import SystemPool


@dataclass(frozen=True)
class Resources:
    """Requests of one container (cpu in millicores, memory in MiB) and an optional memory limit."""

    cpu_millis: int
    memory_mib: int
    memory_limit_mib: int | None = None
    #: where the figure comes from
    basis: str = ""

    def values(self) -> dict[str, Any]:
        """Kubernetes ``resources`` (the shape every chart and EKS add-on schema takes)."""
        out: dict[str, Any] = {"requests": {"cpu": f"{self.cpu_millis}m", "memory": f"{self.memory_mib}Mi"}}
        if self.memory_limit_mib is not None:
            out["limits"] = {"memory": f"{self.memory_limit_mib}Mi"}
        return out


_CERT_MANAGER = ("cert-manager v1.21.1 values.yaml: the example requests for the controller "
                 "(cpu 10m, memory 32Mi); the chart sets none for any of its pods")
_CSI_SIDECAR = ("aws-ebs-csi-driver chart defaults for each controller container (CSI plugin, provisioner "
                "sidecar, liveness probe): requests 10m / 40Mi, memory limit 256Mi; the EFS add-on's "
                "controller.resources applies to each of its three containers")

#: Resources the platform sets, by ``<workload id>/<container>`` of ``modules/data/system_pods.json``.
PLATFORM: dict[str, Resources] = {
    "cert-manager/Deployment/cert-manager/cert-manager-controller": Resources(10, 32, basis=_CERT_MANAGER),
    "cert-manager/Deployment/cert-manager-cainjector/cert-manager-cainjector": Resources(10, 32, basis=_CERT_MANAGER),
    "cert-manager/Deployment/cert-manager-webhook/cert-manager-webhook": Resources(10, 32, basis=_CERT_MANAGER),
    "cert-manager/Job/cert-manager-startupapicheck/cert-manager-startupapicheck": Resources(10, 32, basis=_CERT_MANAGER),
    "cluster-autoscaler/Deployment/cluster-autoscaler-aws-cluster-autoscaler/aws-cluster-autoscaler": Resources(
        100, 300, 300, basis="cluster-autoscaler 9.59.0 values.yaml: the example resources "
                             "(requests and limits 100m / 300Mi); the memory limit is kept, the CPU limit is not"),
    "kubeflow-trainer/Deployment/kubeflow-trainer-controller-manager/manager": Resources(
        100, 300, 300, basis="kubeflow-trainer 2.3.0 values.yaml manager.resources: the example "
                             "(requests and limits 100m / 300Mi); the memory limit is kept, the CPU limit is not"),
    "cost-analyzer/Deployment/kubecost-cost-analyzer/aggregator": Resources(
        100, 512, basis="the platform's figure for one cluster of a few nodes (the chart sets none; its "
                        "commented example, 1 CPU / 1Gi, sizes a federated store); no limit, as upstream sets none"),
    "cost-analyzer/Deployment/kubecost-cost-analyzer/cloud-cost": Resources(
        20, 64, basis="the platform's figure: no cloud-cost integration is configured, so the container idles "
                      "(the chart sets none; its commented example is 1 CPU / 1Gi)"),
    "cost-analyzer/Deployment/kubecost-prometheus-alertmanager/prometheus-alertmanager": Resources(
        10, 32, 128, basis="the platform's figure for a handful of alert rules (the chart sets none)"),
    "opencost/Deployment/opencost/opencost": Resources(
        50, 128, 1024, basis="the platform's figure; memory limit 1Gi as the chart's UI container"),
    "metrics-server/Deployment/metrics-server/metrics-server": Resources(
        100, 200, basis="metrics-server's sizing guide: 100m / 200Mi for clusters up to a few hundred nodes"),
    "program/Deployment/local-volume-node-cleanup/node-cleanup-controller": Resources(
        10, 32, 128, basis="the platform's figure for a controller watching nodes and local PVs"),
    "eks/aws-efs-csi-driver/Deployment/efs-csi-controller/*": Resources(10, 40, 256, basis=_CSI_SIDECAR),
    "eks/vpc-cni/DaemonSet/aws-node/aws-node": Resources(
        25, 64, basis="cpu: the vpc-cni chart's default request (25m); memory: the platform's figure (upstream "
                      "sets none) so the fit check counts the agent"),
    "eks/kube-proxy/DaemonSet/kube-proxy/kube-proxy": Resources(
        100, 64, basis="cpu: EKS's default kube-proxy request (100m); memory: the platform's figure (upstream "
                       "sets none)"),
}


def platform(key: str) -> Resources:
    """The platform's resources for ``<workload id>/<container>`` (``*``: every container)."""
    if key in PLATFORM:
        return PLATFORM[key]
    wildcard = key.rsplit("/", 1)[0] + "/*"
    return PLATFORM[wildcard]


def prometheus(system: "SystemPool") -> Resources:
    """Prometheus of the cost tool, sized for the system pool's smallest node: 15 % of its
    allocatable memory (256Mi..2Gi, limit twice that) and 5 % of its CPU (50m..500m)."""
    from . import catalog

    nodes = [catalog.instance_type(t) for t in system.instance_types]
    # whole MiB and millicores of capacity, rounded down (exact: k8s_quantity.quantity)
    mem = min(quantity(n.allocatable["memory"]) // 2**20 for n in nodes)
    cpu = min(quantity(n.allocatable["cpu"]) * 1000 // 1 for n in nodes)
    mem_req = max(256, min(2048, int(mem * 0.15)))
    cpu_req = max(50, min(500, int(cpu * 0.05)))
    return Resources(cpu_req, mem_req, 2 * mem_req, basis="15 % of the smallest system node's memory, 5 % of its CPU")

