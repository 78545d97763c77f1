"""Live prices: the AWS Price List API (botocore Stubber: moto lacks it) for every price of a
region, and EC2 spot history (moto, Stubber) as a time-weighted median over a pool's AZs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from gpufleet.modules import catalog
from gpufleet.modules.cost.model import estimate, pool_monthly
from gpufleet.modules.cost.pricing import (PriceError, bundled, first_tier_price, from_pricing_api, on_demand_price_from_product,
                                  price_table, spot_history, stack_price_table, time_weighted_median, unit_queries,
                                  unit_query_filters, usagetype_matches)

from .helpers import edit, raw_config, validate

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
H = 730


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)


def product(instance_type: str, region: str, usd: str) -> str:
    """One Price List document as get_products returns it (a JSON string)."""
    return json.dumps({
        "product": {"productFamily": "Compute Instance",
                    "attributes": {"instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux"}},
        "terms": {"OnDemand": {"SKU.JRTCKXETXF": {"priceDimensions": {"SKU.JRTCKXETXF.6YS6EN2CT7": {
            "unit": "Hrs", "pricePerUnit": {"USD": usd}, "description": f"${usd} per On Demand Linux {instance_type}"}}}}},
    })


def unit_product(usagetype: str, region: str, *tiers: tuple[str, str]) -> str:
    """A Price List document of a non-instance product: (beginRange, USD) per price tier."""
    dims = {f"SKU.T.{n}": {"unit": "Quantity", "beginRange": begin, "pricePerUnit": {"USD": usd}}
            for n, (begin, usd) in enumerate(tiers)}
    return json.dumps({"product": {"attributes": {"usagetype": usagetype, "regionCode": region}},
                       "terms": {"OnDemand": {"SKU.T": {"priceDimensions": dims}}}})


def pricing_client():
    return boto3.client("pricing", region_name="us-east-1")


def expect_get_products(stub: Stubber, instance_type: str, region: str, docs: list[str]) -> None:
    stub.add_response("get_products", {"PriceList": docs, "FormatVersion": "aws_v1"}, {
        "ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "MaxResults": 10,
        "Filters": [
            {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type},
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
            {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
            {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
            {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
            {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
            {"Type": "TERM_MATCH", "Field": "licenseModel", "Value": "No License required"},
        ],
    })


#: eu-west-1 answers of the stubbed Price List API: key -> the documents its query returns
#: (decoys included: a usage type that merely contains the name, a free tier, a second tier)
EU = "eu-west-1"
EU_UNITS = {
    "nat_gateway_hour": [unit_product("EU-NatGateway-Hours", EU, ("0", "0.048"))],
    "nat_gateway_gb": [unit_product("EU-NatGateway-Bytes", EU, ("0", "0.048"))],
    "public_ipv4_hour": [unit_product("EU-PublicIPv4:InUseAddress", EU, ("0", "0.005"))],
    "ebs_gp3_gb_month": [unit_product("EU-EBS:VolumeUsage.gp3", EU, ("0", "0.088"))],
    "efs_standard_gb_month": [unit_product("EU-IATimedStorage-ByteHrs", EU, ("0", "0.025")),
                              unit_product("EU-TimedStorage-ByteHrs", EU, ("0", "0.33"))],
    "s3_standard_gb_month": [unit_product("EU-TimedStorage-ByteHrs", EU, ("0", "0.023"), ("51200", "0.022"))],
    "nlb_hour": [unit_product("EU-LoadBalancerUsage", EU, ("0", "0.0252"))],
    "kms_key_month": [unit_product("eu-west-1-KMS-Keys", EU, ("0", "1"))],
    "cloudwatch_logs_ingest_gb": [unit_product("EU-VendedLog-Bytes", EU, ("0", "0"), ("0.0000001", "0.57"),
                                               ("10240", "0.285"))],
    "cloudwatch_logs_store_gb_month": [unit_product("EU-TimedStorage-ByteHrs", EU, ("0", "0.03"))],
    "efs_provisioned_mibps_month": [unit_product("EU-ProvisionedTP-MiBpsHrs", EU, ("0", "6.6"))],
    "eks_standard": [unit_product("EU-AmazonEKS-Hours:perCluster", EU, ("0", "0.1"))],
    "eks_extended": [unit_product("EU-AmazonEKS-Hours:extendedSupport", EU, ("0", "0.6"))],
}
EU_EXPECTED = {"nat_gateway_hour": 0.048, "nat_gateway_gb": 0.048, "public_ipv4_hour": 0.005, "ebs_gp3_gb_month": 0.088,
               "efs_standard_gb_month": 0.33, "s3_standard_gb_month": 0.023, "nlb_hour": 0.0252, "kms_key_month": 1.0,
               "cloudwatch_logs_ingest_gb": 0.57, "cloudwatch_logs_store_gb_month": 0.03,
               "efs_provisioned_mibps_month": 6.6}
EU_INSTANCES = {"g6.12xlarge": "5.1348", "g6.24xlarge": "7.3542", "g6.xlarge": "0.8916", "t3.medium": "0.0456",
                "t3a.medium": "0.0408"}


def expect_units(stub: Stubber, region: str, docs: dict[str, list[str]]) -> None:
    for key, query in unit_queries().items():
        stub.add_response("get_products", {"PriceList": docs[key], "FormatVersion": "aws_v1"}, {
            "ServiceCode": query["service_code"], "Filters": unit_query_filters(region, query),
            "FormatVersion": "aws_v1", "MaxResults": 100})


def test_price_list_document_parsing():
    assert on_demand_price_from_product(json.loads(product("g6.xlarge", "eu-west-1", "0.8916"))) == 0.8916
    assert on_demand_price_from_product({"terms": {"OnDemand": {}}}) is None
    # the first paid tier: a free tier is skipped, later tiers ignored
    assert first_tier_price(json.loads(unit_product("x", EU, ("0", "0"), ("5", "0.5"), ("100", "0.25")))) == 0.5
    assert first_tier_price(json.loads(unit_product("x", EU, ("0", "0")))) is None


@pytest.mark.parametrize("usagetype,name,ok", [
    ("NatGateway-Hours", "NatGateway-Hours", True),
    ("EUW1-NatGateway-Hours", "NatGateway-Hours", True),
    ("EU-TimedStorage-ByteHrs", "TimedStorage-ByteHrs", True),
    ("us-east-1-KMS-Keys", "KMS-Keys", True),
    ("EUW1-IATimedStorage-ByteHrs", "TimedStorage-ByteHrs", False),  # Infrequent Access, not Standard
    ("EUW1-TimedStorage-Z-ByteHrs", "TimedStorage-ByteHrs", False),  # One Zone
    ("USE1-NatGateway-Hours-Regional", "NatGateway-Hours", False),
])
def test_usage_type_with_or_without_region_prefix(usagetype, name, ok):
    assert usagetype_matches(usagetype, name) is ok


def test_the_price_list_queries_cover_every_unit_price_and_the_control_plane():
    units = catalog.load("unit-prices-us-east-1.json")["prices"]
    assert set(unit_queries()) == set(units) | {"eks_standard", "eks_extended"}
    doc = catalog.load("price_list_queries.json")
    assert doc["source"] and doc["date"]


def test_every_price_for_the_region_from_the_pricing_api():
    client = pricing_client()
    with Stubber(client) as stub:
        for itype, usd in sorted(EU_INSTANCES.items()):
            expect_get_products(stub, itype, EU, [product(itype, EU, usd)])
        expect_units(stub, EU, EU_UNITS)
        table = from_pricing_api(EU, list(EU_INSTANCES), client)
        stub.assert_no_pending_responses()
    assert table.region == EU and table.source.region == EU
    assert table.on_demand == {k: float(v) for k, v in EU_INSTANCES.items()}
    assert dict(table.units) == EU_EXPECTED  # no unit price is us-east-1's any more
    assert dict(table.eks) == {"standard": 0.1, "extended": 0.6}
    assert "EU-TimedStorage-ByteHrs" in table.origins["efs_standard_gb_month"] and EU in table.origins["nat_gateway_gb"]

    # a dev stack in eu-west-1 priced with it: every charge says eu-west-1 and the Price List API
    raw = edit(raw_config("dev"), "aws:region", EU)
    edit(raw, "gpufleet:network.azs", ["eu-west-1a", "eu-west-1b"])
    # the shape these prices were stubbed for: x86 system nodes, a NAT gateway, 2 GB of logs
    edit(raw, "gpufleet:pools.system.instance_types", ["t3a.medium", "t3.medium"])
    edit(raw, "gpufleet:network.nat", "single")
    edit(raw, "gpufleet:cost.logs_gb", 2)
    est = estimate(validate(raw), prices=table)
    charges = [c for i in est.items for cs in i.basis.values() for c in cs]
    assert {c.price.region for c in charges} == {EU}
    assert all("AWS Price List API" in c.price.source for c in charges)
    assert not any("--live-prices" in n for n in est.notes)
    nat = next(i for i in est.items if i.name.startswith("NAT gateway"))
    assert nat.idle == pytest.approx(0.048 * H + 30 * 0.048, abs=0.01)
    logs = next(i for i in est.items if i.resource == "cluster-logs")
    assert logs.idle == pytest.approx(2 * (0.57 + 0.03), abs=0.01)
    pc = pool_monthly(["g6.xlarge"], "on-demand", 0, 2, prices=table)
    assert pc.max == pytest.approx(2 * 0.8916 * H, abs=0.01)


def test_pricing_api_without_a_price_is_an_error():
    client = pricing_client()
    with Stubber(client) as stub:
        expect_get_products(stub, "p5.48xlarge", "sa-east-1", [])
        with pytest.raises(PriceError, match="no Linux on-demand price for p5.48xlarge in sa-east-1"):
            from_pricing_api("sa-east-1", ["p5.48xlarge"], client)
    client = pricing_client()
    with Stubber(client) as stub:
        expect_get_products(stub, "g6.xlarge", EU, [product("g6.xlarge", EU, "0.8916")])
        # the NAT hour query finds only a product whose usage type merely contains the name
        expect_units(stub, EU, {**EU_UNITS, "nat_gateway_hour": [unit_product("EU-NatGateway-Hours-Regional", EU, ("0", "1"))]})
        with pytest.raises(PriceError, match="no AmazonEC2 NatGateway-Hours price for nat_gateway_hour in eu-west-1"):
            from_pricing_api(EU, ["g6.xlarge"], client)


# ------------------------------------------------------------------ spot history

def rec(az: str, itype: str, price: str, hours_ago: float) -> dict:
    return {"AvailabilityZone": az, "InstanceType": itype, "ProductDescription": "Linux/UNIX",
            "SpotPrice": price, "Timestamp": NOW - timedelta(hours=hours_ago)}


#: two AZs of a pool over the 7 days (168 h) before NOW:
#: us-east-1a: 9.99 long superseded, 1.00 in effect when the window opens (until -100 h), 3.00 for 90 h, 2.00 for 10 h
#: us-east-1b: 1.50 all 168 h
#: time held: 1.00 68 h, 1.50 168 h, 2.00 10 h, 3.00 90 h = 336 h; half is 168 h, reached at 1.50 (68 + 168)
#: (the plain median of the five records would be 2.00)
HISTORY = [rec("us-east-1a", "g6.12xlarge", "9.99", 400), rec("us-east-1a", "g6.12xlarge", "1.00", 200),
           rec("us-east-1a", "g6.12xlarge", "3.00", 100), rec("us-east-1a", "g6.12xlarge", "2.00", 10),
           rec("us-east-1b", "g6.12xlarge", "1.50", 300)]


def test_time_weighted_median_by_hand():
    records = [(r["AvailabilityZone"], r["Timestamp"], float(r["SpotPrice"])) for r in HISTORY]
    assert time_weighted_median(records, NOW - timedelta(days=7), NOW) == 1.50
    # one AZ alone: 1.00 68 h, 3.00 90 h, 2.00 10 h: half of 168 h is reached at 3.00 (68 + 10 + 90)
    assert time_weighted_median(records[:4], NOW - timedelta(days=7), NOW) == 3.00
    assert time_weighted_median([], NOW - timedelta(days=7), NOW) is None


@settings(max_examples=60, deadline=None)
@given(prices=st.lists(st.floats(0.01, 50), min_size=1, max_size=12), seed=st.randoms())
def test_time_weighted_median_properties(prices, seed):
    start, end = NOW - timedelta(days=7), NOW
    # one change per hour in one AZ, the first when the window opens: equal weights but the last
    records = [("a", start + timedelta(hours=i), p) for i, p in enumerate(prices)]
    shuffled = records[:]
    seed.shuffle(shuffled)
    m = time_weighted_median(records, start, end)
    assert m == time_weighted_median(shuffled, start, end)  # order of the records does not matter
    assert min(prices) <= m <= max(prices)
    # a price holding all week in a second AZ, as heavy as the whole first AZ: the median moves towards it
    both = time_weighted_median(records + [("b", start - timedelta(hours=1), 100.0)], start, end)
    assert both >= m


def test_spot_history_with_moto_over_the_pool_azs():
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        observed = spot_history("us-east-1", ["g6.12xlarge", "g6.24xlarge"], ec2, now=NOW, azs=["us-east-1a"])
    assert set(observed) == {"g6.12xlarge", "g6.24xlarge"}
    for seen in observed.values():
        assert seen.usd > 0 and seen.azs == ("us-east-1a",) and seen.records == 1  # one record: the AZ filter held
        assert (seen.start, seen.end) == (NOW - timedelta(days=7), NOW)


def test_spot_history_is_time_weighted_over_the_pool_azs_and_says_the_window():
    ec2 = boto3.client("ec2", region_name="us-east-1")
    with Stubber(ec2) as stub:
        stub.add_response("describe_spot_price_history", {"SpotPriceHistory": HISTORY}, {
            "InstanceTypes": ["g6.12xlarge"], "ProductDescriptions": ["Linux/UNIX"],
            "StartTime": NOW - timedelta(days=7), "EndTime": NOW,
            "Filters": [{"Name": "availability-zone", "Values": ["us-east-1a", "us-east-1b"]}]})
        observed = spot_history("us-east-1", ["g6.12xlarge"], ec2, now=NOW, azs=["us-east-1b", "us-east-1a"])
    seen = observed["g6.12xlarge"]
    assert seen.usd == 1.50 and seen.azs == ("us-east-1a", "us-east-1b") and seen.records == 5
    assert seen.describe() == ("EC2 spot price history, time-weighted median 2026-11-17T12:00Z..2026-11-24T12:00Z "
                               "(7 days) over us-east-1a, us-east-1b (5 price records)")


def test_spot_history_prices_the_efa_pool_in_its_one_az():
    cfg = validate(raw_config("prod"))  # train-a100: spot, EFA, pinned to us-east-1a; the other pools on-demand
    p4 = [rec("us-east-1a", "p4d.24xlarge", "12.50", 500), rec("us-east-1a", "p4de.24xlarge", "16.00", 500)]
    ec2 = boto3.client("ec2", region_name="us-east-1")
    with Stubber(ec2) as stub:
        stub.add_response("describe_spot_price_history", {"SpotPriceHistory": p4}, {
            "InstanceTypes": ["p4d.24xlarge", "p4de.24xlarge"], "ProductDescriptions": ["Linux/UNIX"],
            "StartTime": ANY, "EndTime": ANY,
            "Filters": [{"Name": "availability-zone", "Values": ["us-east-1a"]}]})
        table = stack_price_table(cfg, use_spot_history=True, ec2_client=ec2, now=NOW)
        stub.assert_no_pending_responses()
    est = estimate(cfg, prices=table)
    train = next(i for i in est.items if i.resource == "pool-train-a100-ng")
    spot = train.basis["expected"][-1]
    assert spot.price.pricing == "spot-from-history" and spot.price.usd == 12.50
    assert "over us-east-1a (1 price records)" in spot.price.source and "2026-11-17T12:00Z..2026-11-24T12:00Z" in spot.price.source
    assert train.expected == pytest.approx(4 * 48 * 12.50, abs=0.01)
    # the ceilings stay at on-demand whatever spot did last week
    assert train.max == pytest.approx(4 * catalog.on_demand_prices()["prices"]["p4de.24xlarge"] * H, abs=0.01)
    assert any(n.startswith("spot from history: p4d.24xlarge (EC2 spot price history") for n in est.notes)
    # observed prices belong to the pool's AZs: a pool elsewhere does not see them
    assert table.spot_hour("p4d.24xlarge", 0.6, ["us-east-1b"]) == pytest.approx(0.4 * table.instance_hour("p4d.24xlarge"))


def test_no_client_or_network_without_asking():
    # the offline default never touches boto3
    assert price_table("us-east-1", ["g6.xlarge"]) == bundled()
    assert stack_price_table(validate(raw_config("dev"))) == bundled()
