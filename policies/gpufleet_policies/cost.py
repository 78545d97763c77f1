"""Spend: every node pool at max within the budget and the environment's ceiling, a cost tool in the cluster.

The budget rule prices each GPU node group with the cost model's own per-pool price
function (:mod:`modules.cost.model`), from the node group's facts alone (instance types,
capacity type, max size, region), so ``pulumi preview`` and ``gpufleet plan`` agree.
"""

from __future__ import annotations

from typing import Any, Mapping

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from . import defaults
from ._policy import environment_property, mandatory, strings
from ._pools import PoolFacts, pool_facts
from ._props import HELM_RELEASE, NODE_GROUP, chart_name, stack_environment


def pool_max_monthly(facts: PoolFacts, discount: float) -> float:
    """The pool at max nodes for a whole month (730 h) at its dearest instance type, priced by
    the cost model from the node group's facts (bundled price table), spot at ``discount``."""
    from gpufleet.modules.cost import model

    return model.pool_monthly(facts.instance_types, "SPOT" if facts.spot else "ON_DEMAND", 0,
                              int(facts.max_size or 0), spot_discount=discount).max


def node_pools(resources: Any) -> list[PoolFacts]:
    """Every managed node group of the stack, GPU and system alike: both are spend."""
    return [pool_facts(r.props, r.name) for r in resources if r.resource_type == NODE_GROUP]


def spend_limits(config: Mapping[str, Any], env: str | None) -> tuple[float, float, float]:
    """(budget, ceiling, spot discount) the rule judges by: the environment's ceilings
    (``modules/data/environment_ceilings.json``), which a stack can only tighten: its budget
    counts when lower than the ceiling, its spot discount when more pessimistic."""
    from gpufleet.modules.environments import ceilings

    c = ceilings(env or "prod")
    budget = config.get("budgetUsd")
    budget = min(float(budget), c.max_monthly_usd) if budget is not None else c.max_monthly_usd
    discount = config.get("spotDiscount")
    discount = min(float(discount), c.spot_discount_assumed) if discount is not None else c.spot_discount_assumed
    return budget, c.max_monthly_usd, discount


def gpu_spend_within_budget(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    env = stack_environment(config, args.resources)
    budget, ceiling, discount = spend_limits(config, env)
    pools = node_pools(args.resources)
    lines = [(facts, pool_max_monthly(facts, discount)) for facts in pools]
    total = sum(cost for _, cost in lines)
    if total > budget:
        parts = ", ".join(f"{f.pool} ${cost:,.0f} ({int(f.max_size or 0)} x {'/'.join(f.instance_types)}"
                          f"{' spot' if f.spot else ' on-demand'})"
                          for f, cost in sorted(lines, key=lambda x: (-x[1], x[0].pool)))
        even = _break_even(pools, budget)
        hint = (f"it fits only if spot stays at least {even:.0%} below on-demand" if even is not None
                else "not even free spot capacity would fit")
        report(f"estimated max monthly node spend ${total:,.0f} (every node pool at max nodes, 730 h, spot "
               f"{discount:.0%} below on-demand as the {env or 'prod'} ceilings assume) exceeds the budget of "
               f"${budget:,.0f} (ceiling ${ceiling:,.0f}); {hint}: {parts}")


def _break_even(pools: list[PoolFacts], budget: float) -> float | None:
    def spend(d: float) -> float:
        return sum(pool_max_monthly(f, d) for f in pools)

    if spend(1.0) > budget:
        return None
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if spend(mid) > budget else (lo, mid)
    return hi


def cost_tool_installed(args: StackValidationArgs, report: ReportViolation) -> None:
    charts = args.get_config().get("charts") or defaults.COST_TOOL_CHARTS
    for r in args.resources:
        if r.resource_type == HELM_RELEASE and chart_name(r.props) in charts:
            return
    report(f"no cost tool in the cluster: install Kubecost or OpenCost (a Helm release of chart "
           f"{' or '.join(charts)}; cost.tool in the stack config) so GPU spend is visible per team")


POLICIES = [
    mandatory(StackValidationPolicy, "gpu-spend-within-budget",
              "The monthly cost of every node pool at max nodes, spot at the discount the environment's "
              "ceilings assume, stays within the stack's budget and the environment's ceiling.",
              gpu_spend_within_budget, {
                  "environment": environment_property(),
                  "budgetUsd": {"type": "number", "minimum": 0,
                                "description": "monthly USD: the stack's cost.budget_usd; counts only below the "
                                               "environment's ceiling (modules/data/environment_ceilings.json)"},
                  "spotDiscount": {"type": "number", "minimum": 0, "maximum": 1,
                                   "description": "spot as a discount off on-demand; counts only when below the "
                                                  "environment's assumed discount (the pack never prices spot cheaper)"},
              }),
    mandatory(StackValidationPolicy, "cost-tool-installed",
              "A cost tool (Kubecost cost-analyzer or OpenCost) is installed as a Helm release.",
              cost_tool_installed, {"charts": strings("default: cost-analyzer, opencost")}),
]
