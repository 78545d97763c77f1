"""The ``policy`` section of a plan: the CrossGuard pack (``policies/``) applied offline.

The pack's own policy functions run on the plan's recorded resources (same props as
CrossGuard's ``args.props``) through :mod:`gpufleet_policies.offline`. Thresholds come from
the stack file where it has them (environment, region, budget, always-on pools) and the
pack's defaults otherwise: :func:`pack_config` builds the same file
``pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json``
reads (written by ``gpufleet policy <stack> --write-config``).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from modules.schema.stack import StackConfig

from ..plan import PROJECT_ROOT, Plan, Report

PACK_DIR = PROJECT_ROOT / "policies"
CONFIG_DIR = PACK_DIR / "config"


def load_pack():
    """The ``gpufleet_policies`` package from ``policies/`` (the pack's own import name)."""
    if str(PACK_DIR) not in sys.path:
        sys.path.insert(0, str(PACK_DIR))
    return importlib.import_module("gpufleet_policies")


def stack_facts(cfg: StackConfig) -> dict[str, Any]:
    """The thresholds a stack file states, under the pack's config property names."""
    facts: dict[str, Any] = {
        "environment": cfg.environment,
        "region": cfg.region,
        "alwaysOnPools": [p.name for p in cfg.pools.gpu if p.always_on],
    }
    budget = getattr(cfg.cost, "budget_usd", None)
    if budget is not None:
        facts["budgetUsd"] = float(budget)  # the pack counts it only below the environment's ceiling
    # no spotDiscount: the pack prices spot at the discount the environment's ceilings assume,
    # never at the stack's own (more hopeful) figure
    return facts


def pack_config(cfg: StackConfig) -> dict[str, Any]:
    """``--policy-pack-config`` for this stack: each policy gets the stack facts its schema
    declares, plus its enforcement level."""
    pack = load_pack()
    facts = stack_facts(cfg)
    out: dict[str, Any] = {}
    for policy in pack.POLICIES:
        props = policy.config_schema.properties if policy.config_schema else {}
        entry = {k: v for k, v in facts.items() if k in props}
        level = policy.enforcement_level.value if policy.enforcement_level else "advisory"
        out[policy.name] = {"enforcementLevel": level, **entry}
    return out


def violations(plan: Plan, config: dict[str, Any] | None = None) -> list:
    load_pack()  # puts policies/ on sys.path
    offline = importlib.import_module("gpufleet_policies.offline")
    return offline.run(plan.resources, pack_config(plan.config) if config is None else config)


def report(plan: Plan) -> Report:
    pack = load_pack()
    found = violations(plan)
    mandatory = [v for v in found if v.level == "mandatory"]
    data = {"pack": pack.PACK_NAME, "violations": [v.to_json() for v in found]}
    lines = [f"Policy pack {pack.PACK_NAME} ({len(pack.POLICIES)} policies): "
             + (f"{len(found)} violation(s), {len(mandatory)} mandatory" if found else "no violations")]
    for v in found:
        where = f" [{v.name}]" if v.name else ""
        lines.append(f"  {v.level.upper():<9} {v.policy}{where}: {v.message}")
    return Report(key="policy", data=data, text="\n".join(lines), failed=bool(mandatory))
