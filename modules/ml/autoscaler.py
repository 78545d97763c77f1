"""``ClusterAutoscaler``: scale GPU pools from zero and back, spot pools first.

- Auto-discovery of this cluster's Auto Scaling groups by the tags EKS puts on managed
  node groups (``k8s.io/cluster-autoscaler/enabled``, ``k8s.io/cluster-autoscaler/<cluster>``);
  the foundation's node-template tags tell it what a node of an empty pool would offer
  (labels, taints, ``nvidia.com/gpu`` / ``nvidia.com/mig-*`` / EFA), so a pending GPU pod
  brings a node to a pool sitting at 0.
- Pod Identity role limited to describing and to resizing groups carrying those tags.
- Expander ``priority``: spot pools first, then on-demand (the ``cluster-autoscaler-priority-expander``
  ConfigMap, matched against the node groups' ASG names ``eks-<pool>-<uuid>``). The chart's
  ClusterRole (``rbac.clusterScoped``, the default) already lets the service account get,
  list and watch ConfigMaps, the expander's among them: no extra Role.
- Scale-down after the environment's delay; similar node groups balanced; pods with
  local storage (NVMe scratch ``emptyDir``) do not pin a node; DaemonSets (GPU Operator
  operands) do not count as load.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from .. import sizing
from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from ..nodespec import NodeSpec
from ..pod_identity import PodIdentitySpec
from ..tags import Tagger

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
RELEASE = "cluster-autoscaler"
#: the ConfigMap name the priority expander reads (fixed by the cluster-autoscaler)
PRIORITY_CONFIGMAP = "cluster-autoscaler-priority-expander"
#: expander priority per capacity type: higher wins when several pools fit a pod
CAPACITY_PRIORITY = {"SPOT": 50, "ON_DEMAND": 10}
_UUID = "[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"


def asg_name_pattern(pool: str) -> str:
    """Regex for the Auto Scaling group EKS creates for managed node group ``pool``."""
    return f"^eks-{re.escape(pool)}-{_UUID}$"


def expander_priorities(specs: Sequence[NodeSpec]) -> dict[int, list[str]]:
    """Priority -> ASG name patterns: spot pools above on-demand pools."""
    out: dict[int, list[str]] = {}
    for spec in specs:
        out.setdefault(CAPACITY_PRIORITY[spec.capacity_type], []).append(asg_name_pattern(spec.name))
    return dict(sorted(out.items()))


def iam_policy(cluster_name: str) -> dict[str, Any]:
    """Least privilege: read everything it must read; resize only this cluster's tagged groups."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DescribeOwnNodegroups",
                "Effect": "Allow",
                "Action": ["eks:DescribeNodegroup"],
                "Resource": f"arn:aws:eks:*:*:nodegroup/{cluster_name}/*/*",
            },
            {
                "Sid": "ResizeOwnGroups",
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned",
                    "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
                }},
            },
        ],
    }


def command_args(scale_down_delay_minutes: int, max_node_provision_minutes: int) -> list[str]:
    delay = f"{scale_down_delay_minutes}m"
    return [
        "--expander=priority",
        "--balance-similar-node-groups=true",
        "--skip-nodes-with-local-storage=false",
        "--ignore-daemonsets-utilization=true",
        f"--scale-down-unneeded-time={delay}",
        f"--scale-down-delay-after-add={delay}",
        f"--max-node-provision-time={max_node_provision_minutes}m",
    ]


def chart_values(cluster_name: str, region: str, args: list[str]) -> dict[str, Any]:
    # Flags go in ``customArgs``: the chart's ``extraArgs`` defaults are a fixed example
    # set (logtostderr, v, ...), so other keys there cannot be checked against them. The
    # chart adds the priority ConfigMap to its namespaced Role only for
    # ``extraArgs.expander``, but its ClusterRole grants get/list/watch on every ConfigMap.
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        # cluster-scoped RBAC (the default, stated): the ClusterRole is what grants the priority ConfigMap
        "rbac": {"clusterScoped": True, "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        "customArgs": args,
        # the chart sets none (modules/sizing.py)
        "resources": sizing.platform(f"cluster-autoscaler/Deployment/{RELEASE}-aws-cluster-autoscaler/"
                                     "aws-cluster-autoscaler").values(),
    }


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    #: physical cluster name (ASG tag keys carry it)
    cluster_name: str
    #: the cluster's name as an output (the Pod Identity association waits for the cluster)
    cluster: pulumi.Input[str]
    region: str
    #: every node pool the autoscaler manages (system and GPU)
    specs: Sequence[NodeSpec]
    scale_down_delay_minutes: int
    max_node_provision_minutes: int
    tagger: Tagger
    depends_on: Sequence[pulumi.Resource] = ()


class ClusterAutoscaler(pulumi.ComponentResource):
    priorities: k8s.core.v1.ConfigMap
    addon: HelmAddon

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:ClusterAutoscaler", name, None, opts)
        self.priorities = k8s.core.v1.ConfigMap(
            f"{name}-priorities",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PRIORITY_CONFIGMAP, namespace=NAMESPACE,
                                                labels={"app.kubernetes.io/part-of": "gpufleet"}),
            data={"priorities": yaml.safe_dump(expander_priorities(args.specs), sort_keys=True)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.addon = HelmAddon(RELEASE, HelmAddonArgs(
            chart=CHARTS["cluster-autoscaler"],
            namespace=NAMESPACE,
            create_namespace=False,
            values=chart_values(args.cluster_name, args.region,
                                command_args(args.scale_down_delay_minutes, args.max_node_provision_minutes)),
            pod_identity=PodIdentitySpec(namespace=NAMESPACE, service_account=SERVICE_ACCOUNT,
                                         policy=iam_policy(args.cluster_name)),
            cluster_name=args.cluster,
            tagger=args.tagger,
            depends_on=[self.priorities, *args.depends_on],
        ), opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"release": self.addon.release.name})
