"""``CoreAddons``: the EKS-managed add-ons every cluster runs, in two steps.

- **Before any node** (``NODE_PREREQUISITES``): vpc-cni (network-policy enforcement and
  prefix delegation on), kube-proxy and the Pod Identity agent. Node groups depend on
  them: EKS sizes a node's maxPods for prefix delegation only when delegation is already
  on when the node boots (amazon-eks-user-guide ``eks-networking-add-ons``, "prefix mode"),
  and nodeadm merges EKS's NodeConfig over the pool's own (amazon-eks-ami
  ``nodeadm/internal/api/merge.go``).
- **After the system nodes** (``AFTER_NODES``): coredns, which EKS reports healthy only
  once its pods run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from . import sizing
from .cluster import vpc_cni_configuration
from .tags import Tagger

#: add-ons a node needs before it boots (its pod networking, services, pod credentials)
NODE_PREREQUISITES: tuple[str, ...] = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
#: add-ons EKS reports ACTIVE only once their pods run on nodes
AFTER_NODES: tuple[str, ...] = ("coredns",)
#: earlier logical names (one component held all four add-ons)
_RENAMED = {"coredns": "core-coredns"}


def addon_configuration(addon: str) -> str | None:
    """``configuration_values`` of a core add-on: vpc-cni's networking settings, and requests
    for the DaemonSets whose add-on schema takes them (vpc-cni's aws-node, kube-proxy:
    :mod:`modules.sizing`). CoreDNS keeps EKS's own requests; the Pod Identity agent's schema
    has no verified resources key (``modules/data/system_pods.json``)."""
    if addon == "vpc-cni":
        values = json.loads(vpc_cni_configuration())
        values["resources"] = sizing.platform("eks/vpc-cni/DaemonSet/aws-node/aws-node").values()
        return json.dumps(values)
    if addon == "kube-proxy":
        return json.dumps({"resources": sizing.platform("eks/kube-proxy/DaemonSet/kube-proxy/kube-proxy").values()})
    return None


def default_version(addon: str, kubernetes_version: str | None,
                    parent: pulumi.Resource) -> pulumi.Output[str] | None:
    """EKS's default version of ``addon`` for the cluster's Kubernetes version (the
    aws:eks/getAddonVersion data source, ``mostRecent: false``), for every EKS add-on the
    platform does not pin. Without it the provider keeps the version the add-on was created
    with, and an upgraded control plane runs, say, kube-proxy of the minor version before
    (outside its supported skew)."""
    if kubernetes_version is None:
        return None
    return aws.eks.get_addon_version_output(
        addon_name=addon, kubernetes_version=kubernetes_version, most_recent=False,
        opts=pulumi.InvokeOutputOptions(parent=parent)).version


@dataclass(frozen=True)
class CoreAddonsArgs:
    cluster_name: pulumi.Input[str]
    tagger: Tagger
    addons: Sequence[str] = NODE_PREREQUISITES
    versions: Mapping[str, str] = field(default_factory=dict)
    #: the cluster's Kubernetes version: an add-on not pinned in ``versions`` runs EKS's default
    #: version for it (``DescribeAddonVersions``' default), so a control-plane upgrade moves it
    #: too; a pinned one stays where the stack pins it (``plan``/``diff`` say so)
    kubernetes_version: str | None = None
    #: what the add-ons wait for (the system node group, for ``AFTER_NODES``)
    nodes: Sequence[pulumi.Resource] = ()


class CoreAddons(pulumi.ComponentResource):
    addons: dict[str, aws.eks.Addon]

    def __init__(self, name: str, args: CoreAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:cluster:CoreAddons", name, None, opts)
        self.addons = {}
        for addon in args.addons:
            old = _RENAMED.get(addon)
            self.addons[addon] = aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=args.cluster_name,
                addon_name=addon,
                addon_version=args.versions.get(addon) or default_version(addon, args.kubernetes_version, self),
                configuration_values=addon_configuration(addon),
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=args.tagger(addon),
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=list(args.nodes) or None,
                    aliases=[pulumi.Alias(name=old)] if old and old != f"{name}-{addon}" else None),
            )
        self.register_outputs({})
