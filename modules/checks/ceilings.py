"""The stack against its environment's ceilings (from ``modules/schema/ceilings.py``;
``modules.environments``, ``modules/data/environment_ceilings.json``): limits a stack file
cannot raise. The first of the two guards; the policy pack applies the same ceilings to the
resources (``policies/gpufleet_policies``).

- The stack's budget at most the environment's ``max_monthly_usd``, and the most its nodes
  can cost (every pool at max for a month, spot priced at the discount the environment
  *assumes*, not the one the stack hopes for, each node with its gp3 root volume) plus its
  EFS provisioned throughput within that budget (:mod:`modules.cost.guard`): the spend the
  budget must cover is computed from limits the stack does not set.
- ``cost.spot_discount`` at most what the spot market justifies (``max_spot_discount``).
- The system pool from the environment's instance families and sizes.
- A public endpoint allowlist no broader than the environment allows (no prefix shorter than
  ``min_public_prefix``, at most ``max_public_addresses`` addresses in all).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from .. import catalog
from ..cost import guard
from ..cost.guard import guard_figure
from ..environments import ceilings
from ..schema.base import fail

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig


def max_node_spend(cfg: "StackConfig", spot_discount: float) -> list[tuple[str, float]]:
    """(pool, USD a month) for every node pool at max size for 730 hours, spot at
    ``spot_discount``, each node with its gp3 root volume (EFS throughput is not a pool's:
    :func:`modules.cost.guard.guard_figure` has the whole figure)."""
    return [(p.name, p.total) for p in guard_figure(cfg, spot_discount).pools]


def break_even_discount(cfg: "StackConfig", budget: float) -> float | None:
    """The smallest spot discount at which the guards' figure fits ``budget``
    (None: not even spot for free would do)."""
    return guard.break_even_discount(cfg, budget)


def check(cfg: "StackConfig") -> None:
    c = ceilings(cfg.environment)
    budget = cfg.cost.budget_usd
    if budget > c.max_monthly_usd:
        fail("cost.budget_usd", budget, f"at most ${c.max_monthly_usd:,.0f}, the {cfg.environment} ceiling "
                                        "(modules/data/environment_ceilings.json, owned by the platform team)")
    if cfg.cost.spot_discount > c.max_spot_discount:
        fail("cost.spot_discount", cfg.cost.spot_discount,
             f"at most {c.max_spot_discount} (GPU spot prices rarely stay further below on-demand; "
             f"the guards assume {c.spot_discount_assumed})")
    system = cfg.pools.system
    for i, name in enumerate(system.instance_types):
        it = catalog.instance_type(name)
        if it.family not in c.system_families or it.vcpu > c.system_max_vcpu:
            fail(f"pools.system.instance_types[{i}]", name,
                 f"a {cfg.environment} system instance type: families {', '.join(c.system_families)}, "
                 f"at most {c.system_max_vcpu} vCPUs")
    if system.max > c.system_max_nodes:
        fail("pools.system.max", system.max, f"at most {c.system_max_nodes} system nodes in {cfg.environment}")
    endpoint = cfg.cluster.endpoint
    for i, cidr in enumerate(endpoint.public_cidrs):
        if cidr.prefixlen < c.min_public_prefix:
            fail(f"cluster.endpoint.public_cidrs[{i}]", str(cidr),
                 f"a range of /{c.min_public_prefix} or narrower (list your office, VPN or runner ranges)")
    addresses = sum(n.num_addresses for n in ipaddress.collapse_addresses(endpoint.public_cidrs))
    if addresses > c.max_public_addresses:
        fail("cluster.endpoint.public_cidrs", [str(n) for n in endpoint.public_cidrs],
             f"an allowlist of at most {c.max_public_addresses:,} addresses in all (this one admits {addresses:,})")
    figure = guard_figure(cfg, c.spot_discount_assumed)
    total = figure.total
    if total > budget:
        top = ", ".join(f"{p.name} ${p.instances:,.0f}" for p in sorted(figure.pools, key=lambda p: -p.instances)[:3])
        gb = sum(p.nodes * p.disk_gb for p in figure.pools)
        biggest = max(figure.pools, key=lambda p: p.volumes)
        parts = (f"({top}), their root volumes ${figure.volumes:,.0f} ({gb:,} GB gp3 at max; most: {biggest.name} "
                 f"{biggest.nodes} x {biggest.disk_gb:,} GB)")
        levers = "lower pool max sizes" + (" or disk_gb" if figure.volumes >= 0.05 * total else "")
        if figure.efs:
            parts += (f", plus EFS provisioned throughput ${figure.efs:,.0f} (gpufleet:storage.efs.provisioned_mibps "
                      f"{figure.efs_mibps:,} MiB/s, billed per MiB/s-month whatever it serves)")
            levers += " or gpufleet:storage.efs.provisioned_mibps (or use throughput: elastic)"
        even = break_even_discount(cfg, budget)
        hint = (f"it fits only if spot stays {even:.0%} below on-demand" if even is not None
                else "not even free spot capacity would fit")
        fail("cost.budget_usd", budget,
             f"at least ${total:,.0f}, what every node pool at max costs for a month with spot "
             f"{c.spot_discount_assumed:.0%} below on-demand {parts}; {hint}: raise the budget "
             f"(up to ${c.max_monthly_usd:,.0f}) or {levers}")
