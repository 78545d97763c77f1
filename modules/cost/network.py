"""The network lines of the estimate: NAT (gateways or one NAT instance) and load balancers.

- **NAT gateways** (``network.nat: single | per_az``): each gateway's hours, its share of
  ``gpufleet:cost.nat_gb`` at the per-GB processing price, and its public IPv4 address.
- **A NAT instance** (``network.nat: instance``, :mod:`modules.nat_instance`): one
  on-demand instance of ``network.nat_instance_type`` for 730 h (an Auto Scaling group of
  one, never scaled), its 8 GB gp3 root volume and the public IPv4 address of its primary
  interface. It has no per-GB processing charge: ``nat_gb`` costs nothing here beyond the
  data transfer every NAT pays (not priced, like cross-AZ traffic).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .basis import HOURS_PER_MONTH, Charge
from .model import CostItem, item

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig
    from .pricing import PriceTable


def nat_items(cfg: "StackConfig", prices: "PriceTable") -> list[CostItem]:
    from ..nat_instance import ROOT_GB

    h, cost = HOURS_PER_MONTH, cfg.cost
    out: list[CostItem] = []

    def const(name: str, resource: str, *charges: Charge) -> None:
        out.append(item(name, "network", resource, {"idle": charges}))

    ipv4 = prices.unit_price("public_ipv4_hour")
    if cfg.nat == "instance":
        itype = cfg.network.nat_instance_type
        gb = f", {cost.nat_gb:,.0f} GB without a per-GB charge" if cost.nat_gb else ""
        const(f"NAT instance {itype} (on-demand{gb})", "network-nat-asg",
              Charge("NAT instance", 1, "node", h, prices.instance_price(itype)))
        const(f"NAT instance root volume {ROOT_GB} GB gp3", "network-nat-lt",
              Charge(f"root volume, {ROOT_GB} GB gp3", ROOT_GB, "GB", h, prices.unit_price("ebs_gp3_gb_month")))
        const("public IPv4 of the NAT instance", "network-nat-asg",
              Charge("public IPv4 address", 1, "address", h, ipv4))
        return out
    nat_azs = list(cfg.network.azs) if cfg.nat == "per_az" else [cfg.network.azs[0]]
    per_nat_gb = cost.nat_gb / len(nat_azs)
    for az in nat_azs:
        charges = [Charge("NAT gateway", 1, "gateway", h, prices.unit_price("nat_gateway_hour"))]
        if per_nat_gb:
            charges.append(Charge("GB processed", per_nat_gb, "GB", None, prices.unit_price("nat_gateway_gb")))
        const(f"NAT gateway {az}" + (f" (+{per_nat_gb:,.0f} GB processed)" if per_nat_gb else ""),
              f"network-nat-{az}", *charges)
        const(f"public IPv4 of NAT gateway {az}", f"network-nat-{az}",
              Charge("public IPv4 address", 1, "address", h, ipv4))
    return out
