"""Issue 18, section 2.2: every node at max brings its root volume (``disk_gb`` of gp3, billed per
GB-month), so both budget guards count it: ``disk_gb: 4000`` on a GPU pool at max 2 is $640 a
month that neither guard saw. The config guard (``modules/checks/ceilings.py``, exit 2) and the
policy pack's ``gpu-spend-within-budget`` (exit 1) price it at the catalog's gp3 GB-month price
for each node at max."""

from __future__ import annotations

import pytest
import yaml

from gpufleet import cli
from gpufleet.modules import catalog
from gpufleet.modules.checks import budget as budget_checks
from gpufleet.modules.checks import ceilings as ceiling_checks
from gpufleet.modules.cost.basis import HOURS_PER_MONTH
from gpufleet.modules.cost.model import estimate
from gpufleet.modules.environments import ceilings

from .helpers import STACKS, TEST_SOURCE, apply_edits, assert_one_line_error, raw_config, validate
from .policy_support import check_stack, find, foundation

GB_MONTH = catalog.load("unit-prices-us-east-1.json")["prices"]["ebs_gp3_gb_month"]
PRICES = catalog.on_demand_prices()["prices"]
H = HOURS_PER_MONTH


def instances_by_hand(cfg) -> float:
    d = ceilings(cfg.environment).spot_discount_assumed
    return sum(p.max * max(PRICES[t] for t in p.instance_types) * ((1 - d) if p.capacity == "spot" else 1) * H
               for p in [cfg.pools.system, *cfg.pools.gpu])


def volumes_by_hand(cfg) -> float:
    return sum(p.max * p.disk_gb * GB_MONTH for p in [cfg.pools.system, *cfg.pools.gpu])


# ---------------------------------------------------------------- the figure

def test_the_price_is_the_catalogs_gp3_gb_month():
    assert GB_MONTH == 0.08


@pytest.mark.parametrize("stack", STACKS)
def test_the_guard_figure_counts_every_root_volume_at_max(stack):
    cfg = validate(raw_config(stack))
    guard = estimate(cfg).budget_guard
    assert guard["parts"]["root_volumes"] == pytest.approx(volumes_by_hand(cfg), abs=0.01)
    assert guard["parts"]["instances"] == pytest.approx(instances_by_hand(cfg), abs=0.05)
    assert guard["node_spend_usd"] == pytest.approx(instances_by_hand(cfg) + volumes_by_hand(cfg), abs=0.05)
    assert "each node with its gp3 root volume" in guard["figure"]
    # the per-pool figures the guards and their tests share include each pool's volumes
    c = ceilings(cfg.environment)
    assert sum(v for _, v in ceiling_checks.max_node_spend(cfg, c.spot_discount_assumed)) == \
        pytest.approx(guard["node_spend_usd"], abs=0.05)


# ---------------------------------------------------------------- config validation (exit 2)

def big_disks(stack: str = "dev", gb: int = 4000, **extra) -> dict:
    edits = [("gpufleet:pools.gpu[0].disk_gb", gb)] + [(k, v) for k, v in extra.items()]
    return apply_edits(stack, edits)


def test_4000_gb_on_a_gpu_pool_at_max_2_in_dev_is_refused_in_one_line():
    raw = big_disks()
    assert raw["gpufleet:pools"]["gpu"][0]["max"] == 2
    cfg_without = validate(raw_config("dev"))
    # the nodes alone fit the budget: only counting the volumes refuses it
    assert instances_by_hand(cfg_without) < raw["gpufleet:cost"]["budget_usd"]
    message = assert_one_line_error(raw, TEST_SOURCE, "gpufleet:cost.budget_usd",
                                    "what every node pool at max costs for a month with spot 30% below on-demand")
    assert "their root volumes $666 (8,320 GB gp3 at max; most: shared-l4 2 x 4,000 GB)" in message
    assert message.endswith("or lower pool max sizes or disk_gb")


def test_root_volumes_push_a_dev_stack_past_the_10000_ceiling():
    """With the budget at dev's $10,000 ceiling, 4 nodes of shared-l4 fit on their instances
    (about $9,320 in all) but not with 4,000 GB each ($1,280 more)."""
    edits = {"gpufleet:pools.gpu[0].max": 4, "gpufleet:cost.budget_usd": 10_000}
    small = validate(big_disks(gb=100, **edits))  # fits: nothing refuses what the budget covers
    assert instances_by_hand(small) < 10_000 < instances_by_hand(small) + volumes_by_hand(small) + 4 * 3900 * GB_MONTH
    message = assert_one_line_error(big_disks(**edits), TEST_SOURCE, "gpufleet:cost.budget_usd",
                                    "what every node pool at max costs for a month")
    assert message.startswith(f"{TEST_SOURCE}: gpufleet:cost.budget_usd: got 10000.0; expected at least $10,626, ")
    assert "most: shared-l4 4 x 4,000 GB" in message and "(up to $10,000)" in message


def test_the_cli_refuses_it_with_one_line(tmp_path, capsys):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": big_disks()}))
    for command in (["plan", str(path)], ["cost", str(path)], ["check", str(path)]):
        code = cli.main(command)
        out, err = capsys.readouterr()
        assert code in (1, 2) and f"{path}: gpufleet:cost.budget_usd: got 8500.0; expected at least $8,811" in out + err, \
            (command, code, out, err)
        if command[0] != "check":  # check reports every stack and exits 1 on a failed one
            assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


# ---------------------------------------------------------------- the policy pack (exit 1)

def node_spend(message: str) -> float:
    return float(message.split("$", 1)[1].split(" ", 1)[0].replace(",", ""))


def test_the_pack_counts_each_node_group_s_launch_template_volumes():
    recs = foundation()
    [message] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": 1})
    budget = node_spend(message) + 100
    assert check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": budget}) == []
    # 2 nodes of mig-a100 with 4,000 GB instead of 100: $624 more a month
    find(recs, "pool-mig-a100-lt").inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] = 4000
    [message] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": budget})
    assert node_spend(message) == pytest.approx(budget - 100 + 2 * 3900 * GB_MONTH, abs=1)
    assert "root volumes $772 (gp3, every node at max: mig-a100 2 x 4,000 GB, train-a100 4 x 200 GB" in message


def test_the_pack_refuses_it_through_the_cli_without_the_config_guards(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(budget_checks, "check", lambda cfg: None)
    monkeypatch.setattr(ceiling_checks, "check", lambda cfg: None)
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": big_disks()}))
    assert cli.main(["plan", str(path)]) == 1
    out = capsys.readouterr().out
    assert "gpu-spend-within-budget" in out and "estimated max monthly node spend $8,811" in out, out
    assert "root volumes $666 (gp3, every node at max: shared-l4 2 x 4,000 GB" in out, out


def test_a_node_group_whose_launch_template_the_pack_cannot_find_is_not_verified():
    recs = [r for r in foundation() if r.name != "pool-mig-a100-lt"]
    [message] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod"})
    assert message.startswith("cannot verify the max monthly spend against the budget of $150,000 (ceiling "
                              "$150,000): mig-a100 (pool-mig-a100-ng): launchTemplate refers to a launch template "
                              "the pack does not find beside the node group"), message


def test_a_node_group_without_a_launch_template_counts_its_disk_size():
    recs = foundation()
    [message] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": 1})
    ng = find(recs, "pool-mig-a100-ng")
    recs = [r for r in recs if r.name != "pool-mig-a100-lt"]
    del ng.inputs["launchTemplate"]
    ng.inputs["diskSize"] = 4000
    [bigger] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": 1})
    assert node_spend(bigger) == pytest.approx(node_spend(message) + 2 * 3900 * GB_MONTH, abs=1)
    del ng.inputs["diskSize"]  # EKS's default: 20 GB
    [default] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": 1})
    assert node_spend(default) == pytest.approx(node_spend(message) - 2 * 80 * GB_MONTH, abs=1)
