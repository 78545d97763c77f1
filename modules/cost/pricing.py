"""Prices for the cost model: the bundled tables (offline default) and live AWS prices.

- :func:`bundled` – on-demand instance prices (``modules/data/prices-us-east-1.json``)
  and unit prices for EBS, NAT, public IPv4, EFS, S3, NLB, KMS, CloudWatch Logs
  (``modules/data/unit-prices-us-east-1.json``) and the EKS control plane
  (``modules/data/eks_versions.json``), each with its source and date. No network.
- :func:`from_pricing_api` – on-demand instance prices for another region through the
  AWS Price List API (``pricing.get_products``).
- :func:`spot_history` – recent spot prices from ``ec2.describe_spot_price_history``.

boto3 is imported and clients are created only inside these functions, never at import
time; callers (the CLI) pass their own client in tests.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field, replace
from functools import cache
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from .. import catalog
from .model import PriceSource

BUNDLED_REGION = "us-east-1"
#: the Price List API is served from these regions only; us-east-1 answers for all
PRICING_ENDPOINT_REGION = "us-east-1"
SPOT_PRODUCT = "Linux/UNIX"


class PriceError(LookupError):
    """A price the table does not have (unknown instance type, region not priced)."""


@dataclass(frozen=True)
class PriceTable:
    """Every price the model uses, for one region."""

    region: str
    #: on-demand USD per instance-hour
    on_demand: Mapping[str, float]
    #: unit prices (keys of unit-prices-us-east-1.json), USD
    units: Mapping[str, float]
    #: EKS control plane USD per cluster-hour: {"standard": .., "extended": ..}
    eks: Mapping[str, float]
    source: PriceSource
    #: observed spot USD per instance-hour (from spot history); others use the discount
    spot: Mapping[str, float] = field(default_factory=dict)

    def instance_hour(self, instance_type: str) -> float:
        try:
            return self.on_demand[instance_type]
        except KeyError:
            raise PriceError(f"no on-demand price for {instance_type} in {self.region} ({self.source.source})") from None

    def spot_hour(self, instance_type: str, discount: float) -> float:
        """Observed spot price when known, else on-demand minus ``discount``."""
        if instance_type in self.spot:
            return self.spot[instance_type]
        return self.instance_hour(instance_type) * (1 - discount)

    def unit(self, key: str) -> float:
        return self.units[key]

    def with_spot(self, spot: Mapping[str, float], note: str) -> "PriceTable":
        src = replace(self.source, source=f"{self.source.source}; spot: {note}")
        return replace(self, spot={**self.spot, **spot}, source=src)


@cache
def bundled() -> PriceTable:
    """The offline price table (us-east-1), with the sources and dates of its files (read once)."""
    instances = catalog.on_demand_prices()
    units = catalog.load("unit-prices-us-east-1.json")
    eks = catalog.load("eks_versions.json")
    generated = str(instances.get("generated", ""))[:10]
    source = PriceSource(
        source=(f"on-demand: {instances.get('copied_from', 'prices-us-east-1.json')} (aws/karpenter-provider-aws, "
                f"generated {generated}); units: {units['source']}"),
        date=min(generated or units["date"], units["date"]),
        region=BUNDLED_REGION,
    )
    return PriceTable(
        region=BUNDLED_REGION,
        on_demand=dict(instances["prices"]),
        units=dict(units["prices"]),
        eks=dict(eks["prices_per_cluster_hour_usd"]),
        source=source,
    )


# ------------------------------------------------------------------ AWS Price List API

def _region_filters(region: str, instance_type: str) -> list[dict[str, str]]:
    terms = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms.items()]


def on_demand_price_from_product(product: Mapping[str, Any]) -> float | None:
    """The hourly USD price in one Price List product document (None if it has none)."""
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dim in term.get("priceDimensions", {}).values():
            if dim.get("unit") in ("Hrs", "Hours"):
                usd = float(dim.get("pricePerUnit", {}).get("USD", "0") or 0)
                if usd > 0:
                    return usd
    return None


def from_pricing_api(region: str, instance_types: Iterable[str], client: Any = None) -> PriceTable:
    """A price table for ``region``: instance prices from ``pricing.get_products``.

    Unit prices (EBS, NAT, ...) and EKS stay those of the bundled table (the note in the
    source says so); they differ by a few percent between commercial regions.
    """
    base = bundled()
    if client is None:
        import boto3

        client = boto3.client("pricing", region_name=PRICING_ENDPOINT_REGION)
    prices: dict[str, float] = {}
    for itype in sorted(set(instance_types)):
        resp = client.get_products(ServiceCode="AmazonEC2", Filters=_region_filters(region, itype),
                                   FormatVersion="aws_v1", MaxResults=10)
        found = [p for p in (on_demand_price_from_product(json.loads(doc)) for doc in resp.get("PriceList", [])) if p]
        if not found:
            raise PriceError(f"the AWS Price List API has no Linux on-demand price for {itype} in {region}")
        prices[itype] = min(found)
    today = datetime.now(timezone.utc).date().isoformat()
    source = PriceSource(
        source=f"on-demand: AWS Price List API (pricing.get_products, {region}); units: bundled {BUNDLED_REGION} table",
        date=today, region=region)
    return replace(base, region=region, on_demand=prices, source=source)


# ------------------------------------------------------------------ spot price history

def spot_history(region: str, instance_types: Iterable[str], client: Any = None, days: int = 7,
                 now: datetime | None = None) -> dict[str, float]:
    """Median spot price per instance type over the last ``days`` days, all AZs of ``region``.

    Types with no history are left out (the model falls back to the configured discount).
    """
    if client is None:
        import boto3

        client = boto3.client("ec2", region_name=region)
    now = now or datetime.now(timezone.utc)
    samples: dict[str, list[float]] = {}
    paginator = client.get_paginator("describe_spot_price_history")
    for page in paginator.paginate(InstanceTypes=sorted(set(instance_types)), ProductDescriptions=[SPOT_PRODUCT],
                                   StartTime=now - timedelta(days=days), EndTime=now):
        for rec in page.get("SpotPriceHistory", []):
            samples.setdefault(rec["InstanceType"], []).append(float(rec["SpotPrice"]))
    return {t: round(statistics.median(v), 6) for t, v in samples.items() if v}


def price_table(region: str, instance_types: Iterable[str], *, live: bool = False, spot_types: Iterable[str] = (),
                use_spot_history: bool = False, pricing_client: Any = None, ec2_client: Any = None) -> PriceTable:
    """The table to price a stack with: bundled unless ``live`` (Price List API for
    ``region``), plus observed spot prices for ``spot_types`` when ``use_spot_history``."""
    table = from_pricing_api(region, instance_types, pricing_client) if live else bundled()
    spot_types = sorted(set(spot_types))
    if use_spot_history and spot_types:
        observed = spot_history(region, spot_types, ec2_client)
        if observed:
            table = table.with_spot(observed, f"ec2 spot price history, median of 7 days in {region}")
    return table
