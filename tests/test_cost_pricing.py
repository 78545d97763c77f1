"""Live prices: the AWS Price List API (botocore Stubber: moto lacks it) and EC2 spot history (moto, Stubber)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from modules.cost.model import pool_monthly
from modules.cost.pricing import (PriceError, bundled, from_pricing_api, on_demand_price_from_product, price_table,
                                  spot_history)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


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


def test_price_list_document_parsing():
    assert on_demand_price_from_product(json.loads(product("g6.xlarge", "eu-west-1", "0.8916"))) == 0.8916
    assert on_demand_price_from_product({"terms": {"OnDemand": {}}}) is None


def test_other_region_prices_from_the_pricing_api():
    client = pricing_client()
    with Stubber(client) as stub:
        expect_get_products(stub, "g6.xlarge", "eu-west-1", [product("g6.xlarge", "eu-west-1", "0.8916")])
        expect_get_products(stub, "t3a.medium", "eu-west-1", [product("t3a.medium", "eu-west-1", "0.0408")])
        table = from_pricing_api("eu-west-1", ["t3a.medium", "g6.xlarge"], client)
        stub.assert_no_pending_responses()
    assert table.region == "eu-west-1" and table.source.region == "eu-west-1"
    assert "pricing.get_products" in table.source.source
    assert table.on_demand == {"g6.xlarge": 0.8916, "t3a.medium": 0.0408}
    assert table.units == bundled().units  # unit prices stay the bundled table's (said in the source)
    pc = pool_monthly(["g6.xlarge"], "on-demand", 0, 2, prices=table)
    assert pc.max == pytest.approx(2 * 0.8916 * 730, abs=0.01)


def test_pricing_api_without_a_price_is_an_error():
    client = pricing_client()
    with Stubber(client) as stub:
        expect_get_products(stub, "p5.48xlarge", "sa-east-1", [])
        with pytest.raises(PriceError, match="no Linux on-demand price for p5.48xlarge in sa-east-1"):
            from_pricing_api("sa-east-1", ["p5.48xlarge"], client)


def test_spot_history_with_moto():
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        observed = spot_history("us-east-1", ["g6.12xlarge", "g6.24xlarge"], ec2, now=NOW)
    assert set(observed) == {"g6.12xlarge", "g6.24xlarge"}
    assert all(p > 0 for p in observed.values())


def test_spot_history_median_and_pricing_with_it():
    ec2 = boto3.client("ec2", region_name="us-east-1")
    history = [
        {"AvailabilityZone": az, "InstanceType": "g6.12xlarge", "ProductDescription": "Linux/UNIX",
         "SpotPrice": price, "Timestamp": NOW - timedelta(hours=h)}
        for az, price, h in [("us-east-1a", "1.80", 1), ("us-east-1b", "2.10", 2), ("us-east-1c", "1.95", 30)]
    ]
    with Stubber(ec2) as stub:
        stub.add_response("describe_spot_price_history", {"SpotPriceHistory": history}, {
            "InstanceTypes": ["g6.12xlarge"], "ProductDescriptions": ["Linux/UNIX"],
            "StartTime": NOW - timedelta(days=7), "EndTime": NOW})
        assert spot_history("us-east-1", ["g6.12xlarge"], ec2, now=NOW) == {"g6.12xlarge": 1.95}
    with Stubber(ec2) as stub:
        stub.add_response("describe_spot_price_history", {"SpotPriceHistory": history},
                          {"InstanceTypes": ["g6.12xlarge"], "ProductDescriptions": ["Linux/UNIX"],
                           "StartTime": ANY, "EndTime": ANY})
        table = price_table("us-east-1", ["g6.12xlarge"], spot_types=["g6.12xlarge"], use_spot_history=True,
                            ec2_client=ec2)
    assert "spot price history" in table.source.source
    # observed spot price replaces the configured discount
    assert pool_monthly(["g6.12xlarge"], "SPOT", 0, 1, prices=table, spot_discount=0.6).max == pytest.approx(1.95 * 730)


def test_no_client_or_network_without_asking():
    # the offline default never touches boto3
    assert price_table("us-east-1", ["g6.xlarge"]) == bundled()
