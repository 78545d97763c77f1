"""The cost model: a monthly estimate of a stack, line by line (issue #5 implements it).

Interface shared by the CLI (``gpufleet cost``, ``plan --json``'s ``cost`` key), the
policy pack (budget policy) and the README figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Category = Literal["control-plane", "network", "system-nodes", "storage", "gpu", "observability"]
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class CostItem:
    name: str
    category: Category
    #: logical name (or URN) of the resource the line prices
    resource: str
    idle: float
    expected: float
    max: float


@dataclass(frozen=True)
class PriceSource:
    source: str
    date: str
    region: str


@dataclass(frozen=True)
class CostEstimate:
    items: tuple[CostItem, ...]
    prices: PriceSource
    currency: str = "USD"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def monthly(self) -> dict[str, float]:
        return {k: round(sum(getattr(i, k) for i in self.items), 2) for k in ("idle", "expected", "max")}

    def by_category(self, category: Category) -> dict[str, float]:
        items = [i for i in self.items if i.category == category]
        return {k: round(sum(getattr(i, k) for i in items), 2) for k in ("idle", "expected", "max")}
