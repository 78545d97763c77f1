"""The policy pack, security and sharing rules, CrossGuard proxies and the offline runner
(continued from test_policies.py)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, unknown_checking_proxy

from .policy_support import check, check_stack, find, foundation, offline, record

# ---- security and storage ----

def test_imdsv2_required_with_hop_limit_one():
    lt = find(foundation(), "pool-mig-a100-lt")
    assert check("imdsv2-required", lt) == []
    lt.inputs["metadataOptions"].update(httpTokens="optional", httpPutResponseHopLimit=2)
    assert check("imdsv2-required", lt) == [
        "LaunchTemplate 'pool-mig-a100-lt' allows IMDSv1 (metadataOptions.httpTokens=optional): require session "
        "tokens (httpTokens: required)",
        "LaunchTemplate 'pool-mig-a100-lt' lets IMDS answers travel 2 hops (metadataOptions.httpPutResponseHopLimit): "
        "at most 1, so pods cannot borrow the node's IAM role"]
    assert check("imdsv2-required", record("aws:ec2/instance:Instance", "vm", {})) == [
        "Instance 'vm' allows IMDSv1 (metadataOptions.httpTokens=optional): require session tokens "
        "(httpTokens: required)"]


def test_efs_encrypted():
    fs = record("aws:efs/fileSystem:FileSystem", "shared-efs", {"encrypted": True, "kmsKeyId": "arn:aws:kms:k"})
    assert check("efs-encrypted", fs) == []
    fs.inputs["encrypted"] = False
    assert check("efs-encrypted", fs) == [
        "EFS file system 'shared-efs' is not encrypted at rest: set encrypted: true "
        "(it cannot be turned on after creation)"]


def _bucket_records():
    bucket = record("aws:s3/bucket:Bucket", "ckpt", {"bucket": "gpufleet-dev-ckpt"})
    sse = record("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "ckpt-sse",
                 {"bucket": "ckpt-id", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"},
                                                  "bucketKeyEnabled": True}]}, depends_on=[bucket.urn])
    block = record("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "ckpt-pab",
                   {"bucket": "gpufleet-dev-ckpt", "blockPublicAcls": True, "blockPublicPolicy": True,
                    "ignorePublicAcls": True, "restrictPublicBuckets": True})
    return bucket, sse, block


def test_s3_encrypted():
    bucket, sse, block = _bucket_records()
    assert check_stack("s3-encrypted", [bucket, sse, block], {"requireKms": True}) == []
    assert check_stack("s3-encrypted", [bucket, block]) == [
        "S3 bucket 'ckpt' has no server-side encryption configuration: add a BucketServerSideEncryptionConfiguration "
        "(aws:kms with a bucket key)"]
    sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] = "AES256"
    assert check_stack("s3-encrypted", [bucket, sse]) == []
    assert check_stack("s3-encrypted", [bucket, sse], {"requireKms": True}) == [
        "S3 bucket 'ckpt' is encrypted with AES256, not a KMS key (requireKms)"]


def test_s3_public_access_blocked():
    bucket, sse, block = _bucket_records()
    assert check_stack("s3-public-access-blocked", [bucket, sse, block]) == []
    assert check_stack("s3-public-access-blocked", [bucket, sse]) == [
        "S3 bucket 'ckpt' has no public access block: add a BucketPublicAccessBlock with blockPublicAcls: true, "
        "blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true"]
    block.inputs["restrictPublicBuckets"] = False
    assert check_stack("s3-public-access-blocked", [bucket, block]) == [
        "S3 bucket 'ckpt' public access block leaves restrictPublicBuckets off: set all four to true"]


# ---- GPU sharing ----

def _queues(train_gpus: int, mig_slices: int) -> list[SimpleNamespace]:
    kueue = "kubernetes:kueue.x-k8s.io/v1beta2:"
    flavors = [record(kueue + "ResourceFlavor", f"flavor-{p}", {"metadata": {"name": p},
                      "spec": {"nodeLabels": {"gpufleet.io/pool": p}}}) for p in ("train-a100", "mig-a100")]

    def cq(team: str, gpus: int, slices: int):
        return record(kueue + "ClusterQueue", f"cq-{team}", {"metadata": {"name": team}, "spec": {"resourceGroups": [
            {"coveredResources": ["nvidia.com/gpu"],
             "flavors": [{"name": "train-a100", "resources": [{"name": "nvidia.com/gpu", "nominalQuota": gpus}]}]},
            {"coveredResources": ["nvidia.com/mig-1g.5gb"],
             "flavors": [{"name": "mig-a100",
                          "resources": [{"name": "nvidia.com/mig-1g.5gb", "nominalQuota": str(slices)}]}]},
        ]}})
    return [*flavors, cq("research", train_gpus - train_gpus // 2, mig_slices // 2),
            cq("applied", train_gpus // 2, mig_slices - mig_slices // 2)]


def test_kueue_quotas_within_pool_capacity():
    recs = foundation()  # train-a100: max 4 x 8 GPUs; mig-a100: max 2 x 56 MIG 1g.5gb slices (node-template tags)
    assert check_stack("kueue-quota-within-capacity", [*recs, *_queues(32, 112)]) == []
    assert check_stack("kueue-quota-within-capacity", [*recs, *_queues(40, 120)]) == [
        "ClusterQueue(s) applied, research guarantee 120 nvidia.com/mig-1g.5gb on flavor 'mig-a100', but pool "
        "'mig-a100' offers at most 112 (2 nodes x 56)",
        "ClusterQueue(s) applied, research guarantee 40 nvidia.com/gpu on flavor 'train-a100', but pool "
        "'train-a100' offers at most 32 (4 nodes x 8)"]
    assert check_stack("kueue-quota-within-capacity", [*recs, *_queues(24, 56)], {"maxQuotaPercent": 50}) == [
        "ClusterQueue(s) applied, research guarantee 24 nvidia.com/gpu on flavor 'train-a100', but pool "
        "'train-a100' offers at most 32 (4 nodes x 8)"]


def test_kueue_cpu_and_memory_quotas_within_catalog_allocatable():
    recs = foundation()  # train-a100: 4 nodes of p4d/p4de, each 95690m CPU and 1082712Mi allocatable
    flavor = record("kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor", "f", {"metadata": {"name": "train-a100"}})

    def cq(cpu: str, memory: str):
        return record("kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue", "cq", {"metadata": {"name": "team-a"}, "spec": {
            "resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [{"name": "train-a100", "resources": [
                {"name": "cpu", "nominalQuota": cpu}, {"name": "memory", "nominalQuota": memory}]}]}]}})
    assert check_stack("kueue-quota-within-capacity", [*recs, flavor, cq("382760m", "4330848Mi")]) == []
    assert check_stack("kueue-quota-within-capacity", [*recs, flavor, cq("400", "5000Gi")]) == [
        "ClusterQueue(s) team-a guarantee 400 cpu on flavor 'train-a100', but pool 'train-a100' offers at most "
        "382.76 (4 nodes x 95.69)",
        "ClusterQueue(s) team-a guarantee 5,000.0Gi memory on flavor 'train-a100', but pool 'train-a100' offers at "
        "most 4,229.3Gi (4 nodes x 1,057.3Gi)"]


def _timeslice(replicas: int) -> str:
    return ("version: v1\nsharing:\n  timeSlicing:\n    resources:\n"
            f"    - name: nvidia.com/gpu\n      replicas: {replicas}\n")


def test_timeslice_replicas_within_bound():
    cm = record("kubernetes:core/v1:ConfigMap", "gpu-operator-timeslicing",
                {"metadata": {"name": "time-slicing"}, "data": {"shared-l4": _timeslice(4)}})
    assert check("timeslice-replicas-bound", cm) == []
    cm.inputs["data"]["shared-l4"] = _timeslice(48)
    assert check("timeslice-replicas-bound", cm) == [
        "time-slicing config 'shared-l4' in 'gpu-operator-timeslicing' shares each nvidia.com/gpu 48 ways: allowed "
        "2 to 16 replicas (each replica gets 1/48 of the GPU's time and shares its memory without isolation)"]
    assert check("timeslice-replicas-bound", cm, {"maxReplicas": 48}) == []
    chart = record("kubernetes:helm.sh/v3:Release", "gpu-operator-release", {
        "chart": "gpu-operator", "values": {"devicePlugin": {"config": {"data": {"shared-l4": _timeslice(1)}}}}})
    assert check("timeslice-replicas-bound", chart) == [
        "time-slicing config 'shared-l4' in 'gpu-operator-release' shares each nvidia.com/gpu 1 ways: allowed 2 to "
        "16 replicas (each replica gets 1/1 of the GPU's time and shares its memory without isolation)"]


# ---- unknowns, as in a real preview ----

def test_crossguard_proxies_and_unknown_values():
    """CrossGuard hands props through proxies (``Mapping`` / ``Sequence``, not dict / list) that
    raise on values unknown during preview: rules read the proxies; an unknown size is never taken
    for 0 nodes (issue 18): the rule that needs it reports that it cannot verify."""
    ng = find(foundation(), "pool-infer-l40s-ng")
    proxied = SimpleNamespace(**{**vars(ng), "inputs": unknown_checking_proxy(copy.deepcopy(ng.inputs))})
    assert check("gpu-pool-scale-to-zero", proxied) != []
    p4d = find(foundation(), "pool-mig-a100-ng")
    p4d = SimpleNamespace(**{**vars(p4d), "inputs": unknown_checking_proxy(p4d.inputs)})
    assert check("gpu-instance-type-allowlist", p4d, {"environment": "dev"}) == [
        "GPU pool 'mig-a100' uses p4d.24xlarge, not allowed in dev (allowed: g4dn.*, g5.*, g6.*, g6e.*, gr6.*)"]
    ng.inputs["scalingConfig"]["minSize"] = UNKNOWN_NUMBER_VALUE
    proxied = SimpleNamespace(**{**vars(ng), "inputs": unknown_checking_proxy(ng.inputs)})
    unverified = [
        "cannot verify that GPU pool 'infer-l40s' scales to zero: infer-l40s (pool-infer-l40s-ng): "
        "scalingConfig.minSize is not known before deployment (a computed value); the pack never counts a size it "
        "cannot read as 0 nodes: give the node group sizes known at preview (literals, not outputs of other resources)"]
    assert check("gpu-pool-scale-to-zero", proxied) == unverified
    assert check("gpu-pool-scale-to-zero", proxied, {"alwaysOnPools": ["infer-l40s"]}) == []  # may keep nodes anyway
    assert check("max-gpu-nodes-per-pool", proxied, {"maxNodes": 2}) == [
        "GPU pool 'infer-l40s' can scale to 6 nodes (scalingConfig.maxSize); prod allows at most 2 per pool"]
    ng.inputs["scalingConfig"]["minSize"] = "<computed>"  # the offline plan's spelling
    assert check("gpu-pool-scale-to-zero", ng) == unverified


# ---- the offline runner ----

@pytest.mark.on_data_day
def test_offline_runner_levels_and_config():
    recs = foundation()
    found = offline.run(recs, {"gpu-pool-scale-to-zero": {"alwaysOnPools": ["infer-l40s"]}})
    assert [(v.policy, v.level, v.resource) for v in found] == [("cost-tool-installed", "mandatory", None)]
    found = offline.run(recs, {"cost-tool-installed": {"enforcementLevel": "advisory"},
                               "gpu-pool-scale-to-zero": "disabled"})
    assert [(v.policy, v.level) for v in found] == [("cost-tool-installed", "advisory")]
    found = offline.run(recs, {"all": "advisory"})
    warm = next(v for v in found if v.policy == "gpu-pool-scale-to-zero")
    assert (warm.level, warm.name) == ("advisory", "pool-infer-l40s-ng")
    assert warm.resource == find(recs, "pool-infer-l40s-ng").urn
    assert warm.to_json() == {"policy": "gpu-pool-scale-to-zero", "level": "advisory", "resource": warm.resource,
                              "message": warm.message}


# ---- pure helpers ----

from gpufleet.policies._props import quantity  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st

SUFFIXES = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(sorted(SUFFIXES)))
def test_quantity_reads_kubernetes_quantities(n, suffix):
    assert quantity(f"{n}{suffix}") == pytest.approx(n * SUFFIXES[suffix])
    assert quantity(n) == n


@given(st.text(alphabet="abcxyz!? ", min_size=1))
def test_quantity_refuses_what_is_not_a_quantity(text):
    assert quantity(text) is None
