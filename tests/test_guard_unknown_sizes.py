"""Issue 18, section 2.4: a size the policy pack cannot read fails closed. A node group whose
``scalingConfig`` (or a launch template's volume size, an EFS file system's provisioned
throughput, a ClusterQueue's quota) is computed from another resource's output is unknown at
``pulumi preview``; missing is no better. Every rule that needs such a size reports that it
cannot verify it, as a violation at the rule's level (mandatory), instead of counting 0 nodes.

Both spellings of an unknown are covered: CrossGuard's proxies (``unknown_checking_proxy``,
which raise on an unknown) and the offline plan's ``"<computed>"``."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, unknown_checking_proxy

from .policy_support import check, check_stack, find, foundation, offline, record

NO_GUESS = ("the pack never counts a size it cannot read as 0 nodes: give the node group sizes known at preview "
            "(literals, not outputs of other resources)")
NOT_KNOWN = "is not known before deployment (a computed value)"
EFS = "aws:efs/fileSystem:FileSystem"


def proxied(rec: SimpleNamespace) -> SimpleNamespace:
    """The record as CrossGuard hands it to a rule during preview."""
    return SimpleNamespace(**{**vars(rec), "inputs": unknown_checking_proxy(rec.inputs)})


def with_unknown(path: str, spelling: str, name: str = "pool-train-a100-ng") -> list[SimpleNamespace]:
    """The foundation with one node-group size unknown: ``scalingConfig`` as a whole or one
    size, in CrossGuard's spelling (``proxy``) or the offline plan's (``offline``)."""
    recs = foundation()
    ng = find(recs, name)
    unknown = {"proxy": UNKNOWN_OBJECT_VALUE if path == "scalingConfig" else UNKNOWN_NUMBER_VALUE,
               "offline": "<computed>"}[spelling]
    if path == "scalingConfig":
        ng.inputs["scalingConfig"] = unknown
    else:
        ng.inputs["scalingConfig"][path.split(".")[1]] = unknown
    if spelling == "proxy":
        recs = [proxied(r) if r is ng else r for r in recs]
    return recs


SPELLINGS = ["proxy", "offline"]


# ---------------------------------------------------------------- the spend rule

@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("path", ["scalingConfig", "scalingConfig.maxSize"])
def test_the_spend_rule_cannot_verify_an_unknown_max_size(path, spelling):
    """Before: the pool counted 0 nodes, and the stack passed on a budget its nodes exceed."""
    recs = with_unknown(path, spelling)
    assert check_stack("gpu-spend-within-budget", foundation(), {"environment": "prod", "budgetUsd": 30_000})
    [message] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": 30_000})
    assert message == (f"cannot verify the max monthly spend against the budget of $30,000 (ceiling $150,000): "
                       f"train-a100 (pool-train-a100-ng): scalingConfig.maxSize {NOT_KNOWN}; {NO_GUESS}")
    # whatever the budget: an unknown size is never taken to fit
    assert check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": 150_000}) == [message.replace(
        "$30,000 (ceiling", "$150,000 (ceiling")]


def test_a_missing_scaling_config_is_not_verified_either():
    recs = foundation()
    del find(recs, "pool-infer-l40s-ng").inputs["scalingConfig"]
    [message] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod"})
    assert "infer-l40s (pool-infer-l40s-ng): scalingConfig.maxSize is missing" in message and NO_GUESS in message


def test_unknown_instance_types_and_volume_sizes_are_not_verified():
    recs = foundation()
    find(recs, "pool-system-ng").inputs["instanceTypes"] = "<computed>"
    find(recs, "pool-mig-a100-lt").inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] = "<computed>"
    [message] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod"})
    assert f"system (pool-system-ng): instanceTypes {NOT_KNOWN}" in message
    assert f"mig-a100 (pool-mig-a100-ng): pool-mig-a100-lt blockDeviceMappings[0].ebs.volumeSize {NOT_KNOWN}" in message


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_unknown_provisioned_throughput_is_not_verified(spelling):
    inputs = {"encrypted": True, "throughputMode": "provisioned", "tags": {"env": "prod"},
              "provisionedThroughputInMibps": UNKNOWN_NUMBER_VALUE if spelling == "proxy" else "<computed>"}
    fs = record(EFS, "datasets-efs-fs", inputs)
    fs = proxied(fs) if spelling == "proxy" else fs
    [message] = check_stack("gpu-spend-within-budget", [*foundation(), fs], {"environment": "prod"})
    assert f"datasets-efs-fs: provisionedThroughputInMibps {NOT_KNOWN} (throughputMode provisioned)" in message
    fs = record(EFS, "datasets-efs-fs", {**inputs, "throughputMode": "<computed>"})
    [message] = check_stack("gpu-spend-within-budget", [*foundation(), fs], {"environment": "prod"})
    assert f"datasets-efs-fs: throughputMode {NOT_KNOWN}" in message


def test_cannot_verify_is_a_mandatory_failure_of_the_rule():
    result = {r.policy: r for r in offline.evaluate(with_unknown("scalingConfig", "offline")).rules}
    for rule in ("gpu-spend-within-budget", "max-gpu-nodes-per-stack", "max-gpu-nodes-per-pool"):
        assert result[rule].status == "failed" and result[rule].level == "mandatory", rule
        assert [v.message for v in result[rule].violations if v.message.startswith("cannot verify")], rule


# ---------------------------------------------------------------- the node-count rules

@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_stack_node_cap_cannot_verify_an_unknown_max_size(spelling):
    recs = with_unknown("scalingConfig.maxSize", spelling)
    assert check_stack("max-gpu-nodes-per-stack", foundation(), {"maxNodes": 10})  # 12 nodes: over
    assert check_stack("max-gpu-nodes-per-stack", recs, {"maxNodes": 10}) == [
        f"cannot verify that the GPU pools stay within 10 nodes together: train-a100 (pool-train-a100-ng): "
        f"scalingConfig.maxSize {NOT_KNOWN}; {NO_GUESS}"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_pool_node_cap_cannot_verify_an_unknown_max_size(spelling):
    [rec] = [r for r in with_unknown("scalingConfig.maxSize", spelling) if r.name == "pool-train-a100-ng"]
    assert check("max-gpu-nodes-per-pool", rec, {"maxNodes": 16}) == [
        f"cannot verify that GPU pool 'train-a100' stays within 16 nodes: train-a100 (pool-train-a100-ng): "
        f"scalingConfig.maxSize {NOT_KNOWN}; {NO_GUESS}"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_system_pool_ceiling_cannot_verify_an_unknown_max_size(spelling):
    [rec] = [r for r in with_unknown("scalingConfig", spelling, "pool-system-ng") if r.name == "pool-system-ng"]
    assert check("system-pool-within-ceilings", rec) == [
        f"cannot verify that system pool 'system' stays within prod's ceilings (at most 20 nodes): system "
        f"(pool-system-ng): scalingConfig.maxSize {NOT_KNOWN}; {NO_GUESS}"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_scale_to_zero_cannot_verify_an_unknown_min_size(spelling):
    [rec] = [r for r in with_unknown("scalingConfig.minSize", spelling) if r.name == "pool-train-a100-ng"]
    [message] = check("gpu-pool-scale-to-zero", rec)
    assert message.startswith("cannot verify that GPU pool 'train-a100' scales to zero: train-a100 "
                              f"(pool-train-a100-ng): scalingConfig.minSize {NOT_KNOWN}")
    assert check("gpu-pool-scale-to-zero", rec, {"alwaysOnPools": ["train-a100"]}) == []


# ---------------------------------------------------------------- quotas and hop limits

def quota_records(max_size) -> list[SimpleNamespace]:
    recs = foundation()
    find(recs, "pool-train-a100-ng").inputs["scalingConfig"]["maxSize"] = max_size
    flavor = record("kubernetes:kueue.x-k8s.io/v1beta1:ResourceFlavor", "kueue-flavor-train-a100",
                    {"metadata": {"name": "train-a100"}, "spec": {"nodeLabels": {"gpufleet.io/pool": "train-a100"}}})
    queue = record("kubernetes:kueue.x-k8s.io/v1beta1:ClusterQueue", "kueue-cq-research", {
        "metadata": {"name": "research"},
        "spec": {"resourceGroups": [{"coveredResources": ["nvidia.com/gpu"], "flavors": [
            {"name": "train-a100", "resources": [{"name": "nvidia.com/gpu", "nominalQuota": 16}]}]}]}})
    return [*recs, flavor, queue]


def test_kueue_quotas_cannot_verify_a_pool_of_unknown_size():
    assert check_stack("kueue-quota-within-capacity", quota_records(4)) == []  # 16 of 4 x 8 GPUs
    assert check_stack("kueue-quota-within-capacity", quota_records(1))  # 16 of 1 x 8: over
    assert check_stack("kueue-quota-within-capacity", quota_records("<computed>")) == [
        "cannot verify that the Kueue quotas fit the pools: the quota of flavor 'train-a100' on pool train-a100 "
        f"(pool-train-a100-ng): scalingConfig.maxSize {NOT_KNOWN}; {NO_GUESS}"]
    recs = quota_records(4)
    recs[-1].inputs["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = "<computed>"
    [message] = check_stack("kueue-quota-within-capacity", recs)
    assert message.startswith(f"cannot verify that the Kueue quotas fit the pools: ClusterQueue research: a "
                              f"nominalQuota {NOT_KNOWN}")


def test_an_unknown_hop_limit_is_not_verified():
    lt = find(foundation(), "pool-mig-a100-lt")
    lt.inputs["metadataOptions"]["httpPutResponseHopLimit"] = UNKNOWN_NUMBER_VALUE
    assert check("imdsv2-required", proxied(lt)) == [
        "cannot verify that LaunchTemplate 'pool-mig-a100-lt' keeps IMDS answers within 1 hop(s): "
        "metadataOptions.httpPutResponseHopLimit is not known before deployment (a computed value); give it a literal"]


# ---------------------------------------------------------------- on a real plan

def test_the_dev_plan_with_computed_sizes_fails_the_pack(dev_plan):
    resources = copy.deepcopy(dev_plan.resources)
    for r in resources:
        if r.type == "aws:eks/nodeGroup:NodeGroup" and r.name == "pool-train-spot-ng":
            r.inputs["scalingConfig"] = "<computed>"
    assert not [v for v in offline.run(dev_plan.resources) if v.level == "mandatory"
                and v.policy in ("gpu-spend-within-budget", "max-gpu-nodes-per-stack", "max-gpu-nodes-per-pool")]
    found = {v.policy for v in offline.run(resources) if v.level == "mandatory" and v.message.startswith("cannot verify")}
    assert {"gpu-spend-within-budget", "max-gpu-nodes-per-stack", "max-gpu-nodes-per-pool",
            "gpu-pool-scale-to-zero"} <= found
