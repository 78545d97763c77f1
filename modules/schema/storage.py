"""Config models for storage: EFS datasets, NVMe scratch, checkpoints, S3 buckets (issue #3).

``gpufleet:storage`` may be absent: every default below makes a sensible platform (a
Regional elastic EFS with IA after 30 days, backups in prod, ``local-nvme`` local PVs on
every always-on AL2023 pool with instance store, baseline gp3 checkpoints, buckets with each
team reading datasets and writing models).

Scratch on a pool that scales from zero is an ``emptyDir`` with an ``ephemeral-storage``
request, never a local PV: the cluster-autoscaler adds no node for a pod whose PVC waits for
a local PV that only a node of the pool would publish (kubernetes/autoscaler#1658,
kubernetes-sigs/sig-storage-local-static-provisioner#288), so such a pod stays Pending. On
AL2023 (and Bottlerocket) pools with instance store, kubelet's directory already lives on
the NVMe RAID0, so ``emptyDir`` is NVMe scratch, and the pools' node-template tags
advertise its size to the autoscaler (:mod:`modules.node_model`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from .base import Name, StrictModel, fail

if TYPE_CHECKING:  # pragma: no cover
    from .pools import GpuPool
    from .stack import StackConfig

#: Days after last access at which EFS may move a file to Infrequent Access (the values
#: the EFS ``TransitionToIA`` API accepts).
EFS_IA_DAYS = (1, 7, 14, 30, 60, 90, 180, 270, 365)
#: S3 refuses a lifecycle transition to STANDARD_IA earlier than 30 days after creation.
S3_IA_MIN_DAYS = 30
#: EFS provisioned throughput range (MiB/s).
EFS_PROVISIONED_MIBPS = (1, 3414)
#: gp3 limits: IOPS, throughput (MiB/s) and at most 0.25 MiB/s per provisioned IOPS.
GP3_IOPS = (3000, 16000)
GP3_THROUGHPUT = (125, 1000)
_PERMS = re.compile(r"^[0-7]{3,4}$")

Access = Literal["none", "read", "read-write"]
CSI_ADDONS = ("aws-efs-csi-driver", "aws-ebs-csi-driver")


class EfsConfig(StrictModel):
    """The shared-datasets file system (ReadWriteMany for distributed training)."""

    throughput: Literal["elastic", "bursting", "provisioned"] = "elastic"
    """``elastic`` (pay per use, bursts with the job), ``bursting`` or ``provisioned``."""
    provisioned_mibps: int | None = None
    """With ``throughput: provisioned``: MiB/s."""
    ia_after_days: int | None = 30
    """Move files not read for this many days to Infrequent Access (back on first access); null: never."""
    backups: bool | None = None
    """AWS Backup of the file system; default: on in prod, off elsewhere (never off in prod)."""
    one_zone_az: str | None = None
    """One Zone file system in this AZ (cheaper, one mount target; never in prod)."""
    retain_on_delete: bool | None = None
    """Keep the file system in AWS when it leaves the stack; default: true in prod."""
    uid: int = Field(default=1000, ge=1, le=2**31 - 1)
    """POSIX user every dynamic access point enforces (whatever user the pod runs as); not root (0): an access point enforcing root needs ClientRootAccess, which the file system policy does not grant."""
    gid: int = Field(default=1000, ge=1, le=2**31 - 1)
    """POSIX group every dynamic access point enforces (not 0, as for ``uid``)."""
    directory_perms: str = "770"
    """Octal permissions of each PVC's directory (``/datasets/<namespace>/<pvc>``)."""

    @field_validator("ia_after_days")
    @classmethod
    def _ia_days(cls, v: int | None) -> int | None:
        if v is not None and v not in EFS_IA_DAYS:
            raise ValueError(f"one of the days EFS allows for Infrequent Access: {', '.join(map(str, EFS_IA_DAYS))} "
                             "(or null for never)")
        return v

    @field_validator("directory_perms")
    @classmethod
    def _perms(cls, v: str) -> str:
        if not _PERMS.match(v):
            raise ValueError("octal permissions as a string, e.g. '770'")
        return v

    @model_validator(mode="after")
    def _throughput(self) -> "EfsConfig":
        lo, hi = EFS_PROVISIONED_MIBPS
        if self.throughput == "provisioned":
            if self.provisioned_mibps is None or not lo <= self.provisioned_mibps <= hi:
                fail("provisioned_mibps", self.provisioned_mibps,
                     f"an integer from {lo} to {hi} (MiB/s) with throughput: provisioned")
        elif self.provisioned_mibps is not None:
            fail("provisioned_mibps", self.provisioned_mibps, "only with throughput: provisioned")
        return self


class ScratchConfig(StrictModel):
    """``local-nvme`` local PVs on the instance-store RAID0 of always-on pools (jobs on pools
    that scale from zero use ``emptyDir`` scratch with an ``ephemeral-storage`` request)."""

    pools: list[str] | None = None
    """Always-on pools with ``local-nvme`` PVs; default: every AL2023 GPU pool with NVMe and min ≥ 1; [] for none."""
    volumes_per_node: int = Field(default=1, ge=1, le=16)
    """``local-nvme`` PVs per node (each sees the whole array: capacity is shared, not reserved)."""


class CheckpointsConfig(StrictModel):
    """The ``checkpoints`` StorageClass: encrypted gp3, reclaim Retain."""

    iops: int = Field(default=GP3_IOPS[0], ge=GP3_IOPS[0], le=GP3_IOPS[1])
    """Provisioned IOPS of each checkpoint volume (gp3: 3000 included, up to 16000)."""
    throughput_mibps: int = Field(default=GP3_THROUGHPUT[0], ge=GP3_THROUGHPUT[0], le=GP3_THROUGHPUT[1])
    """Throughput of each checkpoint volume in MiB/s (125 included, up to 1000, at most iops / 4)."""

    @model_validator(mode="after")
    def _ratio(self) -> "CheckpointsConfig":
        if self.throughput_mibps * 4 > self.iops:
            fail("throughput_mibps", self.throughput_mibps,
                 f"at most iops / 4 = {self.iops // 4} MiB/s (gp3 allows 0.25 MiB/s per provisioned IOPS)")
        return self


class BucketGrant(StrictModel):
    """What one team's service account may do with the buckets."""

    team: str
    """A team of this stack (``gpufleet:teams``)."""
    datasets: Access = "read"
    """Datasets bucket: read everything; ``read-write`` also writes under ``<team>/``."""
    models: Access = "read-write"
    """Models bucket: read everything; ``read-write`` also writes under ``<team>/``."""
    service_account: Name = "training"
    """The service account (in the team's namespace) training jobs run as."""


class BucketsConfig(StrictModel):
    """The datasets and models buckets of the stack."""

    datasets_ia_after_days: int | None = 30
    """Datasets objects move to STANDARD_IA this many days after creation; null: never."""
    model_versions_kept: int = Field(default=5, ge=1, le=100)
    """Models bucket: how many older versions of each object to keep."""
    model_noncurrent_days: int = Field(default=30, ge=1, le=3650)
    """Models bucket: days an older version lives before it may expire (beyond the kept ones)."""
    retain_on_delete: bool | None = None
    """Keep the buckets in AWS when they leave the stack; default: true in prod."""
    grants: list[BucketGrant] | None = None
    """Per-team access; default: every team reads datasets and writes models."""

    @field_validator("datasets_ia_after_days")
    @classmethod
    def _ia_days(cls, v: int | None) -> int | None:
        if v is not None and not S3_IA_MIN_DAYS <= v <= 36500:
            raise ValueError(f"at least {S3_IA_MIN_DAYS} days (S3 transitions to STANDARD_IA no earlier), or null for never")
        return v


class StorageConfig(StrictModel):
    """Where datasets, scratch, checkpoints and models live."""

    efs: EfsConfig = EfsConfig()
    """The shared-datasets EFS file system (StorageClass ``shared-datasets``)."""
    scratch: ScratchConfig = ScratchConfig()
    """Local NVMe scratch (StorageClass ``local-nvme``)."""
    checkpoints: CheckpointsConfig = CheckpointsConfig()
    """The ``checkpoints`` StorageClass (gp3, reclaim Retain)."""
    buckets: BucketsConfig = BucketsConfig()
    """The datasets and models S3 buckets and who may use them."""
    addon_versions: dict[str, str] = {}
    """Pin the CSI add-on versions; unpinned ones get EKS's default for the cluster version."""

    @field_validator("addon_versions")
    @classmethod
    def _addons(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if name not in CSI_ADDONS:
                fail(f".{name}", name, f"an EKS CSI add-on this layer installs: {', '.join(CSI_ADDONS)}")
        return v


def check(cfg: "StackConfig") -> None:
    """Cross-section rules for storage (called by StackConfig's validator)."""
    st, prod = cfg.storage, cfg.environment == "prod"
    efs = st.efs
    if efs.one_zone_az is not None:
        if prod:
            fail("storage.efs.one_zone_az", efs.one_zone_az,
                 "null in prod (a Regional file system with a mount target in every AZ)")
        if efs.one_zone_az not in cfg.network.azs:
            fail("storage.efs.one_zone_az", efs.one_zone_az, f"one of the stack's AZs: {', '.join(cfg.network.azs)}")
    if prod and efs.backups is False:
        fail("storage.efs.backups", False, "true in prod (datasets are backed up daily)")
    pools = {p.name: p for p in cfg.pools.gpu}
    for i, name in enumerate(st.scratch.pools or []):
        path = f"storage.scratch.pools[{i}]"
        pool = pools.get(name)
        if pool is None:
            fail(path, name, f"a GPU pool of this stack: {', '.join(pools) or '(none)'}")
        if not pool.has_nvme:
            with_nvme = [p for p in pools.values() if p.has_nvme]
            fail(path, name, f"a pool whose instance types have local NVMe instance store ({', '.join(pool.instance_types)} "
                             f"{'has' if len(pool.instance_types) == 1 else 'have'} none); pools with NVMe: "
                             f"{', '.join(p.name for p in with_nvme) or '(none)'}")
        if pool.ami != "al2023":
            fail(path, name, "a pool with ami: al2023 (scratch uses the nodeadm RAID0 array at /mnt/k8s-disks/0)")
        if not offers_local_pv(pool):
            fail(path, name, f"an always-on pool (min ≥ 1, always_on: true; {name} has min {pool.min}): a local PV "
                             "cannot scale a pool from zero (the cluster-autoscaler adds no node for a pod whose PVC "
                             "waits for a local PV); jobs on pools at zero use an emptyDir scratch volume with an "
                             "ephemeral-storage request")
    if len(set(st.scratch.pools or [])) != len(st.scratch.pools or []):
        fail("storage.scratch.pools", st.scratch.pools, "distinct pool names")
    teams = [t.name for t in cfg.teams]
    seen: set[str] = set()
    for i, grant in enumerate(st.buckets.grants or []):
        if grant.team not in teams:
            fail(f"storage.buckets.grants[{i}].team", grant.team, f"a team of this stack: {', '.join(teams) or '(none)'}")
        if grant.team in seen:
            fail(f"storage.buckets.grants[{i}].team", grant.team, "a team not granted twice")
        seen.add(grant.team)


# ---- derived facts (pure; used by the storage components and the docs) ----

def offers_local_pv(pool: "GpuPool") -> bool:
    """A pool may offer ``local-nvme`` PVs only while it never scales to zero: a pod whose PVC
    needs a local PV that no node has published yet stays Pending (the autoscaler cannot
    tell that a new node would publish one)."""
    return pool.min >= 1


def scratch_pools(cfg: "StackConfig") -> list[str]:
    """GPU pools that offer ``local-nvme`` local PVs (every other pool: emptyDir scratch)."""
    if cfg.storage.scratch.pools is not None:
        return list(cfg.storage.scratch.pools)
    return [p.name for p in cfg.pools.gpu if p.has_nvme and p.ami == "al2023" and offers_local_pv(p)]


def grants(cfg: "StackConfig") -> list[BucketGrant]:
    """Bucket access per team: the configured grants, else every team with the defaults."""
    if cfg.storage.buckets.grants is not None:
        return list(cfg.storage.buckets.grants)
    return [BucketGrant(team=t.name) for t in cfg.teams]


def retain(cfg: "StackConfig", configured: bool | None) -> bool:
    return cfg.environment == "prod" if configured is None else configured


def efs_backups(cfg: "StackConfig") -> bool:
    return cfg.environment == "prod" if cfg.storage.efs.backups is None else cfg.storage.efs.backups
