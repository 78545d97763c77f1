"""``gpufleet:storage``: defaults when absent, and one clear line for each bad input."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpufleet.modules import catalog
from gpufleet.modules.config import ConfigError
from gpufleet.modules.schema import storage as schema
from gpufleet.modules.storage.efs import ia_transition

from .helpers import DELETE, TEST_SOURCE, apply_edits, assert_one_line_error, validate

SRC = TEST_SOURCE

# (id, stack, edits, key path in message, expected text in message)
CASES = [
    ("efs-one-zone-in-prod", "prod", [("gpufleet:storage.efs.one_zone_az", "us-east-1a")],
     "gpufleet:storage.efs.one_zone_az",
     "got 'us-east-1a'; expected null in prod (a Regional file system with a mount target in every AZ)"),
    ("efs-one-zone-outside-stack", "dev", [("gpufleet:storage.efs.one_zone_az", "us-east-1c")],
     "gpufleet:storage.efs.one_zone_az", "got 'us-east-1c'; expected one of the stack's AZs: us-east-1a, us-east-1b"),
    ("efs-ia-days-not-allowed", "dev", [("gpufleet:storage.efs.ia_after_days", 45)],
     "gpufleet:storage.efs.ia_after_days",
     "got 45; expected one of the days EFS allows for Infrequent Access: 1, 7, 14, 30, 60, 90, 180, 270, 365"),
    ("s3-ia-too-early", "dev", [("gpufleet:storage.buckets.datasets_ia_after_days", 7)],
     "gpufleet:storage.buckets.datasets_ia_after_days",
     "got 7; expected at least 30 days (S3 transitions to STANDARD_IA no earlier)"),
    ("efs-backups-off-in-prod", "prod", [("gpufleet:storage.efs.backups", False)],
     "gpufleet:storage.efs.backups", "got false; expected true in prod"),
    ("provisioned-without-mibps", "dev", [("gpufleet:storage.efs.throughput", "provisioned")],
     "gpufleet:storage.efs.provisioned_mibps", "got null; expected an integer from 1 to 3414 (MiB/s) with throughput: provisioned"),
    ("mibps-without-provisioned", "dev", [("gpufleet:storage.efs.provisioned_mibps", 100)],
     "gpufleet:storage.efs.provisioned_mibps", "got 100; expected only with throughput: provisioned"),
    ("scratch-on-unknown-pool", "prod", [("gpufleet:storage.scratch", {"pools": ["infer-l40s", "train"]})],
     "gpufleet:storage.scratch.pools[1]",
     "got 'train'; expected a GPU pool of this stack: mig-a100, train-a100, infer-l40s"),
    ("scratch-on-bottlerocket", "dev", [("gpufleet:pools.gpu[1].ami", "bottlerocket"),
                                        ("gpufleet:storage.scratch", {"pools": ["train-spot"]})],
     "gpufleet:storage.scratch.pools[0]", "got 'train-spot'; expected a pool with ami: al2023"),
    ("scratch-on-a-pool-at-zero", "prod", [("gpufleet:storage.scratch", {"pools": ["infer-l40s", "train-a100"]})],
     "gpufleet:storage.scratch.pools[1]", "got 'train-a100'; expected an always-on pool (min ≥ 1, always_on: true; "
     "train-a100 has min 0): a local PV cannot scale a pool from zero"),
    ("scratch-twice", "prod", [("gpufleet:storage.scratch", {"pools": ["infer-l40s", "infer-l40s"]})],
     "gpufleet:storage.scratch.pools", "expected distinct pool names"),
    ("unknown-team-in-grant", "prod", [("gpufleet:storage.buckets.grants[1].team", "infra")],
     "gpufleet:storage.buckets.grants[1].team", "got 'infra'; expected a team of this stack: research, applied"),
    ("team-granted-twice", "prod", [("gpufleet:storage.buckets.grants[1].team", "research")],
     "gpufleet:storage.buckets.grants[1].team", "got 'research'; expected a team not granted twice"),
    ("grant-level-unknown", "prod", [("gpufleet:storage.buckets.grants[0].models", "write")],
     "gpufleet:storage.buckets.grants[0].models", "got 'write'; expected 'none', 'read' or 'read-write'"),
    ("checkpoint-throughput-over-ratio", "prod", [("gpufleet:storage.checkpoints.iops", 3200),
                                                  ("gpufleet:storage.checkpoints.throughput_mibps", 1000)],
     "gpufleet:storage.checkpoints.throughput_mibps", "got 1000; expected at most iops / 4 = 800 MiB/s"),
    ("checkpoint-iops-below-gp3-baseline", "prod", [("gpufleet:storage.checkpoints.iops", 1000)],
     "gpufleet:storage.checkpoints.iops", "got 1000; expected an integer from 3000 to 16000"),
    ("directory-perms-not-octal", "dev", [("gpufleet:storage.efs.directory_perms", "rwx")],
     "gpufleet:storage.efs.directory_perms", "got 'rwx'; expected octal permissions as a string, e.g. '770'"),
    ("unknown-storage-key", "dev", [("gpufleet:storage.efs.throughput_mode", "elastic")],
     "gpufleet:storage.efs.throughput_mode", "got unknown key 'throughput_mode'; expected a key allowed here: throughput, "),
    ("unknown-csi-addon-pin", "dev", [("gpufleet:storage.addon_versions", {"aws-fsx-csi-driver": "v1.0.0"})],
     "gpufleet:storage.addon_versions.aws-fsx-csi-driver",
     "got 'aws-fsx-csi-driver'; expected an EKS CSI add-on this layer installs: aws-efs-csi-driver, aws-ebs-csi-driver"),
]




@pytest.mark.parametrize("stack,edits,key_path,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_storage_input_gives_one_clear_message(stack, edits, key_path, expected):
    assert_one_line_error(apply_edits(stack, edits), SRC, key_path, expected)


def test_checkpoint_ratio_message_names_the_limit():
    raw = apply_edits("dev", [("gpufleet:storage.checkpoints", {"iops": 3000, "throughput_mibps": 1000})])
    with pytest.raises(ConfigError) as info:
        validate(raw, SRC)
    assert str(info.value) == (f"{SRC}: gpufleet:storage.checkpoints.throughput_mibps: got 1000; expected at most "
                               "iops / 4 = 750 MiB/s (gp3 allows 0.25 MiB/s per provisioned IOPS)")


def test_scratch_on_a_pool_without_instance_store(monkeypatch):
    """Every GPU type in today's catalog has instance store; a type without it (like the
    older p3.2xlarge) must not be offered as scratch, even on an always-on pool."""
    real = catalog.instance_type

    def without_nvme(name):
        it = real(name)
        return dataclasses.replace(it, nvme_gb=0) if it is not None and name == "g6e.xlarge" else it

    monkeypatch.setattr(catalog, "instance_type", without_nvme)
    always_on = [("gpufleet:pools.gpu[2].min", 1), ("gpufleet:pools.gpu[2].always_on", True)]  # staging's infer-l40s
    raw = apply_edits("staging", [*always_on, ("gpufleet:storage.scratch", {"pools": ["infer-l40s"]})])
    with pytest.raises(ConfigError) as info:
        validate(raw, SRC)
    assert str(info.value) == (
        f"{SRC}: gpufleet:storage.scratch.pools[0]: got 'infer-l40s'; expected a pool whose instance types have "
        "local NVMe instance store (g6e.xlarge has none); pools with NVMe: shared-l4, train-spot")
    # and by default such a pool simply does not offer scratch
    cfg = validate(apply_edits("staging", always_on), SRC)
    assert schema.scratch_pools(cfg) == []
    monkeypatch.setattr(catalog, "instance_type", real)
    assert schema.scratch_pools(validate(apply_edits("staging", always_on), SRC)) == ["infer-l40s"]


def test_defaults_make_sense_without_a_storage_section():
    for stack in ("dev", "prod"):
        cfg = validate(apply_edits(stack, [("gpufleet:storage", DELETE)]), SRC)
        st = cfg.storage
        prod = stack == "prod"
        assert st.efs.throughput == "elastic" and st.efs.ia_after_days == 30
        assert schema.efs_backups(cfg) is prod
        assert schema.retain(cfg, st.efs.retain_on_delete) is prod
        # local PVs only on always-on pools: a pool at zero cannot be scaled up by a local PV
        assert schema.scratch_pools(cfg) == [p.name for p in cfg.pools.gpu
                                             if p.has_nvme and p.ami == "al2023" and p.min >= 1]
        assert schema.scratch_pools(cfg) == (["infer-l40s"] if prod else [])
        assert [(g.team, g.datasets, g.models, g.service_account) for g in schema.grants(cfg)] == [
            (t.name, "read", "read-write", "training") for t in cfg.teams]
        assert (st.checkpoints.iops, st.checkpoints.throughput_mibps) == (3000, 125)


def test_bottlerocket_pools_do_not_offer_scratch_by_default():
    always_on = [("gpufleet:pools.gpu[1].min", 1), ("gpufleet:pools.gpu[1].always_on", True)]  # dev's train-spot
    cfg = validate(apply_edits("dev", [*always_on, ("gpufleet:storage.scratch", {})]), SRC)
    assert schema.scratch_pools(cfg) == ["train-spot"]
    cfg = validate(apply_edits("dev", [*always_on, ("gpufleet:pools.gpu[1].ami", "bottlerocket"),
                                       ("gpufleet:storage.scratch", {})]), SRC)
    assert schema.scratch_pools(cfg) == []


@given(st.integers(min_value=-5, max_value=400))
def test_efs_ia_days_accepts_exactly_what_aws_allows(days):
    ok = days in schema.EFS_IA_DAYS
    try:
        schema.EfsConfig(ia_after_days=days)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted is ok
    if ok:
        assert ia_transition(days) == ("AFTER_1_DAY" if days == 1 else f"AFTER_{days}_DAYS")


@given(st.integers(min_value=3000, max_value=16000), st.integers(min_value=125, max_value=1000))
def test_gp3_ratio_rule(iops, throughput):
    try:
        schema.CheckpointsConfig(iops=iops, throughput_mibps=throughput)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted is (throughput * 4 <= iops)
