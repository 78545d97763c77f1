"""Dev's idle cost before and after issue #12's levers, the system pool's fit per shipped
stack, and the ratio to the JARK-equivalent base (same model, same bundled prices).

- **Before**: the dev stack as it shipped before issue #12 (2 × t3a.medium spot system
  nodes at 110 pods, one NAT gateway, the api/audit/authenticator logs priced at the 2 GB
  the stack declared), and the same with the logs at the model's audit estimate.
- **Levers**, applied one after another, each with the idle it saves: Graviton system nodes
  (t4g.medium, c7g.large), the NAT instance (t4g.nano), dev's log choice (authenticator
  only), 40 pods per system node (no cost: it is what makes the add-ons fit). OpenCost
  instead of Kubecost is measured too and not applied.
- **Fit**: per shipped stack, the system pool's ``min`` nodes against the requests of every
  add-on pod (``modules.fit``): allocatable, requested, margin (cpu, memory, pods).

Usage: ``.venv/bin/python benchmarks/fit_and_cost.py [--json] [--stacks DIR]`` (the
checkout's stack folder by default; the tests pass their fixture project's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from gpufleet.modules import config as stack_config  # noqa: E402
from gpufleet.modules.cost.model import estimate  # noqa: E402
from gpufleet.modules.fit import system_fit  # noqa: E402

STACKS = ("dev", "staging", "prod")


STACKS_DIR = ROOT / "stacks"


def shipped(stack: str, stacks_dir: Path = STACKS_DIR):
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    return stack_config.validate(yaml.safe_load(path.read_text())["config"], str(path))


def _with(cfg, **sections: dict[str, Any]):
    """``cfg`` with fields of its sections replaced, unvalidated: the configs before the levers
    no longer pass the fit check, and pricing them is the point."""
    update = {}
    for section, fields in sections.items():
        if section == "system":
            pools = cfg.pools
            update["pools"] = pools.model_copy(update={"system": pools.system.model_copy(update=fields)})
        else:
            update[section] = getattr(cfg, section).model_copy(update=fields)
    return cfg.model_copy(update=update)


def before(after):
    """The dev stack before issue #12 (see the module doc)."""
    return _with(after, system={"instance_types": ["t3a.medium", "t3.medium"], "max_pods": None},
                 network={"nat": None}, cluster={"logs": ["api", "audit", "authenticator"]},
                 cost={"logs_gb": 2.0})


def idle(cfg, plan_extra: float = 0.0) -> float:
    return round(estimate(cfg).monthly["idle"] + plan_extra, 2)


def levers(after) -> list[dict[str, Any]]:
    """Each lever applied on top of the previous ones, from the shipped-before config."""
    cfg = before(after)
    steps = [
        ("Graviton system nodes (t4g.medium, c7g.large spot)", {"system": {"instance_types": ["t4g.medium", "c7g.large"]}}),
        ("NAT instance (t4g.nano) instead of a NAT gateway", {"network": {"nat": "instance"}}),
        ("dev keeps the authenticator log only (1 GB/month)", {"cluster": {"logs": ["authenticator"]},
                                                               "cost": {"logs_gb": 1.0}}),
        ("40 pods per system node (memory reserve 695 MiB, not 1,465)", {"system": {"max_pods": 40}}),
    ]
    out, last = [], idle(cfg)
    for name, change in steps:
        cfg = _with(cfg, **change)
        now = idle(cfg)
        out.append({"lever": name, "idle": now, "saves": round(last - now, 2), "fit": fit_row(cfg)})
        last = now
    return out


def fit_row(cfg) -> dict[str, Any]:
    f = system_fit(cfg)
    return {"nodes": f.nodes, "instance": f.node.instance, "pods_per_node": f.node.pods,
            "allocatable": f.allocatable, "requested": f.requested, "margin": f.margin,
            "fits": f.shortfall() is None}


def report(stacks_dir: Path = STACKS_DIR) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from jark_cost import jark_estimate

    from gpufleet import plan as planner
    from gpufleet.reports.cost import plan_estimate

    after = shipped("dev", stacks_dir)
    plan = planner.render(str(stacks_dir / "Pulumi.dev.yaml"))
    kms_of_other_layers = plan_estimate(plan).monthly["idle"] - idle(after)  # the plan adds the storage data key
    old = before(after)
    honest_logs = _with(old, cost={"logs_gb": estimate(_with(old, cost={})).assumptions["control_plane_logs"]
                                   ["estimate_gb_per_month"]})
    opencost = _with(after, cost={"tool": "opencost"})
    jark = jark_estimate().monthly["idle"]
    dev_after = round(idle(after) + kms_of_other_layers, 2)
    return {
        "dev_idle_before": round(idle(old) + kms_of_other_layers, 2),
        "dev_idle_before_logs_at_estimate": round(idle(honest_logs) + kms_of_other_layers, 2),
        "dev_idle_after": dev_after,
        "levers": levers(after),
        "fit_before": fit_row(old),
        "opencost_instead_of_kubecost": {
            "idle": round(idle(opencost) + kms_of_other_layers, 2),
            "saves": round(idle(after) - idle(opencost), 2),
            "fit": fit_row(opencost),
            "applied": False,
            "why": "the platform's OpenCost setup has no Alertmanager: the GPU alerts would not reach the SNS topic",
        },
        "fit": {stack: fit_row(shipped(stack, stacks_dir)) for stack in STACKS},
        "jark_idle": jark,
        "ratio_to_jark": round(dev_after / jark, 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--stacks", type=Path, default=STACKS_DIR, help="the folder of Pulumi.<stack>.yaml files")
    args = p.parse_args(argv)
    r = report(args.stacks)
    if args.json:
        json.dump(r, sys.stdout, indent=1)
        print()
        return 0
    print(f"dev idle before issue #12: ${r['dev_idle_before']:,.2f}/month "
          f"(${r['dev_idle_before_logs_at_estimate']:,.2f} with the audit log at the model's estimate)")
    for step in r["levers"]:
        f = step["fit"]
        print(f"  + {step['lever']:<62} ${step['idle'] + (r['dev_idle_after'] - r['levers'][-1]['idle']):>8,.2f}"
              f"  saves ${step['saves']:>6,.2f}  fit: {'yes' if f['fits'] else 'no '} (memory margin "
              f"{f['margin']['memory']:+,} MiB)")
    print(f"dev idle after: ${r['dev_idle_after']:,.2f}/month (every add-on running, GPU pools at zero)")
    oc = r["opencost_instead_of_kubecost"]
    print(f"OpenCost instead of Kubecost (not applied): saves ${oc['saves']:,.2f}; memory margin "
          f"{oc['fit']['margin']['memory']:+,} MiB; {oc['why']}")
    print("fit of the system pool's min nodes (allocatable - requested):")
    for stack, f in r["fit"].items():
        m = f["margin"]
        print(f"  {stack:<8} {f['nodes']} × {f['instance']} ({f['pods_per_node']} pods/node): cpu {m['cpu']:+,}m of "
              f"{f['allocatable']['cpu']:,}m, memory {m['memory']:+,} MiB of {f['allocatable']['memory']:,} MiB, "
              f"pods {m['pods']:+} of {f['allocatable']['pods']}")
    print(f"JARK-equivalent idle: ${r['jark_idle']:,.2f}/month; dev / JARK = {r['ratio_to_jark']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
