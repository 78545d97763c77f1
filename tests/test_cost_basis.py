"""Every figure carries its basis (issue #12): each item of ``plan --json``'s ``cost`` key is
recomputed from its own charges; the notes (prices, spot, schedule, the budget guards'
figure), what is not priced and the control-plane log volume are in every output."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gpufleet.reports import cost as fmt
from gpufleet.modules import catalog
from gpufleet.modules.cost.basis import FIGURES, charge_usd
from gpufleet.modules.cost.logs import SECONDS_PER_MONTH, audit_gb_per_month, control_plane_logs
from gpufleet.modules.cost.model import estimate
from gpufleet.modules.cost.schedule_hours import firings, scheduled_hours_per_month

from .helpers import STACKS, edit, raw_config, validate

P = catalog.on_demand_prices()["prices"]
U = catalog.load("unit-prices-us-east-1.json")["prices"]
PRICINGS = {"on-demand", "spot-at-discount", "spot-from-history", "list"}


def cost_of(plan) -> dict:
    return plan.to_json()["cost"]


# ------------------------------------------------------------------ every item from its own fields

def recompute(charge: dict) -> float:
    """quantity × hours × unit price, from the JSON fields alone (not the model's code)."""
    q, hours, price = charge["quantity"], charge["hours"], charge["unit_price"]
    if charge["per"] == "hour":
        return q * hours * price
    if charge["per"] == "month":
        return q * (1 if hours is None else hours / 730) * price
    assert charge["per"] == "GB" and hours is None
    return q * price


def test_every_item_of_every_shipped_stack_recomputes_from_its_basis(any_stack_plan):
    cost = cost_of(any_stack_plan)
    for item in cost["items"]:
        for fig in FIGURES:
            charges = item["basis"][fig]
            assert charges, (item["name"], fig)
            assert sum(recompute(c) for c in charges) == pytest.approx(item[fig], abs=0.006), (item["name"], fig)
            for c in charges:
                assert c["pricing"] in PRICINGS and c["price_source"] and c["price_region"] == "us-east-1"
                if c["unit"] == "node":
                    # an instance: its type and count, priced per hour
                    assert c["instance_type"] in P and c["count"] == c["quantity"] and c["per"] == "hour"
                    if c["pricing"] == "on-demand":
                        assert c["unit_price"] == P[c["instance_type"]]
                    else:
                        assert c["pricing"] == "spot-at-discount"
                        assert c["unit_price"] == pytest.approx(c["on_demand_price"] * (1 - c["discount"]))
                        assert c["on_demand_price"] == P[c["instance_type"]]
                else:
                    assert c["pricing"] == "list" and c["unit_price"] in (*U.values(), 0.10, 0.60)
    for fig in FIGURES:
        assert sum(i[fig] for i in cost["items"]) == pytest.approx(cost["monthly"][fig], abs=0.01)


def test_the_ceilings_price_every_node_at_on_demand(any_stack_plan):
    for item in cost_of(any_stack_plan)["items"]:
        for fig in ("max", "max_within_schedule"):
            for c in item["basis"][fig]:
                if c["unit"] == "node":
                    assert c["pricing"] == "on-demand"


def test_dev_system_pool_basis_by_hand(dev_plan):
    item = next(i for i in cost_of(dev_plan)["items"] if i["resource"] == "pool-system-ng")
    (idle,) = item["basis"]["idle"]
    assert (idle["instance_type"], idle["count"], idle["hours"], idle["pricing"]) == ("t4g.medium", 2, 730, "spot-at-discount")
    assert idle["unit_price"] == pytest.approx(P["t4g.medium"] * 0.4) and idle["discount"] == 0.6
    (top,) = item["basis"]["max"]
    # the dearest type of the pool (c7g.large), 4 nodes, all month, on-demand
    assert (top["instance_type"], top["count"], top["hours"], top["pricing"]) == ("c7g.large", 4, 730, "on-demand")
    assert item["max"] == pytest.approx(4 * 730 * P["c7g.large"], abs=0.01)


@settings(max_examples=100, deadline=None)
@given(q=st.floats(0, 1e4), hours=st.floats(0, 730), price=st.floats(0, 100))
def test_charge_formula(q, hours, price):
    assert charge_usd(q, hours, price, "hour") == pytest.approx(q * hours * price)
    assert charge_usd(q, 730, price, "month") == pytest.approx(q * price)  # a month of a monthly price
    assert charge_usd(q, hours, price, "month") <= charge_usd(q, None, price, "month") + 1e-9
    assert charge_usd(q, None, price, "GB") == pytest.approx(q * price)


# ------------------------------------------------------------------ notes, in the JSON of the plan

def test_plan_json_carries_the_notes_and_the_figures(dev_plan):
    cost = cost_of(dev_plan)
    notes = cost["notes"]
    assert any(n.startswith("prices: us-east-1") for n in notes)
    assert any("spot priced at 60% off on-demand" in n and "max and max_within_schedule price spot at on-demand" in n
               for n in notes)
    assert any(n.startswith("max_within_schedule: shared-l4, train-spot can run at most 261 h/month") for n in notes)
    assert cost["figures"]["max"].startswith("the ceiling: every node pool at its max size for 730 h")
    assert cost["assumptions"]["price_region"] == "us-east-1" and cost["assumptions"]["spot_discount"] == 0.6


def test_every_output_says_which_figure_the_budget_guards_check(dev_plan, prod_plan):
    for plan in (dev_plan, prod_plan):
        cost = cost_of(plan)
        guard = cost["budget_guard"]
        assert guard["spot_discount_assumed"] == 0.3 and guard["fits"]
        assert "policy gpu-spend-within-budget" in guard["checked_by"]
        assert any(n.startswith("the budget guards check neither max: they price every node pool at max for 730 h, "
                                "spot 30% below on-demand") for n in cost["notes"])
    # prod fits its $98,000 only while p4d/p4de spot stays at least ~29 % below on-demand; the figure
    # counts every node's root volume at max ($148 of gp3: 2 x 100, 4 x 200, 6 x 100, 5 x 50 GB)
    guard = cost_of(prod_plan)["budget_guard"]
    assert 0.28 <= guard["break_even_spot_discount"] <= 0.30 and guard["node_spend_usd"] == pytest.approx(97_194.95, abs=1)
    assert guard["parts"] == {"instances": pytest.approx(97_046.95, abs=1), "root_volumes": 148.0,
                              "efs_provisioned_throughput": 0}
    est = fmt.plan_estimate(prod_plan)
    for text in (fmt.table(est, "stack prod"), fmt.markdown(est, "stack `prod`")):
        assert "the budget guards check neither max" in text
        assert "max_within_schedule" in text


# ------------------------------------------------------------------ what is not priced

def test_what_is_not_priced_is_listed_with_a_reason(dev_plan, prod_plan):
    dev, prod = ({n["key"]: n for n in cost_of(p)["not_priced"]} for p in (dev_plan, prod_plan))
    assert "efs-backups" in prod and "efs-backups" not in dev  # AWS Backup runs in prod only
    assert "t3-unlimited-credits" in dev and "t3-unlimited-credits" not in prod  # dev's system pool is t4g
    for key in ("retained-checkpoints", "efs-elastic-io"):
        assert key in dev and key in prod
    # dev's NAT instance bills no GB: what its image pulls cost is time, said instead
    assert "nat-image-pulls" in prod and "nat-image-pulls" not in dev
    assert "nat-instance-throughput" in dev and "nat-instance-throughput" not in prod
    assert all(n["reason"] and n["item"] for n in [*dev.values(), *prod.values()])
    est = fmt.plan_estimate(prod_plan)
    assert "not priced: AWS Backup of the EFS file system" in fmt.table(est, "stack prod")
    assert "- **AWS Backup of the EFS file system (daily, on in prod)**:" in fmt.markdown(est, "stack `prod`")
    diff = fmt.compare(est, est)
    assert {n["key"] for n in diff["not_priced"]} == set(prod)
    assert "not priced: AWS Backup of the EFS file system" in fmt.compare_table(diff, "a", "b")
    assert "Not priced (" in fmt.compare_markdown(diff, "a", "b")


# ------------------------------------------------------------------ control-plane logs

def test_audit_log_volume_by_hand():
    # 15 controllers renewing every 2 s and 2 kubelets every 10 s: 7.7 requests/s of 2,074 B (event + 26 B)
    gb = audit_gb_per_month(15, 2, renew_s=2, node_renew_s=10, bytes_per_event=2048, overhead_bytes=26,
                            bytes_per_gb=2**30)
    assert gb == pytest.approx(7.7 * 2074 * 730 * 3600 / 2**30)
    assert 38 < gb < 40 and SECONDS_PER_MONTH == 2_628_000
    doc = catalog.load("control_plane_logs.json")
    assert doc["source"] and doc["date"] and all(f["source"] for f in doc["factors"].values())


def test_a_stack_without_logs_gb_gets_the_estimate_and_says_so():
    raw = raw_config("dev")
    del raw["gpufleet:cost"]["logs_gb"]
    del raw["gpufleet:cluster"]["logs"]  # the default log types: audit on
    cfg = validate(raw)
    logs = control_plane_logs(cfg)
    assert not logs.configured and logs.gb == logs.estimate_gb == pytest.approx(39.1, abs=0.05)
    est = estimate(cfg)
    item = next(i for i in est.items if i.resource == "cluster-logs")
    assert item.name == "control-plane logs (39.1 GB/month, estimated from lease renewals)"
    assert item.idle == pytest.approx(39.1 * (U["cloudwatch_logs_ingest_gb"] + U["cloudwatch_logs_store_gb_month"]), abs=0.01)
    assert any(n.startswith("control-plane logs: 39.1 GB/month estimated") for n in est.notes)
    # a configured volume wins; below the estimate, a note says so
    raw = raw_config("staging")
    assert estimate(validate(raw)).items  # staging keeps audit on and says 5 GB
    shipped = estimate(validate(raw))
    assert next(i for i in shipped.items if i.resource == "cluster-logs").name.startswith("control-plane logs (5 GB/month")
    assert any("gpufleet:cost.logs_gb is 5 GB/month, below the audit events of lease renewals" in n for n in shipped.notes)


def test_without_the_audit_log_there_is_no_audit_stream_to_estimate():
    """Dev keeps the authenticator log only (issue #12): no lease-renewal estimate, its own figure."""
    cfg = validate(raw_config("dev"))
    assert cfg.cluster.logs == ["authenticator"]
    logs = control_plane_logs(cfg)
    assert logs.configured and logs.gb == 1 and logs.estimate_gb == 0
    assert "audit log off" in logs.basis
    est = estimate(cfg)
    assert not any("below the audit events" in n for n in est.notes)
    raw = raw_config("dev")
    del raw["gpufleet:cost"]["logs_gb"]
    assert control_plane_logs(validate(raw)).gb == 0
    assert not [i for i in estimate(validate(raw)).items if i.resource == "cluster-logs"]


# ------------------------------------------------------------------ schedule hours on the shipped schedules

def test_shipped_schedules_by_hand():
    # dev: 08:00-20:00 Europe/Berlin, Monday to Friday. 2027 starts on a Friday: 52 weeks + 1 day, 261 weekdays;
    # Europe/Berlin changes clocks on Sundays at 02:00/03:00, outside those hours: 12 h each
    assert scheduled_hours_per_month("0 8 * * 1-5", "0 20 * * 1-5", "Europe/Berlin") == 261 * 12 / 12
    # staging: 07:00-20:00, 13 h on the same 261 days
    assert scheduled_hours_per_month("0 7 * * 1-5", "0 20 * * 1-5", "Europe/Berlin") == 261 * 13 / 12
    cfg = validate(raw_config("staging"))
    assert estimate(cfg).assumptions["schedule"]["hours_per_month"] == 282.75
    # the stop runs in Berlin time: 20:00 CET is 19:00 UTC in January, 20:00 CEST is 18:00 UTC in July
    stops = firings("0 20 * * 1-5", "Europe/Berlin")
    assert (stops[0].month, stops[0].hour) == (1, 19) and next(t for t in stops if t.month == 7).hour == 18


def test_the_time_zone_counts_on_a_daylight_saving_day():
    # 01:00-03:00 every day of March: 31 × 2 h in UTC; in Berlin the last Sunday of March loses 02:00-03:00
    assert scheduled_hours_per_month("0 1 * 3 *", "0 3 * 3 *", "Etc/UTC") == round(62 / 12, 2)
    assert scheduled_hours_per_month("0 1 * 3 *", "0 3 * 3 *", "Europe/Berlin") == round(61 / 12, 2)


@settings(max_examples=40, deadline=None)
@given(a=st.integers(0, 23), b=st.integers(0, 23), zone=st.sampled_from(["Etc/UTC", "Europe/Berlin", "America/New_York"]))
@example(a=2, b=3, zone="Europe/Berlin")  # the skipped 02:00 read as 03:00 was counted on both sides
@example(a=1, b=2, zone="America/New_York")
def test_start_stop_and_stop_start_split_the_month(a, b, zone):
    # every hour, 02:00 too (it does not exist on a spring-forward day in Berlin and New York)
    if a == b:
        return
    run = scheduled_hours_per_month(f"0 {a} * * *", f"0 {b} * * *", zone)
    rest = scheduled_hours_per_month(f"0 {b} * * *", f"0 {a} * * *", zone)
    assert 0 <= run <= 730 and run + rest == pytest.approx(730, abs=0.02)


NY = "America/New_York"  # 2026: spring forward Sun 8 March (02:00 EST -> 03:00 EDT), fall back Sun 1 November
                         # (02:00 EDT -> 01:00 EST); 365 days, 8,760 h


def _local_days(times, zone=NY):
    return [t.astimezone(ZoneInfo(zone)).date() for t in times]


def test_a_skipped_local_time_does_not_fire_and_a_repeated_one_fires_once():
    # AWS's rule for cron in a time zone (EventBridge Scheduler; see schedule_hours' docstring)
    at_two = firings("0 2 * * *", NY, 2026)
    assert len(at_two) == 364 and date(2026, 3, 8) not in _local_days(at_two)
    utc = {t.date(): t.hour for t in at_two}
    assert (utc[date(2026, 3, 7)], utc[date(2026, 3, 9)]) == (7, 6)  # 02:00 EST, 02:00 EDT
    assert utc[date(2026, 11, 1)] == 7  # 02:00 EST: after the fall-back, once
    half_past_one = firings("30 1 * * *", NY, 2026)
    nov1 = [t for t in half_past_one if t.date() == date(2026, 11, 1)]
    assert len(half_past_one) == 365 and [(t.hour, t.minute) for t in nov1] == [(5, 30)]  # 01:30 EDT, the first


@pytest.mark.parametrize("start, stop, hours", [
    # 01:00-03:00: 2 h a day; 8 March 01:00 EST-03:00 EDT is 1 h, 1 November 01:00 EDT-03:00 EST is 3 h
    ("0 1 * * *", "0 3 * * *", 363 * 2 + 1 + 3),
    # 02:00-03:00: 1 h a day; 8 March the start does not fire (the pool stays stopped, 0 h),
    # 1 November 02:00 EST-03:00 EST is 1 h
    ("0 2 * * *", "0 3 * * *", 364 * 1),
    # the rest of that day: 23 h a day; 8 March the start at 03:00 EDT finds the pool started
    # (the stop did not fire): 7 March 03:00 EST to 9 March 02:00 EDT is 46 h for two days
    ("0 3 * * *", "0 2 * * *", 8760 - 364),
    # 01:00-02:00: 1 h a day; 8 March the stop does not fire: 8 March 01:00 EST (06:00 UTC) to
    # 9 March 02:00 EDT (06:00 UTC) is 24 h for two days; 1 November 01:00 EDT-02:00 EST is 2 h
    ("0 1 * * *", "0 2 * * *", 362 * 1 + 24 + 2),
])
def test_hours_on_new_yorks_daylight_saving_days_by_hand(start, stop, hours):
    assert scheduled_hours_per_month(start, stop, NY, 2026) == round(hours / 12, 2)
    rest = scheduled_hours_per_month(stop, start, NY, 2026)
    assert round(hours / 12, 2) + rest == pytest.approx(730, abs=0.01)  # never on both sides


@pytest.mark.parametrize("stack", STACKS)
def test_every_price_of_a_non_us_east_1_stack_says_us_east_1(stack):
    raw = edit(raw_config(stack), "aws:region", "eu-west-1")
    azs = raw["gpufleet:network"]["azs"]
    edit(raw, "gpufleet:network.azs", [a.replace("us-east-1", "eu-west-1") for a in azs])
    for i, pool in enumerate(raw["gpufleet:pools"]["gpu"]):
        if pool.get("efa_az"):
            edit(raw, f"gpufleet:pools.gpu[{i}].efa_az", pool["efa_az"].replace("us-east-1", "eu-west-1"))
    est = estimate(validate(raw))
    assert {c.price.region for i in est.items for cs in i.basis.values() for c in cs} == {"us-east-1"}
    assert any(n.startswith("prices: us-east-1 for every item, the stack runs in eu-west-1") for n in est.notes)
