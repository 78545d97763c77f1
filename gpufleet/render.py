"""Text rendering of a plan: the component tree and the key facts of each pool."""

from __future__ import annotations

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


def tree(plan: Plan) -> str:
    lines = [f"gpufleet plan: stack {plan.stack} ({plan.source}), {len(plan.resources)} resources"]
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
