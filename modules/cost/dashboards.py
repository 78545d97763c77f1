"""``GpuDashboards``: the Grafana dashboard of GPU use and cost, as a ConfigMap.

The platform runs no Grafana (Kubecost's bundled one is off: anonymous access and a
default admin password, see :mod:`modules.cost.tool`); any Grafana whose dashboard sidecar
watches ``grafana_dashboard: "1"`` (kube-prometheus-stack's does by default) picks it up. The alert rules it pairs with live in the cost tool's
Prometheus (:mod:`modules.cost.rules`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s

from ..schema.stack import StackConfig
from . import rules

DASHBOARD_LABEL = {"grafana_dashboard": "1"}


@dataclass(frozen=True)
class GpuDashboardsArgs:
    cfg: StackConfig
    namespace: str
    depends_on: Sequence[pulumi.Resource] = ()


class GpuDashboards(pulumi.ComponentResource):
    config_map: k8s.core.v1.ConfigMap

    def __init__(self, name: str, args: GpuDashboardsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:cost:GpuDashboards", name, None, opts)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-gpus",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="gpufleet-gpu-dashboard",
                namespace=args.namespace,
                labels={**DASHBOARD_LABEL, "app.kubernetes.io/part-of": "gpufleet"},
            ),
            data={"gpufleet-gpus.json": rules.dashboard_json(args.cfg)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"dashboard": rules.DASHBOARD_UID})
