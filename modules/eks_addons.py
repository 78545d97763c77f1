"""``CoreAddons``: the EKS-managed add-ons every cluster runs.

vpc-cni (with network-policy enforcement on), kube-proxy and the Pod Identity agent come
up with the control plane; coredns waits for the system node group, since EKS reports it
healthy only once its pods run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from .cluster import vpc_cni_configuration
from .tags import Tagger

#: add-on -> needs worker nodes before EKS reports it ACTIVE
CORE_ADDONS: dict[str, bool] = {
    "vpc-cni": False,
    "kube-proxy": False,
    "eks-pod-identity-agent": False,
    "coredns": True,
}


@dataclass(frozen=True)
class CoreAddonsArgs:
    cluster_name: pulumi.Input[str]
    tagger: Tagger
    versions: Mapping[str, str] = field(default_factory=dict)
    #: what coredns waits for (the system node group)
    nodes: Sequence[pulumi.Resource] = ()


class CoreAddons(pulumi.ComponentResource):
    addons: dict[str, aws.eks.Addon]

    def __init__(self, name: str, args: CoreAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:cluster:CoreAddons", name, None, opts)
        self.addons = {}
        for addon, needs_nodes in CORE_ADDONS.items():
            self.addons[addon] = aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=args.cluster_name,
                addon_name=addon,
                addon_version=args.versions.get(addon),
                configuration_values=vpc_cni_configuration() if addon == "vpc-cni" else None,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=args.tagger(addon),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.nodes) if needs_nodes else None),
            )
        self.register_outputs({})
