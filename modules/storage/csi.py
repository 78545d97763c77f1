"""``CsiDriver``: an EKS-managed CSI driver add-on with its own least-privilege role.

One shape for both drivers the storage layer needs: ``aws-efs-csi-driver`` (shared
datasets) and ``aws-ebs-csi-driver`` (default gp3 volumes and checkpoints). The
controller's service account gets an IAM role through EKS Pod Identity
(:class:`modules.pod_identity.PodIdentityRole`, the mechanism every workload here uses);
the add-on waits for the system node group (EKS reports it ACTIVE only once its pods run)
and for the role. The node DaemonSets tolerate every taint so GPU nodes
(``nvidia.com/gpu=true:NoSchedule``) can mount volumes too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from .. import sizing
from ..eks_addons import default_version
from ..pod_identity import PodIdentityRole, PodIdentitySpec
from ..tags import Tagger

ADDON_NAMESPACE = "kube-system"
#: the tag each driver puts on what it creates; its role may only delete what carries it
EFS_OWNED_TAG = "efs.csi.aws.com/cluster"
EBS_OWNED_TAG = "ebs.csi.aws.com/cluster"


@dataclass(frozen=True)
class CsiDriverSpec:
    addon: str
    service_account: str
    #: add-on configuration (the driver chart's values that EKS accepts)
    configuration: Mapping[str, Any] = field(default_factory=dict)


EFS_DRIVER = CsiDriverSpec(
    addon="aws-efs-csi-driver",
    service_account="efs-csi-controller-sa",
    # controller.resources applies to each of the controller's three containers (the node
    # DaemonSet has no resources key in the add-on's schema): modules/sizing.py
    configuration={"node": {"tolerations": [{"operator": "Exists"}]},
                   "controller": {"resources": sizing.platform(
                       "eks/aws-efs-csi-driver/Deployment/efs-csi-controller/efs-plugin").values()}},
)
EBS_DRIVER = CsiDriverSpec(
    addon="aws-ebs-csi-driver",
    service_account="ebs-csi-controller-sa",
    # hostNetwork: the node plugin reads the instance's metadata (its ENIs and instance-store
    # disks, which share the Nitro attachment slots with EBS volumes) although every pool
    # keeps IMDS hop limit 1; without it the driver falls back to the Kubernetes node
    # object and over-reports attachable volumes, worst on EFA nodes with many ENIs
    # (kubernetes-sigs/aws-ebs-csi-driver docs/install.md, "Metadata"; chart value
    # node.hostNetwork). Only this DaemonSet gets the host's network namespace.
    configuration={"node": {"tolerateAllTaints": True, "hostNetwork": True}},
)


def efs_driver_policy(file_system_arn: pulumi.Input[str], region: str) -> dict[str, Any]:
    """Dynamic access points on one file system; delete only access points the driver created."""
    access_points = f"arn:aws:elasticfilesystem:{region}:*:access-point/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Describe", "Effect": "Allow", "Resource": "*",
             "Action": ["elasticfilesystem:DescribeAccessPoints", "elasticfilesystem:DescribeFileSystems",
                        "elasticfilesystem:DescribeMountTargets", "ec2:DescribeAvailabilityZones"]},
            {"Sid": "CreateTaggedAccessPoints", "Effect": "Allow",
             "Action": ["elasticfilesystem:CreateAccessPoint", "elasticfilesystem:TagResource"],
             "Resource": [file_system_arn, access_points],
             "Condition": {"StringLike": {f"aws:RequestTag/{EFS_OWNED_TAG}": "true"}}},
            {"Sid": "DeleteOwnAccessPoints", "Effect": "Allow", "Action": "elasticfilesystem:DeleteAccessPoint",
             "Resource": access_points,
             "Condition": {"StringEquals": {f"aws:ResourceTag/{EFS_OWNED_TAG}": "true"}}},
        ],
    }


def ebs_driver_policy(kms_key_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Create, attach, resize, snapshot and delete only volumes the driver tagged as its own;
    use the data key for encrypted volumes (grants only for AWS resources)."""
    volumes, snapshots, instances = "arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:*:*:snapshot/*", "arn:aws:ec2:*:*:instance/*"
    owned = {"StringEquals": {f"aws:ResourceTag/{EBS_OWNED_TAG}": "true"}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Describe", "Effect": "Allow", "Resource": "*",
             "Action": ["ec2:DescribeAvailabilityZones", "ec2:DescribeInstances", "ec2:DescribeSnapshots",
                        "ec2:DescribeTags", "ec2:DescribeVolumes", "ec2:DescribeVolumesModifications"]},
            {"Sid": "CreateOwnedVolumes", "Effect": "Allow", "Action": ["ec2:CreateVolume", "ec2:CreateSnapshot"],
             "Resource": [volumes, snapshots],
             "Condition": {"StringEquals": {f"aws:RequestTag/{EBS_OWNED_TAG}": "true"}}},
            {"Sid": "TagOnCreate", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": [volumes, snapshots],
             "Condition": {"StringEquals": {"ec2:CreateAction": ["CreateVolume", "CreateSnapshot"]}}},
            {"Sid": "AttachToNodes", "Effect": "Allow", "Action": ["ec2:AttachVolume", "ec2:DetachVolume"],
             "Resource": instances},
            {"Sid": "ManageOwnedVolumes", "Effect": "Allow",
             "Action": ["ec2:AttachVolume", "ec2:DetachVolume", "ec2:ModifyVolume", "ec2:DeleteVolume",
                        "ec2:CreateSnapshot"],
             "Resource": volumes, "Condition": owned},
            {"Sid": "DeleteOwnedSnapshots", "Effect": "Allow", "Action": "ec2:DeleteSnapshot",
             "Resource": snapshots, "Condition": owned},
            {"Sid": "GrantsForVolumes", "Effect": "Allow",
             "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": kms_key_arn,
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
            {"Sid": "UseDataKey", "Effect": "Allow",
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
             "Resource": kms_key_arn},
        ],
    }


@dataclass(frozen=True)
class CsiDriverArgs:
    spec: CsiDriverSpec
    policy: Mapping[str, Any]
    cluster_name: pulumi.Input[str]
    tagger: Tagger
    version: str | None = None
    #: the cluster's Kubernetes version: unpinned, the driver runs EKS's default for it
    kubernetes_version: str | None = None
    #: what the add-on waits for (the system node group)
    nodes: Sequence[pulumi.Resource] = ()


class CsiDriver(pulumi.ComponentResource):
    addon: aws.eks.Addon
    identity: PodIdentityRole

    def __init__(self, name: str, args: CsiDriverArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:storage:CsiDriver", name, None, opts)
        spec = args.spec
        self.identity = PodIdentityRole(
            f"{name}-identity",
            cluster_name=args.cluster_name,
            spec=PodIdentitySpec(namespace=ADDON_NAMESPACE, service_account=spec.service_account,
                                 policy=pulumi.Output.json_dumps(dict(args.policy))),
            tagger=args.tagger,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.addon = aws.eks.Addon(
            f"{name}-addon",
            cluster_name=args.cluster_name,
            addon_name=spec.addon,
            addon_version=args.version or default_version(spec.addon, args.kubernetes_version, self),
            configuration_values=json.dumps(dict(spec.configuration), sort_keys=True) if spec.configuration else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=args.tagger(spec.addon),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.nodes, self.identity]),
        )
        self.register_outputs({"role_arn": self.identity.role.arn})
