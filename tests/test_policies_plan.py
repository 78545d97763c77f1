"""The policy pack on real plans: shipped stacks pass, a runaway GPU config fails the plan.

Also: the rules read what the other layers really emit (Kueue queues, the device-plugin
ConfigMap, the node groups), and the ``--policy-pack-config`` files match the stacks.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from gpufleet.modules.cost.pricing import bundled

from gpufleet import cli
from gpufleet.reports.policy import load_pack, pack_config, violations

from .conftest import shipped_plan
from .helpers import FIXTURE_POLICY_CONFIG, STACKS, raw_config, render

pack = load_pack()
from gpufleet.policies import offline  # noqa: E402


def test_shipped_stacks_have_no_mandatory_violation(any_stack_plan):
    section = next(r for r in any_stack_plan.reports if r.key == "policy")
    assert section.data["pack"] == "gpufleet"
    mandatory = [v for v in section.data["violations"] if v["level"] == "mandatory"]
    assert mandatory == []
    assert not section.failed
    assert any_stack_plan.to_json()["policy"] == section.data


def test_rules_read_the_real_resources_of_the_dev_plan(dev_plan):
    """Tighter thresholds make each rule fire on what the dev stack really declares: proof
    the shipped stacks pass because they comply, not because a rule sees nothing."""
    tight = {
        "max-gpu-nodes-per-pool": {"maxNodes": 1},
        "timeslice-replicas-bound": {"maxReplicas": 3},
        "kueue-quota-within-capacity": {"maxQuotaPercent": 50},
        "gpu-spend-within-budget": {"budgetUsd": 100},
        "gpu-instance-type-allowlist": {"allowedInstanceTypes": ["g6.xlarge"]},
        "cost-tool-installed": {"charts": ["opencost"]},
        "eks-version-standard-support": {"asOf": "2027-08-10"},
        "imdsv2-required": {"maxHopLimit": 1},
    }
    found = offline.run(dev_plan.resources, {**pack_config(dev_plan.config), **tight})
    by_policy: dict[str, list[str]] = {}
    for v in found:
        by_policy.setdefault(v.policy, []).append(v.message)
    assert sorted(by_policy) == sorted(set(tight) - {"imdsv2-required"})
    assert len(by_policy["max-gpu-nodes-per-pool"]) == 2  # shared-l4 and train-spot, max 2 each
    assert "shares each nvidia.com/gpu 4 ways" in by_policy["timeslice-replicas-bound"][0]
    assert any("flavor 'train-spot'" in m and "nvidia.com/gpu" in m for m in by_policy["kueue-quota-within-capacity"])
    assert by_policy["gpu-instance-type-allowlist"] == [
        "GPU pool 'train-spot' uses g6.12xlarge, g6.24xlarge, not allowed in dev (allowed: g6.xlarge)"]
    assert "left EKS standard support on 2027-08-03" in by_policy["eks-version-standard-support"][0]


def test_prod_scale_to_zero_knows_its_always_on_pool(prod_plan):
    config = pack_config(prod_plan.config)
    assert config["gpu-pool-scale-to-zero"]["alwaysOnPools"] == ["infer-l40s"]
    del config["gpu-pool-scale-to-zero"]["alwaysOnPools"]
    # without the stack config, the node group's own label says it is always-on (what `pulumi preview` sees)
    assert not [v for v in offline.run(prod_plan.resources, config) if v.policy == "gpu-pool-scale-to-zero"]
    unlabelled = copy.deepcopy(prod_plan.resources)
    for r in unlabelled:
        r.inputs.get("labels", {}).pop("gpufleet.io/always-on", None)
    found = [v for v in offline.run(unlabelled, config) if v.policy == "gpu-pool-scale-to-zero"]
    assert [v.name for v in found] == ["pool-infer-l40s-ng"]


def ten_p4d_in_dev() -> dict:
    raw = raw_config("dev")
    raw["gpufleet:pools"]["gpu"].append(
        {"name": "big-train", "purpose": "training", "instance_types": ["p4d.24xlarge"], "max": 10})
    return raw


def test_ten_on_demand_p4d_nodes_in_dev_stop_at_the_config_guard(tmp_path, capsys):
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump({"config": ten_p4d_in_dev()}))
    assert cli.main(["plan", str(stack_file), "--json"]) == 2  # the first cost guard: config
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gpufleet:cost.budget_usd" in err and "big-train $" in err


def test_ten_on_demand_p4d_nodes_in_dev_fail_the_pack_on_their_own(monkeypatch, capsys):
    """The second guard alone: with the config guard switched off, the pack refuses the plan."""
    from gpufleet.modules.checks import ceilings

    monkeypatch.setattr(ceilings, "check", lambda cfg: None)
    raw = ten_p4d_in_dev()
    plan = render(raw, stack="dev")
    verdicts = {(v.policy, v.level): v.message for v in violations(plan)}
    assert verdicts[("gpu-instance-type-allowlist", "mandatory")] == (
        "GPU pool 'big-train' uses p4d.24xlarge, not allowed in dev (allowed: g4dn.*, g5.*, g6.*, g6e.*, gr6.*)")
    assert verdicts[("max-gpu-nodes-per-pool", "mandatory")] == (
        "GPU pool 'big-train' can scale to 10 nodes (scalingConfig.maxSize); dev allows at most 4 per pool")
    assert verdicts[("spot-for-training-outside-prod", "mandatory")].startswith(
        "training pool 'big-train' runs ON_DEMAND in dev")
    big = 10 * bundled().instance_hour("p4d.24xlarge") * 730  # $160,291 on the bundled table
    budget = raw["gpufleet:cost"]["budget_usd"]
    message = verdicts[("gpu-spend-within-budget", "mandatory")]
    assert message.startswith("estimated max monthly node spend $")
    assert f"exceeds the budget of ${budget:,.0f} (ceiling $10,000)" in message
    assert f"big-train ${big:,.0f} (10 x p4d.24xlarge on-demand), " in message
    assert verdicts[("max-gpu-nodes-per-stack", "mandatory")] == (
        "the GPU pools can scale to 14 nodes together (big-train 10, shared-l4 2, train-spot 2); dev allows at most 8")


def test_policy_pack_config_files_match_the_stacks(capsys):
    for stack in STACKS:
        assert cli.main(["policy", stack, "--config"]) == 0
        printed = capsys.readouterr().out
        assert (FIXTURE_POLICY_CONFIG / f"{stack}.json").read_text() == printed, (
            f"policies/config/{stack}.json is stale: run gpufleet policy {stack} --write-config")
        config = json.loads(printed)
        assert set(config) == {p.name for p in pack.POLICIES}
        assert config["gpu-spend-within-budget"]["budgetUsd"] == shipped_plan(stack).config.cost.budget_usd
        assert config["single-nat-outside-prod"]["environment"] == stack


@pytest.mark.on_data_day
def test_policy_command_prints_the_verdicts(capsys):
    assert cli.main(["policy", "staging"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("project gpufleet (")
    assert out[1] == "Policy pack gpufleet: 22 rules: 22 passed, 0 failed (0 mandatory), 0 skipped"
    assert cli.main(["policy", "staging", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["violations"] == [] and doc["summary"] == {"rules": 22, "passed": 22, "failed": 0, "skipped": 0}
