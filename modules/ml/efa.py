"""``EfaDevicePlugin``: advertises ``vpc.amazonaws.com/efa`` on the multi-node (EFA) pools.

PyTorch/NCCL jobs request ``vpc.amazonaws.com/efa`` (the aws-ofi-nccl plugin then uses
libfabric over EFA); without this plugin a node's EFA interfaces are invisible to the
scheduler. The chart pins its DaemonSet to nodes whose label matches
``supportedInstanceLabels``: here the pool label of each EFA pool, so it runs exactly there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from ..nodespec import POOL_LABEL, NodeSpec
from .gpu_operator import tolerations

NAMESPACE = "kube-system"
RELEASE = "aws-efa-k8s-device-plugin"


def chart_values(efa_specs: Sequence[NodeSpec]) -> dict[str, Any]:
    return {
        "supportedInstanceLabels": {"keys": [POOL_LABEL], "values": [s.name for s in efa_specs]},
        "tolerations": tolerations(efa_specs),
    }


@dataclass(frozen=True)
class EfaDevicePluginArgs:
    #: node specs of the EFA pools (at least one)
    specs: Sequence[NodeSpec]
    depends_on: Sequence[pulumi.Resource] = ()


class EfaDevicePlugin(pulumi.ComponentResource):
    addon: HelmAddon

    def __init__(self, name: str, args: EfaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:EfaDevicePlugin", name, None, opts)
        if not args.specs or not all(s.efa_interfaces for s in args.specs):
            raise ValueError(f"{name}: the EFA device plugin goes on EFA pools only")
        self.addon = HelmAddon(RELEASE, HelmAddonArgs(
            chart=CHARTS["aws-efa-k8s-device-plugin"],
            namespace=NAMESPACE,
            create_namespace=False,
            values=chart_values(args.specs),
            depends_on=list(args.depends_on),
        ), opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"release": self.addon.release.name})
