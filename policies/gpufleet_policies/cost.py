"""Spend: the GPU pools at max within the stack's budget, a cost tool in the cluster.

The budget rule prices each GPU node group with the cost model's own per-pool price
function (:mod:`modules.cost.model`), from the node group's facts alone (instance types,
capacity type, max size, region), so ``pulumi preview`` and ``gpufleet plan`` agree.
"""

from __future__ import annotations

from typing import Any, Mapping

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, StackValidationArgs,
                           StackValidationPolicy)

from . import defaults
from ._pools import PoolFacts, gpu_pools
from ._props import HELM_RELEASE, get, stack_environment

MANDATORY = EnforcementLevel.MANDATORY


def pool_max_monthly(facts: PoolFacts, config: Mapping[str, Any]) -> float:
    """The pool at max nodes for a whole month (730 h) at its dearest instance type, priced by
    the cost model from the node group's facts (bundled price table)."""
    from modules.cost import model

    discount = config.get("spotDiscount")
    kwargs = {"spot_discount": float(discount)} if discount is not None else {}
    return model.pool_monthly(facts.instance_types, "SPOT" if facts.spot else "ON_DEMAND", 0,
                              int(facts.max_size or 0), **kwargs).max


def gpu_spend_within_budget(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    env = stack_environment(config, args.resources)
    budget = float(defaults.per_env(config, "budgetUsd", defaults.GPU_BUDGET_USD, env))
    lines = [(facts, pool_max_monthly(facts, config)) for _, facts in gpu_pools(args.resources)]
    total = sum(cost for _, cost in lines)
    if total > budget:
        parts = ", ".join(f"{f.pool} ${cost:,.0f} ({int(f.max_size or 0)} x {'/'.join(f.instance_types)}"
                          f"{' spot' if f.spot else ' on-demand'})"
                          for f, cost in sorted(lines, key=lambda x: (-x[1], x[0].pool)))
        report(f"estimated max monthly GPU spend ${total:,.0f} (every GPU pool at max nodes, 730 h) exceeds "
               f"the budget of ${budget:,.0f}: {parts}")


def cost_tool_installed(args: StackValidationArgs, report: ReportViolation) -> None:
    charts = args.get_config().get("charts") or defaults.COST_TOOL_CHARTS
    for r in args.resources:
        if r.resource_type == HELM_RELEASE and str(get(r.props, "chart", "")).rsplit("/", 1)[-1] in charts:
            return
    report(f"no cost tool in the cluster: install Kubecost or OpenCost (a Helm release of chart "
           f"{' or '.join(charts)}; cost.tool in the stack config) so GPU spend is visible per team")


POLICIES = [
    StackValidationPolicy(
        name="gpu-spend-within-budget",
        description="The estimated monthly cost of every GPU pool at max nodes stays within the stack's budget.",
        validate=gpu_spend_within_budget,
        enforcement_level=MANDATORY,
        config_schema=PolicyConfigSchema(properties={
            "environment": {"type": "string", "enum": ["dev", "staging", "prod"]},
            "budgetUsd": {"type": "number", "minimum": 0,
                          "description": "monthly USD (gpufleet policy <stack> --write-config: the stack's "
                                         "cost.budget_usd; without it dev 5000, staging 15000, prod 150000)"},
            "spotDiscount": {"type": "number", "minimum": 0, "maximum": 1,
                             "description": "spot price as a discount off on-demand (default: the cost model's 0.6)"},
        }),
    ),
    StackValidationPolicy(
        name="cost-tool-installed",
        description="A cost tool (Kubecost cost-analyzer or OpenCost) is installed as a Helm release.",
        validate=cost_tool_installed,
        enforcement_level=MANDATORY,
        config_schema=PolicyConfigSchema(properties={
            "charts": {"type": "array", "items": {"type": "string"}, "description": "default: cost-analyzer, opencost"},
        }),
    ),
]
