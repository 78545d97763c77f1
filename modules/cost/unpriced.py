"""What the estimate does not price, for this stack, and why (``modules/data/unpriced.json``).

Each entry applies ``when`` one of the conditions below holds for the stack; every output
(``plan --json``, ``gpufleet cost`` table, JSON, Markdown, ``--compare``) lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Callable

from .. import catalog

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig

BURSTABLE_FAMILIES = frozenset({"t2", "t3", "t3a", "t4g"})


def _efs_backups(cfg: "StackConfig") -> bool:
    from ..schema.storage import efs_backups

    return efs_backups(cfg)


CONDITIONS: dict[str, Callable[["StackConfig"], bool]] = {
    "always": lambda cfg: True,
    "efs_backups": _efs_backups,
    "efs_elastic": lambda cfg: cfg.storage.efs.throughput == "elastic",
    "burstable_pools": lambda cfg: any(catalog.instance_type(t).family in BURSTABLE_FAMILIES
                                       for p in [cfg.pools.system, *cfg.pools.gpu] for t in p.instance_types),
    "scale_from_zero": lambda cfg: any(p.min < p.max for p in cfg.pools.gpu),
    "nat_gateway_scale_from_zero": lambda cfg: cfg.nat != "instance" and any(p.min < p.max for p in cfg.pools.gpu),
    "nat_instance": lambda cfg: cfg.nat == "instance",
}


@dataclass(frozen=True)
class NotPriced:
    key: str
    item: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "item": self.item, "reason": self.reason}


@cache
def _entries() -> tuple[dict[str, str], ...]:
    return tuple(catalog.load("unpriced.json")["items"])


def not_priced(cfg: "StackConfig") -> tuple[NotPriced, ...]:
    return tuple(NotPriced(e["key"], e["item"], e["reason"]) for e in _entries() if CONDITIONS[e["when"]](cfg))
