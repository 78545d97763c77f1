"""The stack's cost estimate against its budget (from ``modules/schema/cost.py``).

The first of the two cost guards (DEVELOPING.md, rule 11; the policy pack is the second): a
config whose *expected* monthly cost (``modules.cost.model.estimate``: pools at min, busy
hours from ``gpufleet:cost.busy``, the schedule, storage (EFS provisioned throughput
included), NAT, logs, bundled us-east-1
prices) exceeds ``cost.budget_usd`` fails before any resource is declared. Every instance
type must have an on-demand price in ``modules/data/prices-us-east-1.json``
(``modules.cost.pricing.bundled``), since the model prices every pool.

Which pools ``cost.busy`` and ``cost.schedule.pools`` name, and the schedule's rules, are
field rules (``modules.schema.cost.check``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..cost.model import estimate
from ..cost.pricing import bundled
from ..schema.base import fail

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig


def check(cfg: "StackConfig") -> None:
    priced = bundled().on_demand
    for key, pool_list in (("pools.system", [cfg.pools.system]), ("pools.gpu", cfg.pools.gpu)):
        for i, pool in enumerate(pool_list):
            where = key if key == "pools.system" else f"{key}[{i}]"
            for j, itype in enumerate(pool.instance_types):
                if itype not in priced:
                    fail(f"{where}.instance_types[{j}]", itype,
                         "an instance type with an on-demand price in modules/data/prices-us-east-1.json "
                         "(the cost model prices every pool; types sold only as capacity blocks have none)")
    est = estimate(cfg)
    expected = est.monthly["expected"]
    if expected > cfg.cost.budget_usd:
        top = sorted(est.items, key=lambda i: i.expected, reverse=True)[:2]
        biggest = "; ".join(f"{i.name} ${i.expected:,.2f}" for i in top)
        levers = "gpufleet:cost.busy / pool sizes"
        if any(i.resource == "storage-efs-throughput" for i in est.items):
            levers += " / gpufleet:storage.efs.provisioned_mibps (or use throughput: elastic)"
        fail("cost.budget_usd", cfg.cost.budget_usd,
             f"at least the stack's expected monthly cost ${expected:,.2f} (largest: {biggest}); "
             f"raise the budget or cut {levers}")
