"""Prices for the cost model: the bundled tables (offline default) and live AWS prices.

- :func:`bundled` – on-demand instance prices (``modules/data/prices-us-east-1.json``)
  and unit prices for EBS, NAT, public IPv4, EFS (storage and provisioned throughput), S3,
  NLB, KMS, CloudWatch Logs
  (``modules/data/unit-prices-us-east-1.json``) and the EKS control plane
  (``modules/data/eks_versions.json``), each with its source and date. No network. Every
  price it gives is a us-east-1 price, and says so.
- :func:`from_pricing_api` – every price for the stack's region through the AWS Price List
  API (``pricing.get_products``): instances by type, and each unit price (NAT hour and GB,
  public IPv4, EBS gp3, EFS, S3, NLB, KMS, CloudWatch Logs ingestion and storage, EKS
  standard and extended support) by the query in ``modules/data/price_list_queries.json``.
- :func:`spot_history` – the time-weighted median spot price of the last 7 days over the
  AZs a pool can use, from ``ec2.describe_spot_price_history``.

boto3 is imported and clients are created only inside these functions, never at import
time; callers (the CLI) pass their own client in tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .. import catalog, clock
from .basis import UnitPrice, per_of
from .model import PriceSource

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig

BUNDLED_REGION = "us-east-1"
#: the bundled price files, as reports name them (relative to the repository root)
INSTANCE_PRICES = "modules/data/prices-us-east-1.json"
UNIT_PRICES = "modules/data/unit-prices-us-east-1.json"
#: the Price List API is served from these regions only; us-east-1 answers for all
PRICING_ENDPOINT_REGION = "us-east-1"
SPOT_PRODUCT = "Linux/UNIX"
SPOT_WINDOW_DAYS = 7


class PriceError(LookupError):
    """A price the table does not have (unknown instance type, region not priced)."""


@dataclass(frozen=True)
class SpotObservation:
    """The time-weighted median spot price of one instance type over some AZs and a window."""

    usd: float
    region: str
    azs: tuple[str, ...]
    start: datetime
    end: datetime
    #: price records the median was taken over
    records: int

    def describe(self) -> str:
        fmt = "%Y-%m-%dT%H:%MZ"
        return (f"EC2 spot price history, time-weighted median {self.start.strftime(fmt)}..{self.end.strftime(fmt)} "
                f"({(self.end - self.start).days} days) over {', '.join(self.azs) or 'every AZ'} "
                f"({self.records} price records)")


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
    #: observed spot prices per (instance type, AZs of the pool); others use the discount
    spot: Mapping[tuple[str, tuple[str, ...]], SpotObservation] = field(default_factory=dict)
    #: where each price comes from: "instances", a unit key, "eks_standard" / "eks_extended"
    origins: Mapping[str, str] = field(default_factory=dict)

    def instance_hour(self, instance_type: str) -> float:
        try:
            return self.on_demand[instance_type]
        except KeyError:
            raise PriceError(f"no on-demand price for {instance_type} in {self.region} ({self.source.source})") from None

    def spot_hour(self, instance_type: str, discount: float, azs: Sequence[str] = ()) -> float:
        """Observed spot price when known for these AZs, else on-demand minus ``discount``."""
        return self.node_price(instance_type, "spot", discount, azs).usd

    def unit(self, key: str) -> float:
        return self.units[key]

    def _origin(self, key: str) -> str:
        return self.origins.get(key) or self.source.source

    def instance_price(self, instance_type: str) -> UnitPrice:
        return UnitPrice(instance_type, self.instance_hour(instance_type), "hour", "on-demand",
                         self._origin("instances"), self.region)

    def node_price(self, instance_type: str, capacity: str, discount: float, azs: Sequence[str] = ()) -> UnitPrice:
        """One node-hour of ``instance_type`` on ``capacity`` (``spot`` / ``on-demand``)."""
        od = self.instance_price(instance_type)
        if capacity != "spot":
            return od
        seen = self.spot.get((instance_type, tuple(sorted(azs))))
        if seen is not None:
            return UnitPrice(instance_type, seen.usd, "hour", "spot-from-history", seen.describe(), seen.region)
        return UnitPrice(instance_type, od.usd * (1 - discount), "hour", "spot-at-discount",
                         f"on-demand ({od.source}) × (1 − {discount:g})", self.region,
                         on_demand_usd=od.usd, discount=discount)

    def unit_price(self, key: str) -> UnitPrice:
        return UnitPrice(key, self.units[key], per_of(key), "list", self._origin(key), self.region)

    def eks_price(self, support: str) -> UnitPrice:
        return UnitPrice(f"eks_{support}", self.eks[support], "hour", "list", self._origin(f"eks_{support}"), self.region)

    def with_spot(self, spot: Mapping[tuple[str, tuple[str, ...]], SpotObservation], note: str) -> "PriceTable":
        src = replace(self.source, source=f"{self.source.source}; spot: {note}")
        return replace(self, spot={**self.spot, **spot}, source=src)


@cache
def bundled() -> PriceTable:
    """The offline price table (us-east-1), with the sources and dates of its files (read once)."""
    instances = catalog.on_demand_prices()
    units = catalog.load("unit-prices-us-east-1.json")
    eks = catalog.load("eks_versions.json")
    generated = str(instances.get("generated", ""))[:10]
    # Name the files a user can open (in the checkout and, as gpufleet/modules/data/, in the
    # wheel) and the upstream source and date each records; never ``copied_from`` (the path
    # scripts/import_reference.py copied it from, outside the repository).
    source = PriceSource(
        source=(f"on-demand: {INSTANCE_PRICES}, generated {generated} from {instances['source']}; "
                f"units: {UNIT_PRICES}, {units['date']}, from {units['source']}"),
        date=min(generated or units["date"], units["date"]),
        region=BUNDLED_REGION,
    )
    upstream = str(instances["source"]).split(" ", 1)[0]  # the repo@commit, without its file path
    inst_origin = f"{INSTANCE_PRICES} ({upstream}, generated {generated})"
    unit_origin = f"{UNIT_PRICES} (AWS price pages, {units['date']})"
    eks_origin = f"modules/data/eks_versions.json (EKS pricing, {eks['date']})"
    # a price checked later than the file's date names its own source and date ("dated")
    dated = {k: f"{UNIT_PRICES} ({d['source']}, {d['date']})" for k, d in units.get("dated", {}).items()}
    origins = {"instances": inst_origin, **{k: dated.get(k, unit_origin) for k in units["prices"]},
               "eks_standard": eks_origin, "eks_extended": eks_origin}
    return PriceTable(
        region=BUNDLED_REGION,
        on_demand=dict(instances["prices"]),
        units=dict(units["prices"]),
        eks=dict(eks["prices_per_cluster_hour_usd"]),
        source=source,
        origins=origins,
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


def first_tier_price(product: Mapping[str, Any]) -> float | None:
    """The USD price of the first paid tier of a product's on-demand terms (lowest
    ``beginRange`` with a price above zero: free tiers are skipped), or None."""
    tiers = []
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dim in term.get("priceDimensions", {}).values():
            usd = float(dim.get("pricePerUnit", {}).get("USD", "0") or 0)
            if usd > 0:
                tiers.append((float(dim.get("beginRange", "0") or 0), usd))
    return min(tiers)[1] if tiers else None


@cache
def unit_queries() -> dict[str, dict[str, str]]:
    """The Price List query of every unit price (``modules/data/price_list_queries.json``)."""
    return dict(catalog.load("price_list_queries.json")["queries"])


def unit_query_filters(region: str, query: Mapping[str, str]) -> list[dict[str, str]]:
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]
    if query.get("product_family"):
        filters.append({"Type": "TERM_MATCH", "Field": "productFamily", "Value": query["product_family"]})
    filters.append({"Type": "CONTAINS", "Field": "usagetype", "Value": query["usagetype"]})
    return filters


def usagetype_matches(usagetype: str, name: str) -> bool:
    """``name`` itself or with a region prefix (``EUW1-``, ``USE1-``, ``EU-``, ``us-east-1-``)."""
    return re.fullmatch(rf"(?:[A-Z]{{2,4}}\d?-|[a-z]{{2}}(?:-[a-z]+)+-\d-)?{re.escape(name)}", usagetype) is not None


def unit_price_from_api(region: str, key: str, client: Any) -> tuple[float, str]:
    """(USD, the usage type it was found under) of one unit price in ``region``."""
    query = unit_queries()[key]
    found: list[tuple[float, str]] = []
    token = None
    while True:
        kwargs = {"ServiceCode": query["service_code"], "Filters": unit_query_filters(region, query),
                  "FormatVersion": "aws_v1", "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        resp = client.get_products(**kwargs)
        for doc in resp.get("PriceList", []):
            product = json.loads(doc)
            usagetype = product.get("product", {}).get("attributes", {}).get("usagetype", "")
            usd = first_tier_price(product)
            if usd is not None and usagetype_matches(usagetype, query["usagetype"]):
                found.append((usd, usagetype))
        token = resp.get("NextToken")
        if not token:
            break
    if not found:
        raise PriceError(f"the AWS Price List API has no {query['service_code']} {query['usagetype']} price "
                         f"for {key} in {region}")
    return max(found)


def from_pricing_api(region: str, instance_types: Iterable[str], client: Any = None) -> PriceTable:
    """A price table for ``region``, every price from ``pricing.get_products``: instance
    prices by type, and each unit price and the EKS control plane by its query."""
    base = bundled()
    if client is None:
        import boto3

        client = boto3.client("pricing", region_name=PRICING_ENDPOINT_REGION)
    today = clock.today().isoformat()
    prices: dict[str, float] = {}
    for itype in sorted(set(instance_types)):
        resp = client.get_products(ServiceCode="AmazonEC2", Filters=_region_filters(region, itype),
                                   FormatVersion="aws_v1", MaxResults=10)
        found = [p for p in (on_demand_price_from_product(json.loads(doc)) for doc in resp.get("PriceList", [])) if p]
        if not found:
            raise PriceError(f"the AWS Price List API has no Linux on-demand price for {itype} in {region}")
        prices[itype] = min(found)
    origins = {"instances": f"AWS Price List API, AmazonEC2 Linux on-demand ({region}, {today})"}
    units: dict[str, float] = {}
    eks: dict[str, float] = {}
    for key, query in unit_queries().items():
        usd, usagetype = unit_price_from_api(region, key, client)
        origins[key] = f"AWS Price List API, {query['service_code']} {usagetype} ({region}, {today})"
        if key.startswith("eks_"):
            eks[key.removeprefix("eks_")] = usd
        else:
            units[key] = usd
    missing = set(base.units) - set(units)
    if missing:  # pragma: no cover - the data file lists every unit key (test_cost_pricing checks)
        raise PriceError(f"no Price List query for {', '.join(sorted(missing))}")
    source = PriceSource(source=f"AWS Price List API (pricing.get_products), every price for {region}",
                         date=today, region=region)
    return replace(base, region=region, on_demand=prices, units=units, eks=eks, source=source, origins=origins)


# ------------------------------------------------------------------ spot price history

def time_weighted_median(records: Iterable[tuple[str, datetime, float]], start: datetime, end: datetime) -> float | None:
    """The median price over ``[start, end]`` weighting each price by how long it held.

    ``records`` are (AZ, timestamp, price) price changes: in each AZ a price holds from its
    timestamp (or ``start``, for the change in effect when the window opens) until that
    AZ's next change (or ``end``). Every AZ's time counts alike. The median is the lowest
    price at which the cumulative time reaches half the total. Records that hold for no time
    in the window (all at its end) fall back to the plain median of their prices; None
    without records.
    """
    by_az: dict[str, list[tuple[datetime, float]]] = {}
    for az, ts, price in records:
        by_az.setdefault(az, []).append((ts, price))
    weights: dict[float, float] = {}
    prices: list[float] = []
    for changes in by_az.values():
        changes.sort()
        # drop changes superseded before the window opens: only the last one before start holds into it
        before = [i for i, (ts, _) in enumerate(changes) if ts <= start]
        changes = changes[before[-1]:] if before else changes
        for i, (ts, price) in enumerate(changes):
            prices.append(price)
            until = changes[i + 1][0] if i + 1 < len(changes) else end
            held = (min(until, end) - max(ts, start)).total_seconds()
            if held > 0:
                weights[price] = weights.get(price, 0.0) + held
    if not prices:
        return None
    total = sum(weights.values())
    if total <= 0:
        ordered = sorted(prices)
        return ordered[(len(ordered) - 1) // 2]
    acc = 0.0
    for price in sorted(weights):
        acc += weights[price]
        if acc >= total / 2:
            return price
    return max(weights)  # pragma: no cover - floating point guard


def spot_history(region: str, instance_types: Iterable[str], client: Any = None, days: int = SPOT_WINDOW_DAYS,
                 now: datetime | None = None, azs: Sequence[str] = ()) -> dict[str, SpotObservation]:
    """Time-weighted median spot price per instance type over the last ``days`` days, over
    the AZs ``azs`` (every AZ of the region when empty).

    Types with no history are left out (the model falls back to the configured discount).
    """
    if client is None:
        import boto3

        client = boto3.client("ec2", region_name=region)
    end = now or clock.now()
    start = end - timedelta(days=days)
    records: dict[str, list[tuple[str, datetime, float]]] = {}
    kwargs: dict[str, Any] = {"InstanceTypes": sorted(set(instance_types)), "ProductDescriptions": [SPOT_PRODUCT],
                              "StartTime": start, "EndTime": end}
    if azs:
        kwargs["Filters"] = [{"Name": "availability-zone", "Values": sorted(set(azs))}]
    for page in client.get_paginator("describe_spot_price_history").paginate(**kwargs):
        for rec in page.get("SpotPriceHistory", []):
            ts = rec["Timestamp"]
            ts = ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
            records.setdefault(rec["InstanceType"], []).append((rec["AvailabilityZone"], ts, float(rec["SpotPrice"])))
    out = {}
    for itype, recs in records.items():
        median = time_weighted_median(recs, start, end)
        if median is not None:
            seen = tuple(sorted(azs)) or tuple(sorted({az for az, _, _ in recs}))
            out[itype] = SpotObservation(round(median, 6), region, seen, start, end, len(recs))
    return out


def pool_azs(cfg: "StackConfig", pool: Any) -> tuple[str, ...]:
    """The AZs a pool's nodes can land in: its subnets' (``network.azs``), or for an EFA pool
    its one AZ (``efa_az``, default the first)."""
    if getattr(pool, "efa", False):
        return (pool.efa_az or cfg.network.azs[0],)
    return tuple(sorted(cfg.network.azs))


def price_table(region: str, instance_types: Iterable[str], *, live: bool = False,
                spot_pools: Iterable[tuple[Iterable[str], Sequence[str]]] = (), use_spot_history: bool = False,
                pricing_client: Any = None, ec2_client: Any = None, now: datetime | None = None) -> PriceTable:
    """The table to price a stack with: bundled unless ``live`` (Price List API for
    ``region``), plus observed spot prices for each (instance types, AZs) of ``spot_pools``
    when ``use_spot_history``."""
    table = from_pricing_api(region, instance_types, pricing_client) if live else bundled()
    if not use_spot_history:
        return table
    observed: dict[tuple[str, tuple[str, ...]], SpotObservation] = {}
    windows = set()
    for types, azs in spot_pools:
        for itype, seen in spot_history(region, types, ec2_client, azs=azs, now=now).items():
            observed[(itype, tuple(sorted(azs)))] = seen
            windows.add(f"{seen.start:%Y-%m-%d}..{seen.end:%Y-%m-%d}")
    if observed:
        table = table.with_spot(observed, f"EC2 spot price history in {region}, time-weighted median of "
                                          f"{SPOT_WINDOW_DAYS} days ({', '.join(sorted(windows))}) over each pool's AZs")
    return table


def stack_price_table(cfg: "StackConfig", *, live: bool = False, use_spot_history: bool = False,
                      pricing_client: Any = None, ec2_client: Any = None, now: datetime | None = None) -> PriceTable:
    """The price table for one stack: its region, its instance types (the NAT instance's too),
    each spot pool's AZs."""
    pools = [cfg.pools.system, *cfg.pools.gpu]
    types = {t for p in pools for t in p.instance_types}
    if cfg.nat == "instance":
        types.add(cfg.network.nat_instance_type)
    return price_table(cfg.region, types, live=live,
                       spot_pools=[(p.instance_types, pool_azs(cfg, p)) for p in pools if p.capacity == "spot"],
                       use_spot_history=use_spot_history, pricing_client=pricing_client, ec2_client=ec2_client, now=now)
