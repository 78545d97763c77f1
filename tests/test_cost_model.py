"""The cost model against hand computations from the bundled price tables, and the budget guard."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.modules import catalog
from gpufleet.modules.config import ConfigError
from gpufleet.modules.cost.model import FIGURES, HOURS_PER_MONTH, estimate, pool_monthly, work_hours_per_month
from gpufleet.modules.cost.pricing import bundled
from gpufleet.modules.schema.cost import ScheduleConfig

from .helpers import STACKS, TEST_SOURCE, edit, raw_config, validate

ROOT = Path(__file__).resolve().parents[1]
P = catalog.on_demand_prices()["prices"]
U = catalog.load("unit-prices-us-east-1.json")["prices"]
H = HOURS_PER_MONTH


def items_of(est, category=None):
    return {i.name: i for i in est.items if category is None or i.category == category}


# ------------------------------------------------------------------ price tables

def test_price_tables_name_source_and_date():
    table = bundled()
    assert table.region == "us-east-1"
    assert "karpenter-provider-aws" in table.source.source and "aws.amazon.com" in table.source.source
    assert table.source.date == "2026-07-20"
    units = catalog.load("unit-prices-us-east-1.json")
    assert units["source"] and units["date"] and set(units["units"]) == set(units["prices"])
    assert table.eks == {"standard": 0.10, "extended": 0.60}


# ------------------------------------------------------------------ one pool, by hand

def test_ten_on_demand_p4d_nodes_at_max():
    pc = pool_monthly(["p4d.24xlarge"], "ON_DEMAND", 0, 10)
    assert pc.idle == 0 and pc.expected == 0
    assert pc.max == pytest.approx(10 * P["p4d.24xlarge"] * H, abs=0.01)  # $160,290.79


def test_spot_pool_uses_the_discount_and_accepts_both_spellings():
    a = pool_monthly(["g6.12xlarge", "g6.24xlarge"], "SPOT", 0, 2, spot_discount=0.6)
    b = pool_monthly(["g6.12xlarge", "g6.24xlarge"], "spot", 0, 2, spot_discount=0.6)
    assert a == b
    assert a.hourly == pytest.approx(P["g6.12xlarge"] * 0.4)
    # max: the most expensive type of the pool, worst case
    assert a.max == pytest.approx(2 * P["g6.24xlarge"] * 0.4 * H, abs=0.01)
    with pytest.raises(ValueError, match="expected spot or on-demand"):
        pool_monthly(["g6.xlarge"], "reserved", 0, 1)


def test_busy_hours_warm_nodes_and_root_volumes():
    # always-on inference: 1 node all month, 3 nodes for 300 h, 100 GB roots
    pc = pool_monthly(["g6e.xlarge"], "on-demand", 1, 6, busy_hours=300, busy_nodes=3, disk_gb=100)
    node_hours = 1 * H + 2 * 300
    gb_hour = 100 * U["ebs_gp3_gb_month"] / H
    assert pc.instances[1] == pytest.approx(node_hours * P["g6e.xlarge"])
    assert pc.expected == pytest.approx(node_hours * (P["g6e.xlarge"] + gb_hour), abs=0.01)
    assert pc.idle == pytest.approx(H * (P["g6e.xlarge"] + gb_hour), abs=0.01)
    assert pc.max == pytest.approx(6 * H * (P["g6e.xlarge"] + gb_hour), abs=0.01)
    # warm work-hour nodes count when they add more than the busy hours
    warm = pool_monthly(["g6e.xlarge"], "on-demand", 0, 2, warm_nodes=1, warm_hours=260)
    assert warm.expected == pytest.approx(260 * P["g6e.xlarge"], abs=0.01)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lo=st.integers(0, 5), extra=st.integers(0, 10), hours=st.floats(0, 1000), spot=st.booleans(),
       disk=st.integers(0, 500), busy_nodes=st.integers(1, 20))
def test_idle_never_exceeds_expected_never_exceeds_max(lo, extra, hours, spot, disk, busy_nodes):
    hi = lo + extra
    if hi == 0:
        return
    pc = pool_monthly(["g6.12xlarge", "g6.24xlarge"], "spot" if spot else "on-demand", lo, hi,
                      busy_hours=hours, busy_nodes=min(busy_nodes, hi), disk_gb=disk)
    assert 0 <= pc.idle <= pc.expected <= pc.max


def test_work_hours_from_the_schedule():
    # the reference year 2027 has 261 weekdays (365 days = 52 weeks + a Friday): a month is a twelfth
    assert work_hours_per_month(ScheduleConfig(start="0 8 * * 1-5", stop="0 20 * * 1-5")) == pytest.approx(12 * 261 / 12, abs=0.01)
    assert work_hours_per_month(ScheduleConfig(start="30 7 * * MON-FRI", stop="0 19 * * MON-FRI")) == pytest.approx(11.5 * 261 / 12, abs=0.01)
    # a start every 2 h includes 20:00, the stop's time: at the same instant the pool stays started
    assert work_hours_per_month(ScheduleConfig(start="0 */2 * * *", stop="0 20 * * *")) == H
    # off from 20:00 to 22:00 every day
    assert work_hours_per_month(ScheduleConfig(start="0 22 * * *", stop="0 20 * * *")) == pytest.approx(22 * 365 / 12, abs=0.01)


# ------------------------------------------------------------------ whole stacks, by hand

@pytest.mark.on_data_day
def test_dev_idle_by_hand_and_under_120():
    """Issue #12: dev idles at most $120 with every add-on running (a t4g.nano NAT instance,
    Graviton spot system nodes, the authenticator log only)."""
    cfg = validate(raw_config("dev"))
    est = estimate(cfg)
    c = cfg.cost
    by_hand = (
        0.10 * H                                          # EKS standard support
        + U["kms_key_month"]                              # secrets key
        + c.logs_gb * (U["cloudwatch_logs_ingest_gb"] + U["cloudwatch_logs_store_gb_month"])
        + P["t4g.nano"] * H + 8 * U["ebs_gp3_gb_month"]   # the NAT instance and its root (no per-GB charge)
        + U["public_ipv4_hour"] * H                       # its public IPv4
        + 2 * P["t4g.medium"] * (1 - c.spot_discount) * H  # 2 spot Graviton system nodes
        + 2 * 30 * U["ebs_gp3_gb_month"]                  # their roots
        + c.efs_gb * U["efs_standard_gb_month"] + c.s3_gb * U["s3_standard_gb_month"]
        + (c.prometheus.volume_gb + 8 + 2) * U["ebs_gp3_gb_month"]  # Prometheus, Kubecost ETL, Alertmanager
    )
    assert est.monthly["idle"] == pytest.approx(by_hand, abs=0.02)
    assert est.by_category("gpu")["idle"] == 0
    assert est.monthly["idle"] <= 120


@pytest.mark.on_data_day
def test_dev_plan_idle_with_every_add_on_is_at_most_120(dev_plan):
    cost = next(r for r in dev_plan.reports if r.key == "cost").data
    assert cost["monthly"]["idle"] <= 120
    # the KMS keys other layers declare are priced from the plan
    kms = [i for i in cost["items"] if i["resource"] != "cluster-secrets" and i["name"].startswith("KMS key")]
    assert len(kms) == len([r for r in dev_plan.by_type("aws:kms/key:Key")]) - 1


def test_prod_has_a_nat_and_an_address_per_az_and_always_on_inference():
    cfg = validate(raw_config("prod"))
    est = estimate(cfg)
    nat = [i for i in est.items if i.name.startswith("NAT gateway")]
    ipv4 = [i for i in est.items if i.name.startswith("public IPv4")]
    assert len(nat) == len(ipv4) == 3
    infer = items_of(est, "gpu")["GPU pool infer-l40s: 1..6 × g6e.xlarge (on-demand)"]
    assert infer.idle == pytest.approx(P["g6e.xlarge"] * H, abs=0.01)


def test_extended_support_costs_six_times_standard():
    cfg = validate(raw_config("dev"))
    ver = catalog.eks_versions()[cfg.cluster.version]
    est = estimate(cfg, on=date.fromordinal(ver.end_of_standard_support.toordinal() + 1))
    cp = next(i for i in est.items if i.resource == "cluster-eks")
    assert "extended support" in cp.name and cp.idle == pytest.approx(0.60 * H)


def _pool_ceiling(pool, hours):
    """A pool at max for ``hours`` at its dearest type's on-demand price, with its root volumes."""
    dearest = max(P[t] for t in pool.instance_types)
    return pool.max * hours * (dearest + pool.disk_gb * U["ebs_gp3_gb_month"] / H)


def test_max_prices_spot_at_on_demand_every_pool_at_max_all_month():
    cfg = validate(raw_config("prod"))
    est = estimate(cfg)
    fixed = sum(i.max for i in est.items if not i.resource.startswith("pool-"))
    by_hand = fixed + sum(_pool_ceiling(p, H) for p in [cfg.pools.system, *cfg.pools.gpu])
    assert est.monthly["max"] == pytest.approx(by_hand, abs=0.05)
    # p4de spot at on-demand: prod's ceiling is about $121.7k, far above its budget (the guards use their own figure)
    assert 121_000 < est.monthly["max"] < 122_500 and est.monthly["max"] > cfg.cost.budget_usd
    train = items_of(est, "gpu")["GPU pool train-a100: 0..4 × p4d.24xlarge (spot), max at p4de.24xlarge"]
    assert train.max == pytest.approx(4 * P["p4de.24xlarge"] * H, abs=0.01)
    assert {c.price.pricing for c in train.basis["max"]} == {"on-demand"}
    assert {c.price.pricing for c in train.basis["expected"]} == {"spot-at-discount"}
    # no schedule in prod: the two ceilings agree
    assert est.monthly["max_within_schedule"] == est.monthly["max"]


def test_dev_max_within_schedule_runs_scheduled_pools_261_hours():
    cfg = validate(raw_config("dev"))
    est = estimate(cfg)
    hours = 261.0  # 08:00-20:00 Europe/Berlin on the 261 weekdays of 2027, a twelfth of it
    fixed = sum(i.max for i in est.items if not i.resource.startswith("pool-"))
    system = _pool_ceiling(cfg.pools.system, H)
    assert est.monthly["max"] == pytest.approx(fixed + system + sum(_pool_ceiling(p, H) for p in cfg.pools.gpu), abs=0.05)
    assert est.monthly["max_within_schedule"] == pytest.approx(
        fixed + system + sum(_pool_ceiling(p, hours) for p in cfg.pools.gpu), abs=0.05)
    assert est.monthly["expected"] < est.monthly["max_within_schedule"] < est.monthly["max"]
    assert est.assumptions["schedule"]["hours_per_month"] == hours
    assert any(n.startswith("max_within_schedule: shared-l4, train-spot can run at most 261 h/month") for n in est.notes)


def test_busy_hours_beyond_the_schedule_are_capped_and_said():
    raw = edit(raw_config("dev"), "gpufleet:cost.busy.shared-l4", {"hours": 500, "nodes": 1})
    est = estimate(validate(raw))
    l4 = items_of(est, "gpu")["GPU pool shared-l4: 0..2 × g6.xlarge (on-demand)"]
    assert l4.expected == pytest.approx(261 * P["g6.xlarge"], abs=0.01)
    assert any("shared-l4: gpufleet:cost.busy asks 500 h/month, the schedule allows 261" in n for n in est.notes)


def test_items_add_up_to_the_totals(any_stack_plan):
    cost = next(r for r in any_stack_plan.reports if r.key == "cost").data
    assert set(cost) == {"currency", "monthly", "figures", "items", "prices", "assumptions", "budget_guard", "notes",
                         "not_priced"}
    assert cost["currency"] == "USD" and set(cost["prices"]) == {"source", "date", "region"}
    assert set(cost["monthly"]) == set(FIGURES)
    for k in FIGURES:
        assert sum(i[k] for i in cost["items"]) == pytest.approx(cost["monthly"][k], abs=0.005)
    for item in cost["items"]:
        assert set(item) == {"name", "category", "resource", *FIGURES, "basis"}
        assert 0 <= item["idle"] <= item["expected"] <= item["max_within_schedule"] <= item["max"]


def test_plan_json_has_the_cost_key(dev_plan):
    doc = dev_plan.to_json()
    assert doc["cost"]["monthly"]["idle"] == next(r for r in dev_plan.reports if r.key == "cost").data["monthly"]["idle"]
    assert doc["outputs"]["cost"]["budget_usd"] == dev_plan.config.cost.budget_usd


def test_non_us_east_1_stack_says_its_prices_are_us_east_1():
    raw = edit(raw_config("dev"), "aws:region", "us-west-2")
    edit(raw, "gpufleet:network.azs", ["us-west-2a", "us-west-2b"])
    est = estimate(validate(raw))
    assert any("--live-prices" in n for n in est.notes)


@pytest.mark.on_data_day
def test_jark_benchmark_is_about_447_and_dev_is_a_third_of_it():
    spec = importlib.util.spec_from_file_location("jark_cost", ROOT / "benchmarks" / "jark_cost.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    jark = mod.jark_estimate().monthly["idle"]
    by_hand = (0.10 * H + U["kms_key_month"] + U["nat_gateway_hour"] * H + U["public_ipv4_hour"] * H
               + 2 * U["nlb_hour"] * H + 2 * P["m5.xlarge"] * H + 200 * U["ebs_gp3_gb_month"]
               + 100 * U["ebs_gp3_gb_month"])
    assert jark == pytest.approx(by_hand, abs=0.02)
    assert 445 <= jark <= 449


# ------------------------------------------------------------------ the first guard: config validation

@pytest.mark.on_data_day
def test_config_over_budget_fails_before_any_resource():
    raw = edit(raw_config("dev"), "gpufleet:cost.budget_usd", 250)
    with pytest.raises(ConfigError) as exc:
        validate(raw)
    msg = str(exc.value)
    expected = estimate(validate(raw_config("dev"))).monthly["expected"]
    assert f"gpufleet:cost.budget_usd: got 250.0; expected at least the stack's expected monthly cost ${expected:,.2f}" in msg
    assert "(largest: GPU pool train-spot" in msg


@pytest.mark.parametrize("path,value,key,expected", [
    ("gpufleet:cost.busy.nope", {"hours": 10}, "gpufleet:cost.busy.nope", "a GPU pool of this stack: shared-l4, train-spot"),
    ("gpufleet:cost.busy.shared-l4", {"hours": 10, "nodes": 9}, "gpufleet:cost.busy.shared-l4.nodes", "at most the pool's max (2)"),
    ("gpufleet:cost.schedule.time_zone", "Mars/Olympus", "gpufleet:cost.schedule.time_zone", "an IANA time zone name"),
    ("gpufleet:cost.schedule.stop", "at eight", "gpufleet:cost.schedule.stop", "a 5-field cron expression"),
    ("gpufleet:cost.schedule.start", "0 25 * * 1-5", "gpufleet:cost.schedule.start", "hours 0-23"),
    ("gpufleet:cost.emails", ["not-an-address"], "gpufleet:cost.emails[0]", "an e-mail address"),
    ("gpufleet:cost.spot_discount", 1.5, "gpufleet:cost.spot_discount", "less than 1"),
    ("gpufleet:cost.tool", "datadog", "gpufleet:cost.tool", "'kubecost' or 'opencost'"),
])
def test_bad_cost_config_names_the_key(path, value, key, expected):
    with pytest.raises(ConfigError) as exc:
        validate(edit(raw_config("dev"), path, value))
    assert f"{key}: got" in str(exc.value) and expected in str(exc.value)


def test_an_unpriced_instance_type_is_a_config_error():
    with pytest.raises(ConfigError) as exc:
        validate(edit(raw_config("prod"), "gpufleet:pools.gpu[2].instance_types", ["p5e.48xlarge"]))
    assert str(exc.value).startswith(f"{TEST_SOURCE}: gpufleet:pools.gpu[2].instance_types[0]: got 'p5e.48xlarge'; "
                                     "expected an instance type with an on-demand price")


def test_no_schedule_in_prod():
    with pytest.raises(ConfigError, match=r"gpufleet:cost.schedule.enabled: got true; expected false in prod"):
        validate(edit(raw_config("prod"), "gpufleet:cost.schedule", {"stop": "0 20 * * 1-5"}))


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_fit_their_budget(stack):
    cfg = validate(raw_config(stack))
    est = estimate(cfg)
    assert est.monthly["expected"] <= cfg.cost.budget_usd
    # the budget guards check their own figure (spot at the environment's assumed discount), not max
    guard = est.budget_guard
    assert guard["fits"] and guard["node_spend_usd"] <= cfg.cost.budget_usd
    assert guard["spot_discount_assumed"] == 0.3
    nodes = est.by_category("gpu")["max"] + est.by_category("system-nodes")["max"]
    disks = sum(i.max for i in est.items if i.resource.startswith("pool-") and i.resource.endswith("-lt"))
    # with spot at on-demand every pool costs at least as much as the guards assume
    assert nodes + disks >= guard["node_spend_usd"] - 0.05


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(l4_hours=st.floats(0, 730), train_hours=st.floats(0, 730), nat=st.floats(0, 2000), efs=st.floats(0, 2000),
       discount=st.floats(0, 0.7), per_az=st.booleans())
def test_any_dev_variant_adds_up_and_is_ordered(l4_hours, train_hours, nat, efs, discount, per_az):
    raw = edit(raw_config("dev"), "gpufleet:cost.busy", {"shared-l4": {"hours": l4_hours}, "train-spot": {"hours": train_hours}})
    edit(raw, "gpufleet:cost.nat_gb", nat)
    edit(raw, "gpufleet:cost.efs_gb", efs)
    edit(raw, "gpufleet:cost.spot_discount", discount)
    edit(raw, "gpufleet:cost.budget_usd", 10_000)  # dev's ceiling
    if per_az:
        edit(raw, "gpufleet:network.nat", "per_az")
    est = estimate(validate(raw))
    for k in FIGURES:
        assert sum(getattr(i, k) for i in est.items) == pytest.approx(est.monthly[k], abs=0.01)
    assert est.monthly["idle"] <= est.monthly["expected"] <= est.monthly["max_within_schedule"] <= est.monthly["max"]
    assert len([i for i in est.items if i.name.startswith("NAT gateway")]) == (2 if per_az else 0)
    assert len([i for i in est.items if i.name.startswith("NAT instance t4g.nano")]) == (0 if per_az else 1)
