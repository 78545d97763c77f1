"""The policy pack, rule by rule: each policy called the way CrossGuard calls it, on a
passing and a failing fixture, with its message asserted.

Fixtures are real props from ``gpufleet plan prod --json`` (``tests/fixtures/policies/``),
edited per case; stack policies get ``PolicyResource`` lists built by the pack's own
offline runner.
"""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi_policy import (EnforcementLevel, PolicyCustomTimeouts, PolicyProviderResource, PolicyResourceOptions,
                           ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy)
from pulumi_policy.proxy import unknown_checking_proxy, UNKNOWN_NUMBER_VALUE

from gpufleet.reports.policy import PACK_DIR, load_pack
from modules.cost.pricing import bundled

pack = load_pack()
from gpufleet_policies import offline  # noqa: E402  (importable once load_pack put policies/ on the path)

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
NG = "aws:eks/nodeGroup:NodeGroup"


def foundation() -> list[SimpleNamespace]:
    """The trimmed prod plan as recorded resources (fresh copies)."""
    doc = json.loads((FIXTURES / "prod-foundation.json").read_text())
    return [record(r["type"], r["name"], r["inputs"], urn=r["urn"], parent=r["parent"], **r["options"])
            for r in doc["resources"]]


def record(typ: str, name: str, inputs: dict, *, urn: str | None = None, parent: str | None = None,
           provider: str | None = None, depends_on: list[str] | None = None, **_: Any) -> SimpleNamespace:
    return SimpleNamespace(type=typ, name=name, inputs=copy.deepcopy(inputs),
                           urn=urn or f"urn:pulumi:t::p::{typ}::{name}",
                           parent=parent, custom=not typ.startswith("gpufleet:"), provider=provider,
                           depends_on=depends_on or [], protect=False, ignore_changes=[], aliases=[])


def find(records, name: str) -> SimpleNamespace:
    return next(r for r in records if r.name == name)


def opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def check(policy_name: str, rec: SimpleNamespace, config: dict | None = None,
          provider: PolicyProviderResource | None = None) -> list[str]:
    """Messages a resource policy reports for one resource (CrossGuard's direct-call form)."""
    policy = pack.policy(policy_name)
    assert isinstance(policy, ResourceValidationPolicy)
    args = ResourceValidationArgs(rec.type, rec.inputs, rec.urn, rec.name, opts(), provider, config or {})
    messages: list[str] = []
    policy.validate(args, lambda msg, urn=None: messages.append(msg))
    return messages


def check_stack(policy_name: str, records, config: dict | None = None) -> list[str]:
    policy = pack.policy(policy_name)
    assert isinstance(policy, StackValidationPolicy)
    messages: list[str] = []
    policy.validate(StackValidationArgs(offline.policy_resources(records), config or {}),
                    lambda msg, urn=None: messages.append(msg))
    return messages


def with_env(rec: SimpleNamespace, env: str) -> SimpleNamespace:
    rec.inputs["tags"]["env"] = env
    return rec


# ---- the pack itself ----

def test_every_policy_has_a_config_schema_a_level_and_a_unique_name():
    names = [p.name for p in pack.POLICIES]
    assert len(names) == len(set(names)) == 19
    for p in pack.POLICIES:
        assert p.config_schema is not None, p.name
        assert p.enforcement_level == EnforcementLevel.MANDATORY, p.name


def test_main_only_constructs_the_pack():
    body = ast.parse((PACK_DIR / "__main__.py").read_text()).body
    statements = [node for node in body if not isinstance(node, (ast.Import, ast.ImportFrom))]
    assert isinstance(statements[0].value, ast.Constant)  # the docstring
    assert [ast.unparse(node) for node in statements[1:]] == [
        "PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)"]
    assert "runtime:" in (PACK_DIR / "PulumiPolicy.yaml").read_text()
    assert "pulumi-policy==1.21.0" in (PACK_DIR / "requirements.txt").read_text().splitlines()


# ---- GPU pools ----

def test_scale_to_zero_flags_a_warm_pool_unless_always_on():
    recs = foundation()
    warm = find(recs, "pool-infer-l40s-ng")
    assert check("gpu-pool-scale-to-zero", warm) == [
        "GPU pool 'infer-l40s' keeps 1 node(s) running when idle (scalingConfig.minSize=1): GPU pools scale to zero; "
        "set min 0, or mark the pool always-on (pools.gpu[].always_on: true / policy config alwaysOnPools)"]
    assert check("gpu-pool-scale-to-zero", warm, {"alwaysOnPools": ["infer-l40s"]}) == []
    warm.inputs["labels"]["gpufleet.io/always-on"] = "true"
    assert check("gpu-pool-scale-to-zero", warm) == []
    assert check("gpu-pool-scale-to-zero", find(recs, "pool-mig-a100-ng")) == []
    assert check("gpu-pool-scale-to-zero", find(recs, "pool-system-ng")) == []  # not a GPU pool


def test_training_pools_use_spot_outside_prod():
    train = with_env(find(foundation(), "pool-train-a100-ng"), "staging")
    assert check("spot-for-training-outside-prod", train) == []
    train.inputs["capacityType"] = "ON_DEMAND"
    assert check("spot-for-training-outside-prod", train) == [
        "training pool 'train-a100' runs ON_DEMAND in staging: training pools outside prod must use spot capacity "
        "(capacity: spot, with at least two instance types)"]
    assert check("spot-for-training-outside-prod", train, {"environment": "prod"}) == []


def test_no_spot_for_production_inference():
    infer = find(foundation(), "pool-mig-a100-ng")
    assert check("no-spot-for-prod-inference", infer) == []
    infer.inputs["capacityType"] = "SPOT"
    assert check("no-spot-for-prod-inference", infer) == [
        "inference pool 'mig-a100' runs on spot in prod: a spot interruption would take serving capacity away; "
        "production inference pools use on-demand capacity (capacity: on-demand)"]
    assert check("no-spot-for-prod-inference", with_env(infer, "dev")) == []


def test_instance_type_allowlist_per_environment():
    p4d = find(foundation(), "pool-mig-a100-ng")
    assert check("gpu-instance-type-allowlist", p4d) == []
    assert check("gpu-instance-type-allowlist", p4d, {"environment": "dev"}) == [
        "GPU pool 'mig-a100' uses p4d.24xlarge, not allowed in dev (allowed: g4dn.*, g5.*, g6.*, g6e.*, gr6.*)"]
    assert check("gpu-instance-type-allowlist", p4d, {"environment": "dev", "allowedInstanceTypes": ["p4d.*"]}) == []


def test_max_nodes_per_pool():
    infer = find(foundation(), "pool-infer-l40s-ng")  # max 6
    assert check("max-gpu-nodes-per-pool", infer) == []
    assert check("max-gpu-nodes-per-pool", with_env(infer, "dev")) == [
        "GPU pool 'infer-l40s' can scale to 6 nodes (scalingConfig.maxSize); dev allows at most 4 per pool"]
    assert check("max-gpu-nodes-per-pool", infer, {"maxNodes": 6}) == []


def test_max_gpu_nodes_per_stack():
    recs = foundation()  # GPU pools at max: 2 + 4 + 6
    assert check_stack("max-gpu-nodes-per-stack", recs) == []
    assert check_stack("max-gpu-nodes-per-stack", recs, {"environment": "dev"}) == [
        "the GPU pools can scale to 12 nodes together (infer-l40s 6, mig-a100 2, train-a100 4); dev allows at most 8"]
    assert check_stack("max-gpu-nodes-per-stack", recs, {"maxNodes": 10}) == [
        "the GPU pools can scale to 12 nodes together (infer-l40s 6, mig-a100 2, train-a100 4); prod allows at most 10"]


# ---- spend ----

def test_gpu_spend_at_max_against_the_budget_by_hand():
    prices = bundled()
    # mig-a100: 2 on-demand p4d; train-a100: 4 spot at the dearer of p4d/p4de (60 % off); infer-l40s: 6 g6e.xlarge
    mig = 2 * prices.instance_hour("p4d.24xlarge") * 730
    train = 4 * prices.instance_hour("p4de.24xlarge") * 0.4 * 730
    infer = 6 * prices.instance_hour("g6e.xlarge") * 730
    total = mig + train + infer
    recs = foundation()
    assert check_stack("gpu-spend-within-budget", recs, {"budgetUsd": round(total) + 1}) == []
    assert check_stack("gpu-spend-within-budget", recs, {"budgetUsd": 12000}) == [
        f"estimated max monthly GPU spend ${total:,.0f} (every GPU pool at max nodes, 730 h) exceeds the budget of "
        f"$12,000: mig-a100 ${mig:,.0f} (2 x p4d.24xlarge on-demand), train-a100 ${train:,.0f} "
        f"(4 x p4d.24xlarge/p4de.24xlarge spot), infer-l40s ${infer:,.0f} (6 x g6e.xlarge on-demand)"]
    # a smaller spot discount makes spot dearer
    cheap = check_stack("gpu-spend-within-budget", recs, {"budgetUsd": round(total) + 1, "spotDiscount": 0.5})
    assert cheap and cheap[0].startswith("estimated max monthly GPU spend $")


def test_cost_tool_installed():
    recs = foundation()
    assert check_stack("cost-tool-installed", recs) == [
        "no cost tool in the cluster: install Kubecost or OpenCost (a Helm release of chart cost-analyzer or "
        "opencost; cost.tool in the stack config) so GPU spend is visible per team"]
    kubecost = record("kubernetes:helm.sh/v3:Release", "kubecost-release",
                      {"chart": "cost-analyzer", "version": "2.4.2"})
    assert check_stack("cost-tool-installed", [*recs, kubecost]) == []
    opencost = record("kubernetes:helm.sh/v3:Release", "oc", {"chart": "oci://ghcr.io/opencost/charts/opencost"})
    assert check_stack("cost-tool-installed", [*recs, opencost]) == []


# ---- tags ----

def test_cost_allocation_tags_on_taggable_resources():
    recs = foundation()
    vpc = find(recs, "network-vpc")
    assert check("cost-allocation-tags", vpc) == []
    del vpc.inputs["tags"]["cost-center"], vpc.inputs["tags"]["project"]
    assert check("cost-allocation-tags", vpc) == [
        "aws:ec2/vpc:Vpc 'network-vpc' lacks the cost-allocation tag(s) cost-center, project (every taggable "
        "resource carries team, cost-center, env, project: use ctx.tagger(name))"]
    aws = find(recs, "aws")
    provider = PolicyProviderResource(aws.type, aws.inputs, aws.urn, aws.name)
    # the provider's default_tags (JSON-encoded on the wire) tag what has no tags of its own
    rule = find(recs, "pool-train-a100-efa-in")
    assert check("cost-allocation-tags", rule, provider=provider) == []
    assert check("cost-allocation-tags", rule, {"acceptProviderDefaultTags": False}, provider=provider) == [
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule 'pool-train-a100-efa-in' lacks the "
        "cost-allocation tag(s) team, cost-center, env, project (every taggable resource carries team, "
        "cost-center, env, project: use ctx.tagger(name))"]
    # not taggable: nothing to check; Auto Scaling groups spell tags as a list
    assert check("cost-allocation-tags", record("aws:kms/alias:Alias", "a", {"name": "alias/x"})) == []
    asg = record("aws:autoscaling/group:Group", "asg", {"tags": [
        {"key": k, "value": "x", "propagateAtLaunch": True} for k in ("team", "cost-center", "env")]})
    assert check("cost-allocation-tags", asg) == [
        "aws:autoscaling/group:Group 'asg' lacks the cost-allocation tag(s) project (every taggable resource "
        "carries team, cost-center, env, project: use ctx.tagger(name))"]


def test_taggable_types_come_from_the_pinned_sdk():
    data = json.loads((PACK_DIR / "gpufleet_policies" / "data" / "taggable_types.json").read_text())
    assert data["source"].startswith("pulumi-aws 7.51.1")
    assert {"aws:ec2/vpc:Vpc", "aws:eks/nodeGroup:NodeGroup", "aws:s3/bucket:Bucket"} <= set(data["types"])
    assert "aws:autoscaling/tag:Tag" not in data["types"] and "aws:kms/alias:Alias" not in data["types"]


# ---- network and cluster ----

def test_single_nat_outside_prod():
    recs = foundation()  # prod: one NAT per AZ
    assert check_stack("single-nat-outside-prod", recs) == []
    assert check_stack("single-nat-outside-prod", recs, {"environment": "dev"}) == [
        "3 public NAT gateways in dev (network-nat-us-east-1a, network-nat-us-east-1b, network-nat-us-east-1c): "
        "outside prod use at most 1 (network.nat: single); each gateway bills hourly plus its public IPv4 address"]
    one = [r for r in recs if r.name not in ("network-nat-us-east-1b", "network-nat-us-east-1c")]
    assert check_stack("single-nat-outside-prod", one, {"environment": "dev"}) == []


def test_eks_version_in_standard_support():
    eks = find(foundation(), "cluster-eks")
    when = {"asOf": "2026-11-24"}
    assert check("eks-version-standard-support", eks, when) == []
    eks.inputs["version"] = "1.31"
    assert check("eks-version-standard-support", eks, when) == [
        "EKS cluster 'cluster-eks' runs Kubernetes 1.31, whose standard support ended 2025-11-26 (extended support "
        "bills 6x the control-plane price); use one of: 1.34, 1.35"]
    eks.inputs["version"] = "1.35"
    eks.inputs["upgradePolicy"]["supportType"] = "EXTENDED"
    assert check("eks-version-standard-support", eks, when) == [
        "EKS cluster 'cluster-eks' has upgradePolicy.supportType EXTENDED: it would bill extended support after "
        "standard support ends; use STANDARD"]


def test_eks_endpoint_not_open_to_the_world():
    eks = find(foundation(), "cluster-eks")
    assert check("eks-endpoint-not-public", eks) == []  # private
    eks.inputs["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"])
    assert check("eks-endpoint-not-public", eks) == []
    eks.inputs["vpcConfig"]["publicAccessCidrs"] = ["203.0.113.0/24", "0.0.0.0/0"]
    assert check("eks-endpoint-not-public", eks) == [
        "EKS cluster 'cluster-eks' exposes its API endpoint to the whole internet (0.0.0.0/0): keep it private "
        "(cluster.endpoint.public: false) or list the CIDRs that may reach it"]
    del eks.inputs["vpcConfig"]["publicAccessCidrs"], eks.inputs["vpcConfig"]["endpointPublicAccess"]
    assert check("eks-endpoint-not-public", eks) == [
        "EKS cluster 'cluster-eks' exposes its API endpoint to the whole internet (no publicAccessCidrs (AWS default "
        "0.0.0.0/0)): keep it private (cluster.endpoint.public: false) or list the CIDRs that may reach it"]


def test_eks_secrets_encryption():
    eks = find(foundation(), "cluster-eks")
    assert check("eks-secrets-encryption", eks) == []
    del eks.inputs["encryptionConfig"]
    assert check("eks-secrets-encryption", eks) == [
        "EKS cluster 'cluster-eks' does not envelope-encrypt Kubernetes secrets: set encryptionConfig with "
        "resources [secrets] and a KMS key"]


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
    raise on values unknown during preview: rules read the proxies and skip the unknowns."""
    ng = find(foundation(), "pool-infer-l40s-ng")
    proxied = SimpleNamespace(**{**vars(ng), "inputs": unknown_checking_proxy(copy.deepcopy(ng.inputs))})
    assert check("gpu-pool-scale-to-zero", proxied) != []
    p4d = find(foundation(), "pool-mig-a100-ng")
    p4d = SimpleNamespace(**{**vars(p4d), "inputs": unknown_checking_proxy(p4d.inputs)})
    assert check("gpu-instance-type-allowlist", p4d, {"environment": "dev"}) == [
        "GPU pool 'mig-a100' uses p4d.24xlarge, not allowed in dev (allowed: g4dn.*, g5.*, g6.*, g6e.*, gr6.*)"]
    ng.inputs["scalingConfig"]["minSize"] = UNKNOWN_NUMBER_VALUE
    proxied = SimpleNamespace(**{**vars(ng), "inputs": unknown_checking_proxy(ng.inputs)})
    assert check("gpu-pool-scale-to-zero", proxied) == []
    assert check("max-gpu-nodes-per-pool", proxied, {"maxNodes": 2}) == [
        "GPU pool 'infer-l40s' can scale to 6 nodes (scalingConfig.maxSize); prod allows at most 2 per pool"]
    ng.inputs["scalingConfig"]["minSize"] = "<computed>"  # the offline plan's spelling
    assert check("gpu-pool-scale-to-zero", ng) == []


# ---- the offline runner ----

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

from hypothesis import given, strategies as st  # noqa: E402

from gpufleet_policies._props import quantity  # noqa: E402

SUFFIXES = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(sorted(SUFFIXES)))
def test_quantity_reads_kubernetes_quantities(n, suffix):
    assert quantity(f"{n}{suffix}") == pytest.approx(n * SUFFIXES[suffix])
    assert quantity(n) == n


@given(st.text(alphabet="abcxyz!? ", min_size=1))
def test_quantity_refuses_what_is_not_a_quantity(text):
    assert quantity(text) is None
