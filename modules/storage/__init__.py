"""Storage and data: EFS datasets, NVMe scratch, checkpoints, S3 buckets (issue #3).

Raw data lives in S3 (cheap, durable), shared datasets on EFS (ReadWriteMany for
distributed training), scratch on local NVMe (fast, ephemeral), checkpoints on gp3
volumes that outlive the job (reclaim Retain), final models in a versioned S3 bucket.

Scratch: on every pool with instance store, ``emptyDir`` lives on the NVMe RAID0 (kubelet's
directory is there), so a job asks for scratch with an ``emptyDir`` and an
``ephemeral-storage`` request, which also scales a pool from zero. Only always-on pools
additionally offer ``local-nvme`` local PVs (a local PV cannot scale a pool from zero), with
the provisioner and its node-cleanup controller.
"""

from __future__ import annotations

from typing import Any

from ..context import PlatformContext
from ..node_model import ephemeral_storage_gib
from ..nodespec import gpu_spec
from ..schema import storage as schema
from . import classes, nvme
from .buckets import SecureBucket, SecureBucketArgs, bucket_name
from .classes import StorageClasses, StorageClassesArgs
from .csi import EBS_DRIVER, EFS_DRIVER, CsiDriver, CsiDriverArgs, ebs_driver_policy, efs_driver_policy
from .efs import Efs, EfsArgs
from .grants import TeamDataAccess, TeamDataAccessArgs
from .keys import DataKey
from .node_cleanup import NodeCleanup, NodeCleanupArgs

BUCKET_PURPOSES = ("datasets", "models")


def compose(ctx: PlatformContext) -> dict[str, Any]:
    """Declare the storage layer; returns the ``storage`` stack output."""
    cfg, st, tag = ctx.cfg, ctx.cfg.storage, ctx.tagger
    eks_name = ctx.cluster.eks.name
    nodes = [ctx.system_pool.node_group]

    retain_efs = schema.retain(cfg, st.efs.retain_on_delete)
    retain_buckets = schema.retain(cfg, st.buckets.retain_on_delete)
    key = DataKey("data-key", cluster_name=ctx.cluster_name, tagger=tag,
                  retain_on_delete=retain_efs or retain_buckets, opts=ctx.aws_opts)

    efs = Efs("datasets-efs", EfsArgs(
        config=st.efs, cluster_name=ctx.cluster_name, vpc_id=ctx.network.vpc.id,
        subnets={az: s.id for az, s in ctx.network.private_subnets.items()},
        node_security_group_id=ctx.cluster.security_group_id, kms_key_arn=key.arn,
        backups=schema.efs_backups(cfg), retain_on_delete=retain_efs,
        tagger=tag), opts=ctx.aws_opts)

    CsiDriver("efs-csi", CsiDriverArgs(
        spec=EFS_DRIVER, policy=efs_driver_policy(efs.file_system.arn, cfg.region), cluster_name=eks_name,
        tagger=tag, version=st.addon_versions.get(EFS_DRIVER.addon), nodes=nodes,
        kubernetes_version=cfg.cluster.version), opts=ctx.aws_opts)
    CsiDriver("ebs-csi", CsiDriverArgs(
        spec=EBS_DRIVER, policy=ebs_driver_policy(key.arn), cluster_name=eks_name,
        tagger=tag, version=st.addon_versions.get(EBS_DRIVER.addon), nodes=nodes,
        kubernetes_version=cfg.cluster.version), opts=ctx.aws_opts)

    scratch_pools = schema.scratch_pools(cfg)
    StorageClasses("storage-classes", StorageClassesArgs(
        kms_key_arn=key.arn, file_system_id=efs.id, efs=st.efs, checkpoints=st.checkpoints,
        scratch=bool(scratch_pools)), opts=ctx.k8s_opts)
    if scratch_pools:
        provisioner = nvme.install("local-nvme", nvme.NvmeScratchArgs(
            pools=[nvme.ScratchPool(p, tuple((t.key, t.value, t.effect) for t in cfg.pool(p).taints))
                   for p in scratch_pools],
            volumes_per_node=st.scratch.volumes_per_node), opts=ctx.k8s_opts)
        # PVs (and claims) of nodes the autoscaler removed above min, or EC2 replaced
        NodeCleanup("local-nvme-node-cleanup", NodeCleanupArgs(
            namespace=nvme.NAMESPACE, storage_classes=[classes.SCRATCH_CLASS],
            depends_on=[provisioner.namespace] if provisioner.namespace else []), opts=ctx.k8s_opts)

    # the account, from the cluster's ARN (arn:aws:eks:<region>:<account>:cluster/<name>)
    account = ctx.cluster.eks.arn.apply(lambda arn: arn.split(":")[4])
    b = st.buckets
    buckets = {
        "datasets": SecureBucket("datasets", SecureBucketArgs(
            bucket=bucket_name(ctx.cluster_name, "datasets", account, cfg.region), purpose="datasets",
            label=f"{ctx.cluster_name}-datasets",
            kms_key_arn=key.arn, tagger=tag, ia_after_days=b.datasets_ia_after_days,
            retain_on_delete=retain_buckets), opts=ctx.aws_opts),
        "models": SecureBucket("models", SecureBucketArgs(
            bucket=bucket_name(ctx.cluster_name, "models", account, cfg.region), purpose="models",
            label=f"{ctx.cluster_name}-models",
            kms_key_arn=key.arn, tagger=tag, versioned=True, noncurrent_versions_kept=b.model_versions_kept,
            noncurrent_days=b.model_noncurrent_days, retain_on_delete=retain_buckets), opts=ctx.aws_opts),
    }
    team_roles = {}
    for grant in schema.grants(cfg):
        if grant.datasets == "none" and grant.models == "none":
            continue
        access = TeamDataAccess(f"data-access-{grant.team}", TeamDataAccessArgs(
            team=grant.team, namespace=cfg.team(grant.team).namespace, grant=grant,
            buckets={p: buckets[p].arn for p in BUCKET_PURPOSES}, kms_key_arn=key.arn,
            cluster_name=eks_name, tagger=tag), opts=ctx.aws_opts)
        team_roles[grant.team] = {
            "namespace": cfg.team(grant.team).namespace,
            "service_account": grant.service_account,
            "role_arn": access.identity.role.arn,
        }

    return {
        "file_system_id": efs.id,
        "kms_key_arn": key.arn,
        "buckets": {p: buckets[p].bucket_name for p in BUCKET_PURPOSES},
        "storage_classes": {
            "default": classes.DEFAULT_CLASS,
            "checkpoints": classes.CHECKPOINTS_CLASS,
            "shared_datasets": classes.DATASETS_CLASS,
            "scratch": classes.SCRATCH_CLASS if scratch_pools else None,
        },
        "scratch_pools": scratch_pools,
        # emptyDir scratch: the ephemeral-storage a node of each GPU pool offers pods (GiB)
        "ephemeral_storage_gib": {p.name: ephemeral_storage_gib(gpu_spec(p, cfg.network.azs)) for p in cfg.pools.gpu},
        "team_data_access": team_roles,
    }
