"""Issue 18, section 2.1: EFS provisioned throughput is billed per MiB/s-month, whatever the
file system stores or serves. It is priced in every figure of the estimate, counted in the
figure both budget guards check (config validation, exit 2; the policy pack's
``gpu-spend-within-budget``, exit 1), on every fixture stack."""

from __future__ import annotations

import math

import pytest
import yaml

from gpufleet import cli
from gpufleet.modules import catalog
from gpufleet.modules.checks import budget as budget_checks
from gpufleet.modules.checks import ceilings as ceiling_checks
from gpufleet.modules.cost.basis import HOURS_PER_MONTH, per_of
from gpufleet.modules.cost.model import estimate
from gpufleet.modules.cost.pricing import bundled, unit_queries
from gpufleet.modules.environments import ceilings

from .helpers import STACKS, TEST_SOURCE, apply_edits, assert_one_line_error, raw_config, validate
from .policy_support import check_stack, foundation, record

KEY = "efs_provisioned_mibps_month"
EFS = "aws:efs/fileSystem:FileSystem"
H = HOURS_PER_MONTH
UNITS = catalog.load("unit-prices-us-east-1.json")
PRICES = catalog.on_demand_prices()["prices"]


def provisioned(stack: str, mibps: int) -> dict:
    return apply_edits(stack, [("gpufleet:storage.efs.throughput", "provisioned"),
                               ("gpufleet:storage.efs.provisioned_mibps", mibps)])


def guard_by_hand(cfg) -> float:
    """Every node pool at max for 730 h at its dearest type, spot at the environment's assumed
    discount, each node with its gp3 root volume (no EFS throughput)."""
    d = ceilings(cfg.environment).spot_discount_assumed
    total = 0.0
    for p in [cfg.pools.system, *cfg.pools.gpu]:
        hour = max(PRICES[t] for t in p.instance_types) * ((1 - d) if p.capacity == "spot" else 1)
        total += p.max * (hour * H + p.disk_gb * UNITS["prices"]["ebs_gp3_gb_month"])
    return total


# ---------------------------------------------------------------- the price, as data

def test_the_unit_price_is_data_with_its_source_and_date():
    assert UNITS["prices"][KEY] == 6.00
    assert per_of(KEY) == "month"
    assert "MiB/s" in UNITS["units"][KEY]
    dated = UNITS["dated"][KEY]
    assert "aws.amazon.com/efs/pricing" in dated["source"] and "6.00" in dated["source"]
    assert dated["date"] == "2026-12-07"
    # the price's origin names the file, its source and its date
    origin = bundled().unit_price(KEY).source
    assert "modules/data/unit-prices-us-east-1.json" in origin and "2026-12-07" in origin
    # other regions: from the Price List API, by the query Infracost prices it with
    query = unit_queries()[KEY]
    assert query == {"service_code": "AmazonEFS", "product_family": "Provisioned Throughput",
                     "usagetype": "ProvisionedTP-MiBpsHrs"}


# ---------------------------------------------------------------- the estimate

@pytest.mark.parametrize("stack", STACKS)
def test_every_figure_prices_the_provisioned_throughput(stack):
    before = estimate(validate(raw_config(stack)))
    raw = provisioned(stack, 40)
    raw["gpufleet:cost"]["budget_usd"] = ceilings(raw["gpufleet:environment"]).max_monthly_usd
    est = estimate(validate(raw))
    [line] = [i for i in est.items if i.resource == "storage-efs-throughput"]
    assert line.category == "storage" and "40 MiB/s" in line.name
    for figure in ("idle", "expected", "max", "max_within_schedule"):
        assert getattr(line, figure) == pytest.approx(40 * 6.00, abs=0.01)
        assert est.monthly[figure] == pytest.approx(before.monthly[figure] + 240, abs=0.02)
        [charge] = line.basis[figure]
        assert (charge.quantity, charge.unit, charge.price.key) == (40, "MiB/s", KEY)
    # and the guards' figure
    assert est.budget_guard["node_spend_usd"] == pytest.approx(before.budget_guard["node_spend_usd"] + 240, abs=0.02)
    assert est.budget_guard["parts"]["efs_provisioned_throughput"] == pytest.approx(240, abs=0.01)


@pytest.mark.parametrize("stack", STACKS)
def test_elastic_and_bursting_throughput_add_no_line(stack):
    for mode in ("elastic", "bursting"):
        raw = apply_edits(stack, [("gpufleet:storage.efs.throughput", mode)])
        est = estimate(validate(raw))
        assert not [i for i in est.items if i.resource == "storage-efs-throughput"]
        assert est.budget_guard["parts"]["efs_provisioned_throughput"] == 0


# ---------------------------------------------------------------- config validation (exit 2)

@pytest.mark.parametrize("stack", STACKS)
def test_the_largest_provisioned_throughput_is_refused_in_one_line(stack):
    raw = provisioned(stack, 3414)  # $20,484 a month: above every shipped budget
    message = assert_one_line_error(raw, TEST_SOURCE, "gpufleet:cost.budget_usd", "EFS provisioned throughput")
    assert "$20,484" in message and "gpufleet:storage.efs.provisioned_mibps" in message


@pytest.mark.parametrize("stack", STACKS)
def test_the_guard_figure_counts_it_where_the_expected_cost_still_fits(stack):
    """A throughput whose cost fits the expected estimate but not the guards' figure (every
    node pool at max): only counting it in that figure refuses it; one MiB/s less fits."""
    cfg = validate(raw_config(stack))
    margin = cfg.cost.budget_usd - guard_by_hand(cfg)
    over = math.floor(margin / 6.00) + 1
    assert estimate(cfg).monthly["expected"] + over * 6.00 < cfg.cost.budget_usd  # the expected check passes
    message = assert_one_line_error(provisioned(stack, over), TEST_SOURCE, "gpufleet:cost.budget_usd",
                                    "what every node pool at max costs for a month with spot 30% below on-demand")
    assert f"EFS provisioned throughput ${over * 6:,.0f}" in message
    validate(provisioned(stack, over - 2))  # fits: no guard refuses what the budget covers


@pytest.mark.parametrize("stack", STACKS)
def test_the_cli_exits_2_with_one_line(stack, tmp_path, capsys):
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": provisioned(stack, 3414)}))
    assert cli.main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}: gpufleet:cost.budget_usd: got ") and "EFS provisioned throughput" in err


# ---------------------------------------------------------------- the policy pack (exit 1)

def efs(mibps, mode="provisioned") -> object:
    inputs = {"encrypted": True, "throughputMode": mode, "tags": {"env": "prod"}}
    if mibps is not None:
        inputs["provisionedThroughputInMibps"] = mibps
    return record(EFS, "datasets-efs-fs", inputs)


def test_the_pack_counts_provisioned_throughput_in_the_spend():
    recs = foundation()
    [nodes] = check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": 1})
    node_spend = float(nodes.split("$", 1)[1].split(" ", 1)[0].replace(",", ""))
    budget = node_spend + 100  # the nodes fit
    assert check_stack("gpu-spend-within-budget", recs, {"environment": "prod", "budgetUsd": budget}) == []
    assert check_stack("gpu-spend-within-budget", [*recs, efs(None, "elastic")],
                       {"environment": "prod", "budgetUsd": budget}) == []
    assert check_stack("gpu-spend-within-budget", [*recs, efs(16)], {"environment": "prod", "budgetUsd": budget}) == []
    [message] = check_stack("gpu-spend-within-budget", [*recs, efs(17)], {"environment": "prod", "budgetUsd": budget})
    assert f"plus EFS provisioned throughput $102: ${node_spend + 102:,.0f} exceeds the budget" in message
    assert "datasets-efs-fs $102 (17 MiB/s provisioned)" in message


def test_the_pack_refuses_it_through_the_cli_without_the_config_guards(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(budget_checks, "check", lambda cfg: None)
    monkeypatch.setattr(ceiling_checks, "check", lambda cfg: None)
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": provisioned("dev", 3414)}))
    assert cli.main(["plan", str(path)]) == 1
    out = capsys.readouterr().out
    assert "gpu-spend-within-budget" in out and "plus EFS provisioned throughput $20,484" in out, out
