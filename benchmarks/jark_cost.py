"""Idle cost of the dev stack next to a JARK-equivalent base, on the same price table.

The ai-on-eks / data-on-eks JARK base (JupyterHub, Argo, Ray, KubeRay on EKS), reduced to
what costs money while nobody works, priced by the same model (``modules.cost.model``)
and the same bundled us-east-1 prices:

- EKS control plane (standard support) and its KMS key;
- 2 × m5.xlarge on-demand system nodes with 100 GB gp3 root volumes each;
- one NAT gateway and its public IPv4 address;
- two internal Network Load Balancers;
- Prometheus with 2 × 50 GiB gp3 volumes;
- GPU nodes at zero (Karpenter there, scale-to-zero pools here).

Usage: ``.venv/bin/python benchmarks/jark_cost.py [--json]``. Prints both idle totals,
their line items and the ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpufleet.modules.cost.basis import Charge  # noqa: E402
from gpufleet.modules.cost.model import CostEstimate, estimate, item  # noqa: E402

JARK_PROMETHEUS_VOLUMES_GIB = (50, 50)


def jark_raw() -> dict:
    """A stack config with JARK's idle shape (the dev stack's network and cluster)."""
    import yaml

    raw = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    raw["gpufleet:network"] = {k: v for k, v in raw["gpufleet:network"].items() if not k.startswith("nat")}  # a NAT gateway
    raw["gpufleet:cluster"] = {k: v for k, v in raw["gpufleet:cluster"].items() if k != "logs"}
    raw["gpufleet:pools"] = {"system": {"instance_types": ["m5.xlarge"], "capacity": "on-demand",
                                        "min": 2, "max": 2, "disk_gb": 100}, "gpu": []}
    raw.pop("gpufleet:teams", None)
    raw.pop("gpufleet:ml", None)
    raw.pop("gpufleet:storage", None)
    raw["gpufleet:cost"] = {"budget_usd": 1000, "load_balancers": 2}
    return raw


def jark_estimate() -> CostEstimate:
    from gpufleet.modules import config

    cfg = config.validate(jark_raw(), "benchmarks/jark_cost.py (JARK-equivalent)")
    est = estimate(cfg)
    # JARK's observability is kube-prometheus-stack: two 50 GiB Prometheus volumes instead
    # of the cost tool's volumes.
    from gpufleet.modules.cost.pricing import bundled

    gp3 = bundled().unit_price("ebs_gp3_gb_month")
    items = [i for i in est.items if i.category != "observability"]
    items += [item(f"Prometheus volume {n + 1}: {gb} GiB gp3", "observability", f"prometheus-{n + 1}",
                   {"idle": [Charge("GiB gp3", gb, "GB", None, gp3)]})
              for n, gb in enumerate(JARK_PROMETHEUS_VOLUMES_GIB)]
    return CostEstimate(items=tuple(items), prices=est.prices,
                        notes=("JARK-equivalent idle base: no control-plane logs or cost tool, two 50 GiB Prometheus "
                               "volumes instead", *(n for n in est.notes if n.startswith("prices:"))))


def dev_estimate() -> CostEstimate:
    """The shipped dev stack as planned (config plus the KMS keys other layers add)."""
    from gpufleet import plan as planner
    from gpufleet.reports.cost import plan_estimate

    return plan_estimate(planner.render("dev"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    jark, dev = jark_estimate(), dev_estimate()
    ratio = dev.monthly["idle"] / jark.monthly["idle"]
    if args.json:
        json.dump({"jark_idle": jark.monthly["idle"], "dev_idle": dev.monthly["idle"], "ratio": round(ratio, 3),
                   "jark_items": jark.to_json()["items"], "prices": jark.to_json()["prices"]}, sys.stdout, indent=1)
        print()
        return 0
    from gpufleet.reports.cost import table

    print(table(jark, "JARK-equivalent base (idle)"))
    print()
    print(f"JARK-equivalent idle: ${jark.monthly['idle']:,.2f}/month")
    print(f"gpufleet dev idle:    ${dev.monthly['idle']:,.2f}/month (every add-on running, GPU pools at zero)")
    print(f"ratio dev / JARK:     {ratio:.2f} (dev costs {1 - ratio:.0%} less)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
