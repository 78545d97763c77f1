"""The ``cost`` section of a plan, and the cost tables ``gpufleet cost`` prints.

``report(plan)`` prices the plan's config (and the priced resources other layers add, such
as KMS keys and load balancers) with the bundled price table. The JSON
(:meth:`modules.cost.model.CostEstimate.to_json`) is ``{"currency", "monthly": {"idle",
"expected", "max", "max_within_schedule"}, "figures": {what each figure means}, "items":
[{"name", "category", "resource", <the four figures>, "basis": {<figure>: [charges]}}],
"prices": {"source", "date", "region"}, "assumptions", "budget_guard", "notes",
"not_priced": [{"key", "item", "reason"}]}``; the items add up to ``monthly`` and each
item's charges (quantity × hours × unit price, with the price's source, region and pricing)
add up to its figures.

Every output (table, JSON, Markdown, ``--compare``) names the two ceilings (``max``: spot
at on-demand, 730 h; ``max_within_schedule``), says which figure the budget guards check
and lists what is not priced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from gpufleet.modules.cost.basis import FIGURE_MEANINGS, FIGURES
from gpufleet.modules.cost.model import CostEstimate, CostItem, estimate

from ..plan import Report
from . import escape as esc

if TYPE_CHECKING:  # pragma: no cover
    from gpufleet.modules.cost.pricing import PriceTable

    from ..plan import Plan

COLUMNS = FIGURES


def plan_estimate(plan: "Plan", prices: "PriceTable | None" = None) -> CostEstimate:
    return estimate(plan.config, prices, resources=[(r.type, r.name) for r in plan.resources])


def report(plan: "Plan") -> Report:
    est = plan_estimate(plan)
    return Report(key="cost", data=est.to_json(), text=table(est, f"stack {plan.stack}"))


# ------------------------------------------------------------------ formatting

def usd(x: float) -> str:
    return f"${x:,.2f}"


def signed(x: float) -> str:
    return f"{'+' if x >= 0 else '-'}${abs(x):,.2f}"


def _grid(rows: Sequence[Sequence[str]], right: Sequence[int]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _regions(item: CostItem) -> str:
    """The regions of an item's prices (``us-east-1``)."""
    return "/".join(sorted({c.price.region for charges in item.basis.values() for c in charges})) or "-"


def _ceilings() -> list[str]:
    return [f"{f}: {FIGURE_MEANINGS[f]}" for f in ("max", "max_within_schedule")]


def table(est: CostEstimate, title: str) -> str:
    """Text table: one row per item (with its price region), the totals, what the ceilings
    mean, the notes (prices, spot, schedule, the budget guards' figure) and what is not priced."""
    rows = [("item", "category", "prices", *COLUMNS)]
    rows += [(i.name, i.category, _regions(i), *(usd(getattr(i, c)) for c in COLUMNS)) for i in est.items]
    total = est.monthly
    rows.append(("total per month", "", "", *(usd(total[c]) for c in COLUMNS)))
    lines = [f"cost: {title}, {est.currency} per month (730 h); prices {est.prices.region} as of {est.prices.date}",
             _grid(rows, right=(3, 4, 5, 6))]
    lines += _ceilings()
    lines += [f"note: {n}" for n in est.notes]
    lines += [f"not priced: {n.item}: {n.reason}" for n in est.not_priced]
    return "\n".join(lines)


def markdown(est: CostEstimate, title: str) -> str:
    """A PR comment; ``title`` is Markdown (the caller escapes a name in it: ``escape.code``),
    every item, basis, note and reason is escaped here (:mod:`gpufleet.reports.escape`)."""
    total = est.monthly
    head = " | ".join(COLUMNS)
    lines = [f"### gpufleet cost: {title}", "",
             f"| | {head} |", "|---|" + "---:|" * len(COLUMNS),
             "| **monthly total** | " + " | ".join(f"**{usd(total[c])}**" for c in COLUMNS) + " |",
             "", *(f"- **{line.split(':', 1)[0]}**:{line.split(':', 1)[1]}" for line in _ceilings()),
             "", "<details><summary>Line items</summary>", "",
             f"| item | category | prices | {head} | basis (expected) |", "|---|---|---|" + "---:|" * len(COLUMNS) + "---|"]
    for i in est.items:
        basis = " + ".join(c.describe() for c in i.basis.get("expected", ()) if c.quantity) or "-"
        lines.append(f"| {esc.md(i.name)} | {esc.md(i.category)} | {_regions(i)} | "
                     + " | ".join(usd(getattr(i, c)) for c in COLUMNS) + f" | {esc.md(basis)} |")
    lines += ["", "</details>", ""]
    lines += _not_priced_md(est)
    lines += [_footer(est)]
    return "\n".join(lines)


def _not_priced_md(est: CostEstimate) -> list[str]:
    if not est.not_priced:
        return []
    return ([f"<details><summary>Not priced ({len(est.not_priced)})</summary>", ""]
            + [f"- **{esc.md(n.item)}**: {esc.md(n.reason)}" for n in est.not_priced] + ["", "</details>", ""])


def _footer(est: CostEstimate) -> str:
    notes = "".join(f"<br>{esc.md(n)}" for n in est.notes)
    return f"<sub>{est.currency}/month, 730 h. Prices: {est.prices.source} ({est.prices.region}, {est.prices.date}).{notes}</sub>"


# ------------------------------------------------------------------ comparing two estimates

def _keyed(items: Sequence[CostItem]) -> dict[tuple[str, str, int], CostItem]:
    """Items keyed by (category, resource, n-th line of that resource): stable across sizes."""
    seen: dict[tuple[str, str], int] = {}
    out = {}
    for i in items:
        n = seen.get((i.category, i.resource), 0)
        seen[(i.category, i.resource)] = n + 1
        out[(i.category, i.resource, n)] = i
    return out


def compare(before: CostEstimate, after: CostEstimate) -> dict[str, Any]:
    """Totals before/after/change and the items that changed (added, removed, repriced)."""
    b, a = _keyed(before.items), _keyed(after.items)
    changes = []
    for key in list(b) + [k for k in a if k not in b]:
        old, new = b.get(key), a.get(key)
        vals_old = {c: getattr(old, c) if old else 0.0 for c in COLUMNS}
        vals_new = {c: getattr(new, c) if new else 0.0 for c in COLUMNS}
        if vals_old == vals_new and old and new and old.name == new.name:
            continue
        changes.append({
            "name": (new or old).name, "was": old.name if old and new and old.name != new.name else None,
            "category": key[0], "resource": key[1],
            "status": "added" if old is None else "removed" if new is None else "changed",
            "before": vals_old, "after": vals_new,
            "change": {c: round(vals_new[c] - vals_old[c], 2) for c in COLUMNS},
        })
    tb, ta = before.monthly, after.monthly
    return {
        "currency": after.currency,
        "before": tb, "after": ta,
        "change": {c: round(ta[c] - tb[c], 2) for c in COLUMNS},
        "items": changes,
        "figures": dict(FIGURE_MEANINGS),
        "prices": {"source": after.prices.source, "date": after.prices.date, "region": after.prices.region},
        "budget_guard": {"before": dict(before.budget_guard) if before.budget_guard else None,
                         "after": dict(after.budget_guard) if after.budget_guard else None},
        "notes": [n for n in after.notes if not n.startswith("the budget guards")],  # budget_guard says it
        "not_priced": [n.to_json() for n in after.not_priced],
    }


def _pct(old: float, new: float) -> str:
    return f" ({(new - old) / old:+.0%})" if old else ""


def compare_table(diff: dict[str, Any], before: str, after: str) -> str:
    rows = [("", *COLUMNS)]
    rows.append((before, *(usd(diff["before"][c]) for c in COLUMNS)))
    rows.append((after, *(usd(diff["after"][c]) for c in COLUMNS)))
    rows.append(("change", *(signed(diff["change"][c]) + _pct(diff["before"][c], diff["after"][c]) for c in COLUMNS)))
    lines = [f"cost: {before} -> {after}, {diff['currency']} per month", _grid(rows, right=(1, 2, 3, 4)), ""]
    if not diff["items"]:
        lines.append("no line item changed")
    else:
        item_rows = [("item", "status", *COLUMNS)]
        for ch in diff["items"]:
            name = ch["name"] + (f" (was: {ch['was']})" if ch["was"] else "")
            item_rows.append((name, ch["status"], *(signed(ch["change"][c]) for c in COLUMNS)))
        lines.append(_grid(item_rows, right=(2, 3, 4, 5)))
    lines += ["", *_ceilings(), *_guard_lines(diff)]
    lines += [f"note: {n}" for n in diff.get("notes", ())]
    lines += [f"not priced: {n['item']}" for n in diff.get("not_priced", ())]
    return "\n".join(lines)


def _guard_lines(diff: dict[str, Any]) -> list[str]:
    guard = diff.get("budget_guard") or {}
    b, a = guard.get("before"), guard.get("after")
    if not a:
        return []
    line = (f"budget guards (neither max): {a['figure']}: ${a['node_spend_usd']:,.2f} against ${a['budget_usd']:,.2f}")
    if b:
        line += f" (before: ${b['node_spend_usd']:,.2f} against ${b['budget_usd']:,.2f})"
    return [line]


def compare_markdown(diff: dict[str, Any], before: str, after: str) -> str:
    """A PR comment: totals with change and percentage, then the changed items."""
    ch = diff["change"]
    if ch["expected"]:
        head = "increases" if ch["expected"] > 0 else "decreases"
        summary = (f"This change **{head}** the expected monthly cost by **{usd(abs(ch['expected']))}**"
                   f"{_pct(diff['before']['expected'], diff['after']['expected']).replace('-', '').replace('+', '')}.")
    else:
        summary = f"This change **keeps** the expected monthly cost at **{usd(diff['after']['expected'])}**."
    lines = [f"### gpufleet cost: {esc.code(before)} → {esc.code(after)}", "", summary,
             "", f"| | {' | '.join(COLUMNS)} |", "|---|" + "---:|" * len(COLUMNS),
             "| before | " + " | ".join(usd(diff['before'][c]) for c in COLUMNS) + " |",
             "| after | " + " | ".join(usd(diff['after'][c]) for c in COLUMNS) + " |",
             "| **change** | " + " | ".join(f"**{signed(ch[c])}**{_pct(diff['before'][c], diff['after'][c])}" for c in COLUMNS) + " |",
             "", *(f"- **{line.split(':', 1)[0]}**:{line.split(':', 1)[1]}" for line in _ceilings()),
             *(f"- {line}" for line in _guard_lines(diff)), ""]
    if diff["items"]:
        lines += [f"<details><summary>{len(diff['items'])} changed line item(s)</summary>", "",
                  f"| item | status | {' | '.join(COLUMNS)} |", "|---|---|" + "---:|" * len(COLUMNS)]
        for it in diff["items"]:
            name = it["name"] + (f" (was: {it['was']})" if it["was"] else "")
            lines.append(f"| {esc.md(name)} | {it['status']} | " + " | ".join(signed(it["change"][c]) for c in COLUMNS) + " |")
        lines += ["", "</details>", ""]
    if diff.get("not_priced"):
        lines += [f"<details><summary>Not priced ({len(diff['not_priced'])})</summary>", ""]
        lines += [f"- **{esc.md(n['item'])}**: {esc.md(n['reason'])}" for n in diff["not_priced"]] + ["", "</details>", ""]
    p = diff["prices"]
    notes = "".join(f"<br>{esc.md(n)}" for n in diff.get("notes", ()))
    lines.append(f"<sub>{diff['currency']}/month, 730 h. Prices: {p['source']} ({p['region']}, {p['date']}).{notes}</sub>")
    return "\n".join(lines)
