"""Text rendering of a plan: a summary first (what ``pulumi preview`` ends with, then the
pools, the cost and the policy verdicts), the reports in full, and the component tree on
request (``gpufleet plan STACK --tree``).

The summary comes first because a reviewer reads top-down: the numbers that decide a
change (how many resources, which pools, what they cost, which rules fail) fit one
screen. The 230-300-line tree is for finding one resource; it is printed only when asked
for, after everything else, so it never pushes the verdicts off the screen.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

from .engine import Recorded
from .plan import Plan

FACTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "aws:eks/nodeGroup:NodeGroup": lambda i: (
        f"{i.get('capacityType')} {','.join(i.get('instanceTypes', []))} "
        f"{i['scalingConfig']['minSize']}..{i['scalingConfig']['maxSize']} nodes"
        + "".join(f", taint {t['key']}={t.get('value', '')}:{t['effect']}" for t in i.get("taints", []))),
    "aws:eks/cluster:Cluster": lambda i: f"k8s {i.get('version')}, public endpoint {i['vpcConfig'].get('endpointPublicAccess')}",
    "aws:ec2/natGateway:NatGateway": lambda i: "NAT gateway",
    "aws:ec2/subnet:Subnet": lambda i: f"{i.get('availabilityZone')} {i.get('cidrBlock')}",
    "aws:ec2/vpc:Vpc": lambda i: i.get("cidrBlock", ""),
}

#: How the summary names a resource's package (the first segment of its type).
KINDS = {"aws": "AWS", "kubernetes": "Kubernetes"}


def text(plan: Plan, *, show_tree: bool = False) -> str:
    """The whole text output of ``gpufleet plan``: summary, reports, and the tree if asked."""
    parts = [summary(plan, tree_shown=show_tree)]
    for report in plan.reports:
        if report.key in SUMMARISED and not _more_than_headline(report):
            continue  # the summary line says it all
        parts.append(report.text)
    if show_tree:
        parts.append(tree(plan))
    return "\n\n".join(parts)


def summary(plan: Plan, *, tree_shown: bool = False) -> str:
    """Header, resource counts (as ``pulumi preview`` counts them: every resource and
    component, plus the stack), the pools, one line per summarised report."""
    lines = [f"gpufleet plan: stack {plan.stack} ({plan.source})", "", "Resources:"]
    created = [r for r in plan.resources if not r.read]
    read = [r for r in plan.resources if r.read]
    lines.append(f"    + {len(created) + 1} to create")
    lines.append(f"      ({resource_kinds(created)}, and the stack)")
    if read:
        lines.append(f"    {len(read)} to read ({', '.join(f'{r.type} {r.name}' for r in read)})")
    lines += ["", "Pools:", *("  " + row for row in pools_table(plan).splitlines())]
    headlines = [line for report in plan.reports if (line := headline(report, plan))]
    if headlines:
        lines += ["", *headlines]
    if not tree_shown:
        lines += ["", f"Every resource, as a tree: gpufleet plan {plan.stack} --tree; as JSON: --json"]
    return "\n".join(lines)


def resource_kinds(resources: list[Recorded]) -> str:
    """``127 AWS, 67 Kubernetes, 55 components, 2 providers``, largest first."""
    counts: Counter[str] = Counter()
    for r in resources:
        if r.type.startswith("pulumi:providers:"):
            counts["providers"] += 1
        elif not r.custom:
            counts["components"] += 1
        else:
            package = r.type.split(":", 1)[0]
            counts[KINDS.get(package, package)] += 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# ---------------------------------------------------------------- report headlines

def _usd(x: Any) -> str:
    return f"${x:,.2f}" if isinstance(x, (int, float)) else "?"


def _cost_headline(data: dict[str, Any], plan: Plan) -> str:
    monthly = data.get("monthly") or {}
    line = (f"Cost per month ({data.get('currency', 'USD')}): expected {_usd(monthly.get('expected'))}, "
            f"idle {_usd(monthly.get('idle'))}, max {_usd(monthly.get('max'))}")
    if "max_within_schedule" in monthly:
        line += f" ({_usd(monthly['max_within_schedule'])} within the scale-down schedule)"
    guard = data.get("budget_guard") or {}
    if guard.get("budget_usd") is not None:
        verdict = "fits" if guard.get("fits") else "EXCEEDS the budget"
        line += (f"\n  budget {_usd(guard['budget_usd'])}; the budget guards' figure (every node pool at max) "
                 f"{_usd(guard.get('node_spend_usd'))}: {verdict}")
    return line


def _policy_headline(data: dict[str, Any], plan: Plan) -> str:
    counts = data.get("summary")
    if not counts:  # an older report shape: violations only
        found = data.get("violations", [])
        return f"Policies ({data.get('pack')}): {len(found)} violation(s)"
    line = (f"Policies ({data.get('pack')} pack, {counts['rules']} rules): {counts['passed']} passed, "
            f"{counts['failed']} failed, {counts['skipped']} skipped")
    failed = [r["policy"] for r in data.get("rules", []) if r.get("status") == "failed"]
    if failed:
        line += f"\n  failed: {', '.join(failed)}"
    return line


SUMMARISED: dict[str, Callable[[dict[str, Any], Plan], str]] = {"cost": _cost_headline, "policy": _policy_headline}


def headline(report: Any, plan: Plan) -> str:
    fn = SUMMARISED.get(report.key)
    return fn(report.data, plan) if fn and isinstance(report.data, dict) else ""


def _more_than_headline(report: Any) -> bool:
    """Does the report's text say more than its summary line (details, tables)?"""
    return len(report.text.splitlines()) > 1


# ---------------------------------------------------------------- the tree and the pools

def tree(plan: Plan) -> str:
    lines = [f"Resources of stack {plan.stack} ({len(plan.resources)}, parents before their children):"]
    urns = {r.urn for r in plan.resources}
    roots = [r for r in plan.resources if r.parent not in urns]

    def walk(node: Recorded, prefix: str, last: bool) -> None:
        facts = FACTS.get(node.type)
        detail = f"  [{facts(node.inputs)}]" if facts else ""
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{node.name}  {node.type}{detail}")
        kids = plan.children(node.urn)
        for i, kid in enumerate(kids):
            walk(kid, prefix + ("   " if last else "│  "), i == len(kids) - 1)

    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1)
    return "\n".join(lines)


def pools_table(plan: Plan) -> str:
    rows = [("pool", "instance types", "capacity", "sharing", "min..max", "per node")]
    for p in plan.config.pools.gpu:
        res = ", ".join(f"{k}={v}" for k, v in p.gpu_resources_per_node.items())
        rows.append((p.name, ",".join(p.instance_types), p.capacity, p.sharing if p.sharing != "mig" else f"mig {p.mig_config}",
                     f"{p.min}..{p.max}", res))
    s = plan.config.pools.system
    rows.append(("system", ",".join(s.instance_types), s.capacity, "-", f"{s.min}..{s.max}", "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
