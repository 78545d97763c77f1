"""``MetricsServer``: the resource metrics API (``metrics.k8s.io``) for HPAs and ``kubectl top``.

KServe in Standard mode gives every InferenceService an HPA on the ``cpu`` metric by
default (autoscaler class ``hpa``); without ``metrics.k8s.io`` those HPAs report
``FailedGetResourceMetric`` and never scale. EKS does not install metrics-server itself.

- Chart ``metrics-server`` (APIService ``v1beta1.metrics.k8s.io`` -> the release's Service),
  on the system pool, ``system-cluster-critical`` (the chart's default priority class).
- Kubelets are scraped at their ``InternalIP`` only (nodes have no external address the
  pods could reach, and their hostnames are not resolvable from pods everywhere).
  ``--kubelet-insecure-tls`` is not set: the EKS AMIs bootstrap the kubelet with
  ``serverTLSBootstrap: true`` (awslabs/amazon-eks-ami, ``nodeadm/internal/kubelet/config.go``),
  so its serving certificate is signed by the cluster CA, which metrics-server trusts. The
  API server reaches the pods (port 10250, the chart's) through the EKS cluster security
  group every node carries (see :mod:`modules.nodepool`).
- Prod: two replicas on different nodes (required anti-affinity; the system pool keeps at
  least three nodes there) with a PodDisruptionBudget, so a node drain or a scale-down
  never leaves the HPAs blind. Dev and staging: one replica; a short gap in metrics
  during a drain only delays a scaling decision, and the small system pools keep the room.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from .. import sizing
from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from ..nodespec import POOL_LABEL
from ..schema.foundation import Environment

NAMESPACE = "kube-system"
RELEASE = "metrics-server"
#: the labels the chart selects its pods with (``metrics-server.selectorLabels``)
SELECTOR_LABELS = {"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": RELEASE}
#: the chart's sizing guide: fine up to a few hundred nodes (modules/sizing.py)
REQUESTS = sizing.platform(f"metrics-server/Deployment/{RELEASE}/metrics-server").values()["requests"]


def replicas(environment: Environment) -> int:
    return 2 if environment == "prod" else 1


def command_args() -> list[str]:
    """The chart's ``defaultArgs`` with the kubelet address types narrowed to ``InternalIP``
    (``args`` would repeat the flag instead of replacing it)."""
    return [
        "--cert-dir=/tmp",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        "--metric-resolution=15s",
    ]


def chart_values(environment: Environment) -> dict[str, Any]:
    n = replicas(environment)
    values: dict[str, Any] = {
        "replicas": n,
        "defaultArgs": command_args(),
        "nodeSelector": {POOL_LABEL: "system"},
        "resources": {"requests": dict(REQUESTS)},
    }
    if n > 1:
        values["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": dict(SELECTOR_LABELS)}, "topologyKey": "kubernetes.io/hostname"}]}}
        # one pod at a time, without a surge pod that would need a third free node
        values["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
        values["podDisruptionBudget"] = {"enabled": True, "minAvailable": n - 1}
    return values


@dataclass(frozen=True)
class MetricsServerArgs:
    environment: Environment
    depends_on: Sequence[pulumi.Resource] = ()


class MetricsServer(pulumi.ComponentResource):
    addon: HelmAddon

    def __init__(self, name: str, args: MetricsServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:MetricsServer", name, None, opts)
        self.addon = HelmAddon(RELEASE, HelmAddonArgs(
            chart=CHARTS["metrics-server"],
            namespace=NAMESPACE,
            create_namespace=False,
            values=chart_values(args.environment),
            depends_on=list(args.depends_on),
        ), opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"release": self.addon.release.name})
