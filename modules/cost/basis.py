"""What every cost figure is made of: quantity × hours × unit price, with the price's origin.

Each line of an estimate (:class:`modules.cost.model.CostItem`) carries, per figure, the
charges that add up to it, like Infracost's cost components: a :class:`Charge` is a
quantity (nodes, GB, gateways, keys), the hours it runs (or none, for per-GB prices) and a
:class:`UnitPrice` that says where the price comes from (file or API, region, date) and
how it was obtained (on-demand, spot at the assumed discount, spot from observed history,
or a list price of a non-instance service). ``charge_usd`` is the one formula; a test
recomputes every item of every shipped stack from these fields alone.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

HOURS_PER_MONTH = 730
#: the figures of an estimate, in order: nobody working, the configured work, and two ceilings
FIGURES: tuple[str, ...] = ("idle", "expected", "max", "max_within_schedule")
#: what each figure means, printed with every output
FIGURE_MEANINGS = {
    "idle": "every pool at its min size all month (730 h); nobody working",
    "expected": "idle plus the configured work (gpufleet:cost.busy) and the schedule's warm work-hour nodes",
    "max": ("the ceiling: every node pool at its max size for 730 h at its dearest instance type, "
            "spot capacity at the on-demand price (the most a spot price can reach)"),
    "max_within_schedule": ("the ceiling within the scale-down schedule: as max, but the scheduled GPU pools "
                            "run only the hours between the schedule's start and stop"),
}
Pricing = Literal["on-demand", "spot-at-discount", "spot-from-history", "list"]
#: what a unit price is per: an hour, a month (GB-month, key-month: pro rata by hours), one GB
Per = Literal["hour", "month", "GB"]


@dataclass(frozen=True)
class UnitPrice:
    """One unit price and its origin."""

    #: instance type, or a unit-price key (``nat_gateway_hour``), or ``eks_standard``
    key: str
    usd: float
    per: Per
    pricing: Pricing
    #: where the number comes from (file or API, product, date)
    source: str
    #: the AWS region the price is for
    region: str
    #: spot-at-discount: the on-demand price and the discount applied to it
    on_demand_usd: float | None = None
    discount: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"unit_price": self.usd, "per": self.per, "pricing": self.pricing,
                               "price_source": self.source, "price_region": self.region}
        if self.on_demand_usd is not None:
            out.update(on_demand_price=self.on_demand_usd, discount=self.discount)
        return out


@dataclass(frozen=True)
class Charge:
    """``quantity`` (of ``unit``) for ``hours`` at ``price``."""

    what: str
    quantity: float
    unit: str
    #: hours the quantity runs (per-hour and per-month prices); None for per-GB prices
    hours: float | None
    price: UnitPrice

    @property
    def usd(self) -> float:
        return charge_usd(self.quantity, self.hours, self.price.usd, self.price.per)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"what": self.what, "quantity": self.quantity, "unit": self.unit, "hours": self.hours}
        if self.unit == "node":
            out.update(instance_type=self.price.key, count=self.quantity)
        out.update(self.price.to_json())
        out["usd"] = round(self.usd, 4)
        return out

    def describe(self) -> str:
        """``2 node × 730 h × $0.0150/h (t3a.medium spot-at-discount, us-east-1)``."""
        hours = f" × {self.hours:g} h" if self.hours is not None else ""
        per = {"hour": "/h", "month": "/month", "GB": ""}[self.price.per]
        month = "/730" if self.price.per == "month" and self.hours is not None else ""
        return (f"{self.quantity:g} {self.unit}{hours}{month} × ${self.price.usd:.4g}{per} "
                f"({self.price.key} {self.price.pricing}, {self.price.region})")


def charge_usd(quantity: float, hours: float | None, unit_price: float, per: str) -> float:
    """USD of one charge: per hour ``q × h × p``; per month ``q × h/730 × p`` (a whole month
    without hours); per GB ``q × p``."""
    if per == "hour":
        if hours is None:
            raise ValueError("a per-hour price needs hours")
        return quantity * hours * unit_price
    if per == "month":
        return quantity * (1.0 if hours is None else hours / HOURS_PER_MONTH) * unit_price
    if per == "GB":
        return quantity * unit_price
    raise ValueError(f"per {per!r}: expected hour, month or GB")


def per_of(key: str) -> Per:
    """What a unit-price key of ``unit-prices-<region>.json`` is per, from its suffix."""
    if key.endswith("_hour"):
        return "hour"
    if key.endswith("_month"):
        return "month"
    if key.endswith("_gb"):
        return "GB"
    raise ValueError(f"unit price {key!r}: expected a key ending in _hour, _month or _gb")
