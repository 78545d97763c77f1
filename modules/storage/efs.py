"""``Efs``: the shared-datasets file system (ReadWriteMany across every AZ).

Encrypted with the stack's data key, one mount target per private subnet so pods in
every AZ can mount it, NFS (2049) admitted only from the node security group, TLS-only
file system policy without client root access, Infrequent Access after a configurable
idle time (and back on first access), AWS Backup in prod, and ``protect=True`` so a
refactor can never delete datasets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from ..schema.storage import EfsConfig
from ..tags import Tagger

NFS_PORT = 2049
THROUGHPUT_MODES = {"elastic": "elastic", "bursting": "bursting", "provisioned": "provisioned"}


def ia_transition(days: int) -> str:
    """EFS lifecycle value for a number of days: ``AFTER_1_DAY``, ``AFTER_30_DAYS``."""
    return f"AFTER_{days}_DAY" if days == 1 else f"AFTER_{days}_DAYS"


#: what an NFS client may do: read and write, never as root. The EFS CSI driver needs no
#: more with dynamic access points (``provisioningMode: efs-ap``): its controller creates
#: and deletes the access points through the EFS API (its Pod Identity role, see
#: ``csi.efs_driver_policy``), and the node plugin mounts through an access point that
#: enforces the PVC's uid/gid, over TLS. Only the controller's opt-in
#: ``delete-access-point-root-dir`` (chart value ``controller.deleteAccessPointRootDir``,
#: off here) mounts the file system root to delete a volume's directory and would need
#: ``elasticfilesystem:ClientRootAccess``; without it root on a client is squashed.
CLIENT_ACTIONS = ("elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite")


def tls_only_policy(file_system_arn: pulumi.Input[str]) -> dict[str, Any]:
    """File system policy: clients mount through a mount target, read and write without
    root access (:data:`CLIENT_ACTIONS`), and never without TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "MountThroughMountTargets",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(CLIENT_ACTIONS),
                "Resource": file_system_arn,
                "Condition": {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
            },
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "*",
                "Resource": file_system_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


@dataclass(frozen=True)
class EfsArgs:
    config: EfsConfig
    cluster_name: str
    vpc_id: pulumi.Input[str]
    #: AZ -> private subnet id (a mount target in each; only the One Zone AZ when configured)
    subnets: Mapping[str, pulumi.Input[str]]
    #: the security group every node carries (the EKS cluster security group)
    node_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    backups: bool
    retain_on_delete: bool
    tagger: Tagger


class Efs(pulumi.ComponentResource):
    file_system: aws.efs.FileSystem
    security_group: aws.ec2.SecurityGroup
    mount_targets: dict[str, aws.efs.MountTarget]

    def __init__(self, name: str, args: EfsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:storage:Efs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, tag = args.config, args.tagger

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"EFS mount targets of {args.cluster_name}: NFS from the cluster's nodes only",
            revoke_rules_on_delete=True,
            tags=tag(f"{args.cluster_name}-efs"),
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-nfs-from-nodes",
            security_group_id=self.security_group.id,
            referenced_security_group_id=args.node_security_group_id,
            ip_protocol="tcp",
            from_port=NFS_PORT,
            to_port=NFS_PORT,
            description="NFS from the EKS nodes",
            tags=tag(f"{args.cluster_name}-efs-nfs"),
            opts=child,
        )

        lifecycle = []
        if cfg.ia_after_days is not None:
            lifecycle = [
                aws.efs.FileSystemLifecyclePolicyArgs(transition_to_ia=ia_transition(cfg.ia_after_days)),
                aws.efs.FileSystemLifecyclePolicyArgs(transition_to_primary_storage_class="AFTER_1_ACCESS"),
            ]
        self.file_system = aws.efs.FileSystem(
            f"{name}-fs",
            creation_token=f"{args.cluster_name}-datasets",
            encrypted=True,
            kms_key_id=args.kms_key_arn,
            performance_mode="generalPurpose",
            throughput_mode=THROUGHPUT_MODES[cfg.throughput],
            provisioned_throughput_in_mibps=cfg.provisioned_mibps,
            availability_zone_name=cfg.one_zone_az,
            lifecycle_policies=lifecycle or None,
            tags=tag(f"{args.cluster_name}-datasets", {"gpufleet.io/data": "datasets"}),
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=args.retain_on_delete),
        )
        fs_id = self.file_system.id

        azs = [cfg.one_zone_az] if cfg.one_zone_az else list(args.subnets)
        self.mount_targets = {
            az: aws.efs.MountTarget(
                f"{name}-mt-{az}",
                file_system_id=fs_id,
                subnet_id=args.subnets[az],
                security_groups=[self.security_group.id],
                opts=child,
            )
            for az in azs
        }
        aws.efs.BackupPolicy(
            f"{name}-backup",
            file_system_id=fs_id,
            backup_policy=aws.efs.BackupPolicyBackupPolicyArgs(status="ENABLED" if args.backups else "DISABLED"),
            opts=child,
        )
        aws.efs.FileSystemPolicy(
            f"{name}-policy",
            file_system_id=fs_id,
            policy=pulumi.Output.json_dumps(tls_only_policy(self.file_system.arn)),
            bypass_policy_lockout_safety_check=False,
            opts=child,
        )
        self.register_outputs({"file_system_id": fs_id})

    @property
    def id(self) -> pulumi.Output[str]:
        return self.file_system.id
