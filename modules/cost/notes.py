"""The notes every estimate carries: which prices, how spot is priced, what the schedule
allows, how the control-plane log volume was obtained, and the figure the budget guards
check (:func:`budget_guard`), which is neither of the estimate's ceilings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Collection, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.cost import ScheduleConfig
    from ..schema.stack import StackConfig
    from .logs import LogVolume
    from .model import CostItem
    from .pricing import PriceTable


def price_note(cfg: "StackConfig", prices: "PriceTable") -> str:
    if prices.region != cfg.region:
        return (f"prices: {prices.region} for every item, the stack runs in {cfg.region}: "
                f"use `gpufleet cost --live-prices` for {cfg.region}'s prices")
    return f"prices: {prices.region} ({prices.source.date}; each item's basis names its price's source and region)"


def log_notes(logs: "LogVolume") -> list[str]:
    if not logs.configured:
        return [f"control-plane logs: {logs.gb:g} GB/month estimated, {logs.basis}; set gpufleet:cost.logs_gb "
                "to the IncomingBytes CloudWatch measures for the log group"]
    if logs.gb < logs.estimate_gb:
        return [f"control-plane logs: gpufleet:cost.logs_gb is {logs.gb:g} GB/month, below the {logs.basis}: "
                "check it against the IncomingBytes CloudWatch measures for the log group"]
    return []


def schedule_note(schedule: "ScheduleConfig | None", scheduled: Collection[str], window: float | None) -> str:
    if schedule is not None and scheduled:
        return (f"max_within_schedule: {', '.join(sorted(scheduled))} can run at most {window:g} h/month "
                f"(start '{schedule.start}', stop '{schedule.stop}', {schedule.time_zone}); other pools 730 h")
    return "max_within_schedule equals max: no GPU pool is on a scale-down schedule"


def spot_notes(items: Sequence["CostItem"], discount: float) -> list[str]:
    """One note per way spot capacity is priced in idle and expected."""
    at_discount, observed = [], []
    for it in items:
        for c in it.basis.get("idle", ()):
            if c.unit == "node" and c.price.pricing == "spot-at-discount":
                at_discount.append(it.resource.removeprefix("pool-").removesuffix("-ng"))
            elif c.unit == "node" and c.price.pricing == "spot-from-history":
                observed.append(f"{c.price.key} ({c.price.source})")
    out = []
    if at_discount:
        out.append(f"{', '.join(dict.fromkeys(at_discount))}: spot priced at {discount:.0%} off on-demand for idle and "
                   "expected (gpufleet:cost.spot_discount; `gpufleet cost --spot-history` uses observed prices); "
                   "max and max_within_schedule price spot at on-demand")
    for o in dict.fromkeys(observed):
        out.append(f"spot from history: {o}; max and max_within_schedule price spot at on-demand")
    return out


def budget_guard(cfg: "StackConfig") -> dict[str, Any]:
    """The figure the budget guards check, which is neither ``max`` nor ``max_within_schedule``:
    every node pool at max for 730 h, spot at the discount the environment's ceilings assume
    (bundled prices), each node with its root volume, plus EFS provisioned throughput
    (:mod:`modules.cost.guard`), against ``gpufleet:cost.budget_usd`` (config validation,
    ``modules/checks/ceilings.py``) and the policy ``gpu-spend-within-budget``."""
    from ..environments import ceilings
    from .guard import break_even_discount, guard_figure

    c = ceilings(cfg.environment)
    figure = guard_figure(cfg, c.spot_discount_assumed)
    spend = round(figure.total, 2)
    even = break_even_discount(cfg, cfg.cost.budget_usd)
    return {
        "figure": (f"every node pool at max for 730 h, spot {c.spot_discount_assumed:.0%} below on-demand "
                   f"(the {cfg.environment} ceilings' assumption), each node with its gp3 root volume, plus EFS "
                   f"provisioned throughput, bundled us-east-1 prices"),
        "checked_by": ["config validation (gpufleet:cost.budget_usd)", "policy gpu-spend-within-budget"],
        "spot_discount_assumed": c.spot_discount_assumed,
        "node_spend_usd": spend,
        "parts": figure.parts(),
        "budget_usd": cfg.cost.budget_usd,
        "fits": spend <= cfg.cost.budget_usd,
        "break_even_spot_discount": None if even is None else round(even, 3),
    }


def guard_note(guard: dict[str, Any]) -> str:
    even = guard["break_even_spot_discount"]
    return (f"the budget guards check neither max: they price {guard['figure']}: "
            f"${guard['node_spend_usd']:,.2f} against the budget ${guard['budget_usd']:,.2f}"
            + (f" (fits while spot stays at least {even:.0%} below on-demand)" if even is not None
               else " (not even free spot capacity fits)"))
