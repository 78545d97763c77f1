"""``NodePool``: one EKS managed node group with its hardened launch template.

Every pool: IMDSv2 only with hop limit 1 (pods cannot borrow the node's role, which may
modify ENIs; workloads get credentials from EKS Pod Identity), encrypted gp3 root, no public IP, no SSH key (SSM instead), cost tags on instances and volumes.
GPU pools add the ``nvidia.com/gpu`` taint, labels, cluster-autoscaler node-template
tags for scale-from-zero and, for multi-node training, EFA in a cluster placement group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from .nodespec import EKS_TAINT_EFFECT, NodeSpec, autoscaler_tags, efa_interface_layout, user_data
from .tags import Tagger


def tag_slug(key: str) -> str:
    """A logical-name-safe form of a tag key (``.../label/nvidia.com/mig.config`` -> ``label-nvidia-com-mig-config``)."""
    return re.sub(r"[^a-z0-9]+", "-", key.split("node-template/", 1)[-1].lower()).strip("-")


@dataclass(frozen=True)
class NodePoolArgs:
    spec: NodeSpec
    cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    #: private subnet id per AZ
    subnets: Mapping[str, pulumi.Input[str]]
    vpc_id: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    tagger: Tagger
    #: what must exist before a node boots (the networking add-ons: see ``eks_addons``)
    after: Sequence[pulumi.Resource] = ()
    #: the cluster's Kubernetes version: the node group follows a control-plane upgrade (EKS
    #: rolls its nodes onto the latest AMI release of that version, ``update_config`` at a
    #: time) instead of staying on the version it was created with
    kubernetes_version: str | None = None
    #: a night/weekend scale-down owns the Auto Scaling group's min, max and desired
    #: (``modules/cost/schedules.py``): the node group sets them at creation only
    scheduled: bool = False


class NodePool(pulumi.ComponentResource):
    """A managed node group and everything that shapes its nodes."""

    launch_template: aws.ec2.LaunchTemplate
    node_group: aws.eks.NodeGroup

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:nodes:NodePool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec, tag = args.spec, args.tagger
        pool_tags = {"gpufleet.io/pool": spec.name}

        security_groups: list[pulumi.Input[str]] = [args.cluster_security_group_id]
        placement = None
        if spec.efa_interfaces:
            efa_sg = aws.ec2.SecurityGroup(
                f"{name}-efa",
                vpc_id=args.vpc_id,
                description=f"EFA traffic between the nodes of pool {spec.name}",
                tags=tag(f"{name}-efa", pool_tags),
                opts=child,
            )
            # EFA's OS-bypass traffic needs every protocol open between the pool's own nodes.
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-efa-in", security_group_id=efa_sg.id, referenced_security_group_id=efa_sg.id,
                ip_protocol="-1", description="EFA: all traffic from the pool's nodes",
                tags=tag(f"{name}-efa-in", pool_tags), opts=child)
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-efa-out", security_group_id=efa_sg.id, referenced_security_group_id=efa_sg.id,
                ip_protocol="-1", description="EFA: all traffic to the pool's nodes",
                tags=tag(f"{name}-efa-out", pool_tags), opts=child)
            security_groups.append(efa_sg.id)
            group = aws.ec2.PlacementGroup(f"{name}-placement", strategy="cluster",
                                           tags=tag(f"{name}-placement", pool_tags), opts=child)
            placement = aws.ec2.LaunchTemplatePlacementArgs(group_name=group.name)

        if spec.efa_interfaces:
            interfaces = [
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    network_card_index=card,
                    device_index=device,
                    interface_type="efa",
                    security_groups=security_groups,
                    delete_on_termination="true",
                    associate_public_ip_address="false" if card == 0 else None,
                )
                for card, device in efa_interface_layout(spec.efa_interfaces)
            ]
        else:
            interfaces = [aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                device_index=0,
                security_groups=security_groups,
                associate_public_ip_address="false",
                delete_on_termination="true",
            )]

        resource_tags = tag(f"{name}-node", pool_tags)
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"Nodes of pool {spec.name}",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=spec.root_device,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=spec.disk_gb,
                    volume_type="gp3",
                    encrypted="true",
                    delete_on_termination="true",
                ),
            )],
            network_interfaces=interfaces,
            placement=placement,
            user_data=user_data(spec),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=resource_tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=tag(f"{name}-lt", pool_tags),
            opts=child,
        )

        subnet_ids = [args.subnets[spec.az]] if spec.az else list(args.subnets.values())
        self.node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_group_name=spec.name,
            node_role_arn=args.node_role_arn,
            subnet_ids=subnet_ids,
            instance_types=list(spec.instance_types),
            capacity_type=spec.capacity_type,
            ami_type=spec.ami_type,
            # no release_version: a changed version takes the newest AMI release EKS has for it
            version=args.kubernetes_version,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=spec.min_size, max_size=spec.max_size, desired_size=spec.min_size),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=self.launch_template.id,
                version=self.launch_template.latest_version.apply(str),
            ),
            labels=dict(spec.labels),
            taints=[aws.eks.NodeGroupTaintArgs(key=k, value=v, effect=EKS_TAINT_EFFECT[e]) for k, v, e in spec.taints],
            tags=tag(f"{name}-ng", pool_tags),
            # The cluster-autoscaler owns the desired size once the pool exists, and on a
            # scheduled pool the scale-down's actions own min and max too (see
            # ``modules/cost/schedules.py``); nodes boot only once the networking add-ons
            # are configured (``args.after``).
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["scalingConfig.desiredSize"]
                + (["scalingConfig.minSize", "scalingConfig.maxSize"] if args.scheduled else []),
                depends_on=list(args.after) or None),
        )

        asg_name = self.node_group.resources.apply(lambda r: r[0].autoscaling_groups[0].name)
        for key, value in autoscaler_tags(spec).items():
            aws.autoscaling.Tag(
                f"{name}-asg-{tag_slug(key)}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=child,
            )
        self.register_outputs({"node_group": self.node_group.node_group_name})
