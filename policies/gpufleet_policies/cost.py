"""Spend: every node pool at max within the budget and the environment's ceiling, a cost tool in the cluster.

The budget rule prices the figure the config guard checks (:mod:`modules.cost.guard`) from
the resources alone: each node group with the cost model's own per-pool price function
(:mod:`modules.cost.model`: instance types, capacity type, max size, and the root volume
of its launch template), and each EFS file system's provisioned throughput, so ``pulumi
preview`` and ``gpufleet plan`` agree. What it cannot read (a size computed from another
resource's output, missing, or an instance type without a price) makes it report "cannot
verify", never a guess of 0 nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from . import defaults
from ._policy import environment_property, mandatory, strings
from ._pools import NOT_KNOWN, READ_NO_GUESS, PoolFacts, cannot_verify, pool_facts, root_volume_gb
from ._props import EFS_FILE_SYSTEM, HELM_RELEASE, NODE_GROUP, chart_name, get, known, number, stack_environment


def pool_max_monthly(facts: PoolFacts, discount: float, disk_gb: float = 0) -> float:
    """The pool at max nodes for a whole month (730 h) at its dearest instance type, priced by
    the cost model from the node group's facts (bundled price table), spot at ``discount``,
    each node with ``disk_gb`` of gp3 root volume."""
    from gpufleet.modules.cost import model

    return model.pool_monthly(facts.instance_types, "SPOT" if facts.spot else "ON_DEMAND", 0,
                              int(facts.max_size or 0), disk_gb=disk_gb, spot_discount=discount).max


@dataclass(frozen=True)
class SpendPool:
    facts: PoolFacts
    disk_gb: float

    def instances(self, discount: float) -> float:
        return pool_max_monthly(self.facts, discount)

    @property
    def volumes(self) -> float:
        """Every node's root volume at max for the month (gp3 per GB-month, whatever the capacity)."""
        from gpufleet.modules.cost import model

        return model.pool_monthly(self.facts.instance_types, "ON_DEMAND", 0, int(self.facts.max_size or 0),
                                  disk_gb=self.disk_gb).volumes[2]


def _spend_pools(resources: list[Any], unreadable: list[str]) -> list[SpendPool]:
    from gpufleet.modules.cost.pricing import bundled

    priced = bundled().on_demand
    pools = []
    for r in resources:
        if r.resource_type != NODE_GROUP:
            continue
        facts = pool_facts(r.props, r.name)
        problem = cannot_verify(facts, "scalingConfig.maxSize", "instanceTypes")
        gb, why = root_volume_gb(resources, r)
        problems = [problem] if problem else []
        if why:
            problems.append(f"{facts.pool} ({facts.resource}): {why}")
        if not problem and not facts.instance_types:
            problems.append(f"{facts.pool} ({facts.resource}): instanceTypes is missing")
        unpriced = [t for t in facts.instance_types if t not in priced]
        if unpriced:
            problems.append(f"{facts.pool} ({facts.resource}): no on-demand price for {', '.join(unpriced)} "
                            "in modules/data/prices-us-east-1.json")
        if problems:
            unreadable.extend(problems)
        else:
            pools.append(SpendPool(facts, gb or 0.0))
    return pools


def efs_throughput(resources: list[Any], unreadable: list[str]) -> list[tuple[str, float, float]]:
    """(file system, MiB/s, USD a month) of every EFS file system in provisioned throughput mode:
    billed per MiB/s-month whatever it stores or serves (bursting and elastic bill none)."""
    from gpufleet.modules.cost.guard import efs_throughput_monthly

    out = []
    for r in resources:
        if r.resource_type != EFS_FILE_SYSTEM:
            continue
        mode = get(r.props, "throughputMode", "bursting")
        if not known(mode):
            unreadable.append(f"{r.name}: throughputMode {NOT_KNOWN}")
            continue
        if mode != "provisioned":
            continue
        raw = get(r.props, "provisionedThroughputInMibps")
        mibps = number(raw)
        if mibps is None or mibps < 0:
            why = NOT_KNOWN if not known(raw) else "is missing" if raw is None else "is not a number of MiB/s"
            unreadable.append(f"{r.name}: provisionedThroughputInMibps {why} (throughputMode provisioned)")
            continue
        out.append((r.name, mibps, efs_throughput_monthly(mibps)))
    return out


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


def _n(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,g}"


def gpu_spend_within_budget(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    resources = list(args.resources)
    env = stack_environment(config, resources)
    budget, ceiling, discount = spend_limits(config, env)
    unreadable: list[str] = []
    pools = _spend_pools(resources, unreadable)
    efs = efs_throughput(resources, unreadable)
    if unreadable:
        report(f"cannot verify the max monthly spend against the budget of ${budget:,.0f} (ceiling ${ceiling:,.0f}): "
               f"{'; '.join(unreadable)}; {READ_NO_GUESS}")
        return
    lines = [(p.facts, p.instances(discount)) for p in pools]
    volumes = sum(p.volumes for p in pools)
    fixed = volumes + sum(usd for _, _, usd in efs)
    nodes = sum(cost for _, cost in lines) + volumes
    efs_usd = sum(usd for _, _, usd in efs)
    total = nodes + efs_usd
    if total > budget:
        parts = ", ".join(f"{f.pool} ${cost:,.0f} ({int(f.max_size or 0)} x {'/'.join(f.instance_types)}"
                          f"{' spot' if f.spot else ' on-demand'})"
                          for f, cost in sorted(lines, key=lambda x: (-x[1], x[0].pool)))
        disks = ", ".join(f"{p.facts.pool} {int(p.facts.max_size or 0)} x {_n(p.disk_gb)} GB"
                          for p in sorted(pools, key=lambda p: (-p.volumes, p.facts.pool)) if p.volumes)
        even = _break_even(pools, fixed, budget)
        hint = (f"it fits only if spot stays at least {even:.0%} below on-demand" if even is not None
                else "not even free spot capacity would fit")
        what = (f"estimated max monthly node spend ${nodes:,.0f} (every node pool at max nodes, 730 h, spot "
                f"{discount:.0%} below on-demand as the {env or 'prod'} ceilings assume)")
        if efs_usd:
            what += f" plus EFS provisioned throughput ${efs_usd:,.0f}: ${total:,.0f}"
        message = (f"{what} exceeds the budget of ${budget:,.0f} (ceiling ${ceiling:,.0f}); {hint}: {parts}; "
                   f"root volumes ${volumes:,.0f} (gp3, every node at max: {disks or 'none'})")
        if efs:
            message += "; EFS provisioned throughput: " + ", ".join(
                f"{name} ${usd:,.0f} ({_n(mibps)} MiB/s provisioned)" for name, mibps, usd in efs)
        report(message)


def _break_even(pools: list[SpendPool], fixed: float, budget: float) -> float | None:
    def spend(d: float) -> float:
        return sum(p.instances(d) for p in pools) + fixed

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
              "The monthly cost of every node pool at max nodes (spot at the discount the environment's "
              "ceilings assume, each node with its root volume) and of EFS provisioned throughput stays within "
              "the stack's budget and the environment's ceiling; a size it cannot read fails the rule.",
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
