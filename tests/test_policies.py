"""The policy pack, rule by rule: each policy called the way CrossGuard calls it, on a
passing and a failing fixture, with its message asserted.

Fixtures are real props from ``gpufleet plan prod --json`` (``tests/fixtures/policies/``),
edited per case; stack policies get ``PolicyResource`` lists built by the pack's own
offline runner.
"""

from __future__ import annotations

import ast
import json

from pulumi_policy import EnforcementLevel, PolicyProviderResource

from gpufleet.reports.policy import PACK_DIR
from gpufleet.modules.cost.pricing import bundled

from .policy_support import check, check_stack, find, foundation, pack, record, with_env

# ---- the pack itself ----

def test_every_policy_has_a_config_schema_a_level_and_a_unique_name():
    names = [p.name for p in pack.POLICIES]
    assert len(names) == len(set(names)) == 22
    for p in pack.POLICIES:
        assert p.config_schema is not None, p.name
        # the one advisory rule: a version in extended support costs more but keeps running
        level = EnforcementLevel.ADVISORY if p.name == "eks-version-standard-support" else EnforcementLevel.MANDATORY
        assert p.enforcement_level == level, p.name


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
        "set min 0, or mark the pool always-on (gpufleet:pools.gpu[].always_on: true, then gpufleet policy <stack> "
        "--write-config)"]
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

def test_node_spend_at_max_against_the_budget_by_hand():
    """Every node pool at max for 730 h, spot at the discount prod's ceilings assume (30 %
    off), whatever the stack or the pack config hopes for, each node with its gp3 root volume
    (its launch template's); the budget counts below the ceiling only."""
    prices = bundled()
    mig = 2 * prices.instance_hour("p4d.24xlarge") * 730
    train = 4 * prices.instance_hour("p4de.24xlarge") * 0.7 * 730
    infer = 6 * prices.instance_hour("g6e.xlarge") * 730
    system = 5 * prices.instance_hour("m7i.xlarge") * 730
    volumes = (2 * 100 + 4 * 200 + 6 * 100 + 5 * 50) * prices.unit("ebs_gp3_gb_month")  # $148
    total = mig + train + infer + system + volumes
    recs = foundation()
    prod = {"environment": "prod"}
    assert check_stack("gpu-spend-within-budget", recs, {**prod, "budgetUsd": round(total) + 1}) == []
    [message] = check_stack("gpu-spend-within-budget", recs, {**prod, "budgetUsd": 12000})
    assert message.startswith(
        f"estimated max monthly node spend ${total:,.0f} (every node pool at max nodes, 730 h, spot 30% below "
        f"on-demand as the prod ceilings assume) exceeds the budget of $12,000 (ceiling $150,000); "
        f"not even free spot capacity would fit: train-a100 ${train:,.0f} (4 x p4d.24xlarge/p4de.24xlarge spot), "
        f"mig-a100 ${mig:,.0f} (2 x p4d.24xlarge on-demand), infer-l40s ${infer:,.0f} "
        f"(6 x g6e.xlarge on-demand), system ${system:,.0f} (5 x m7i.xlarge on-demand); root volumes "
        f"${volumes:,.0f} (gp3, every node at max: train-a100 4 x 200 GB, infer-l40s 6 x 100 GB, system 5 x 50 GB, "
        f"mig-a100 2 x 100 GB)"), message
    # a hopeful spot discount in the pack config does not make spot cheaper ...
    assert check_stack("gpu-spend-within-budget", recs, {**prod, "budgetUsd": round(total) + 1, "spotDiscount": 0.9}) == []
    assert check_stack("gpu-spend-within-budget", recs, {**prod, "budgetUsd": round(total) - 100, "spotDiscount": 0.9})
    # ... a more pessimistic one does
    assert check_stack("gpu-spend-within-budget", recs, {**prod, "budgetUsd": round(total) + 1, "spotDiscount": 0.1})
    # a budget above the ceiling counts as the ceiling
    assert check_stack("gpu-spend-within-budget", recs, {"environment": "dev", "budgetUsd": 10_000_000})


def test_the_break_even_discount_is_in_the_message():
    recs = foundation()
    prices = bundled()
    fixed = (2 * prices.instance_hour("p4d.24xlarge") + 6 * prices.instance_hour("g6e.xlarge")
             + 5 * prices.instance_hour("m7i.xlarge")) * 730
    fixed += (2 * 100 + 4 * 200 + 6 * 100 + 5 * 50) * prices.unit("ebs_gp3_gb_month")  # root volumes: no spot discount
    spot = 4 * prices.instance_hour("p4de.24xlarge") * 730
    budget = fixed + spot * 0.5  # fits only if spot is at least 50 % off
    [message] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": round(budget)})
    assert "it fits only if spot stays at least 50% below on-demand" in message


def test_the_stack_name_decides_the_environment_not_its_config_or_tags():
    """A stack named prod is judged as prod even when the pack config and every tag say dev."""
    recs = foundation(stack="prod")
    for r in recs:
        if isinstance(r.inputs.get("tags"), dict):
            r.inputs["tags"]["env"] = "dev"
    mig = find(recs, "pool-mig-a100-ng")
    mig.inputs["capacityType"] = "SPOT"
    assert check("no-spot-for-prod-inference", mig, {"environment": "dev"})  # prod's rule applies
    dev_named = foundation(stack="research-dev")
    assert check("gpu-instance-type-allowlist", find(dev_named, "pool-mig-a100-ng"), {"environment": "prod"}), \
        "a stack named *-dev gets dev's allowlist even if its pack config claims prod"


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


def test_eks_version_offered_refuses_only_what_eks_no_longer_or_never_offered():
    eks = find(foundation(), "cluster-eks")
    when = {"asOf": "2026-11-24"}
    assert check("eks-version-offered", eks, when) == []
    eks.inputs["version"] = "1.31"  # extended support until 2026-11-26: still offered
    assert check("eks-version-offered", eks, when) == []
    assert check("eks-version-offered", eks, {"asOf": "2026-11-27"}) == [
        "EKS cluster 'cluster-eks' asks for Kubernetes 1.31; use a Kubernetes version EKS still offers on "
        "2026-11-27 (extended support for 1.31 ended 2026-11-26, and EKS upgrades such clusters itself): "
        "1.32, 1.33, 1.34, 1.35, 1.36 (modules/data/eks_versions.json)"]
    eks.inputs["version"] = "1.99"
    assert check("eks-version-offered", eks, when)[0].startswith(
        "EKS cluster 'cluster-eks' asks for Kubernetes 1.99; use a Kubernetes version EKS offers on 2026-11-24: ")
    eks.inputs["version"] = "1.36"
    assert check("eks-version-offered", eks, {"asOf": "2026-05-01"}) == [
        "EKS cluster 'cluster-eks' asks for Kubernetes 1.36; use a Kubernetes version EKS offers on 2026-05-01 "
        "(1.36 arrives on 2026-06-03): 1.30, 1.31, 1.32, 1.33, 1.34, 1.35 (modules/data/eks_versions.json)"]


def test_eks_version_in_standard_support_is_advisory_and_warns_ahead():
    eks = find(foundation(), "cluster-eks")
    eks.inputs["version"] = "1.35"
    assert check("eks-version-standard-support", eks, {"asOf": "2026-11-24"}) == []
    assert check("eks-version-standard-support", eks, {"asOf": "2027-01-01"}) == [
        "EKS cluster 'cluster-eks': Kubernetes 1.35 leaves EKS standard support in 85 day(s), on 2027-03-27 "
        "(then extended-support billing): upgrade to 1.36"]
    assert check("eks-version-standard-support", eks, {"asOf": "2027-03-28"}) == [
        "EKS cluster 'cluster-eks': Kubernetes 1.35 left EKS standard support on 2027-03-27: the control plane "
        "bills the extended-support price until upgrade to 1.36 (EKS upgrades it itself after 2028-03-27)"]
    # the cluster stays on its version past standard support (EKS's default) rather than being
    # upgraded underneath Pulumi
    assert eks.inputs["upgradePolicy"] == {"supportType": "EXTENDED"}


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
