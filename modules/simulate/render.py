"""The simulation report as text: a table for the terminal, markdown for a PR, JSON.

In markdown every value that came from a user (the stack's name, the trace's path, team, pool,
instance and job names, the reasons and warnings that quote them) is escaped as the check,
diff and cost reports escape theirs (:mod:`gpufleet.reports.escape`): a name never becomes an
@mention, HTML, a link, a heading or a table's column (issue 18, section 3)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Callable, Sequence

from gpufleet.reports import escape as esc

TEAM_COLUMNS = ("team", "jobs", "completed", "never runs", "deactivated", "deadline", "unfinished", "wait p50",
                "wait p95", "wait max", "lost GPU-h", "GPU-h allocated", "cost")
POOL_COLUMNS = ("pool", "instance", "launched", "peak", "node-h", "booting", "busy", "idle", "GPU-h provisioned",
                "GPU-h allocated", "ratio", "interruptions", "lost GPU-h", "cost", "per month", "expected/month")


def duration(hours: float | None) -> str:
    if hours is None:
        return "-"
    if hours < 1 / 60:
        return f"{hours * 3600:.0f} s"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


def usd(x: float) -> str:
    return f"${x:,.2f}"


def _n(x: float) -> str:
    return f"{x:,.1f}" if isinstance(x, float) else f"{x:,}"


def _plain(text: Any) -> str:
    return str(text)


def _grid(rows: Sequence[Sequence[str]], markdown: bool, named: int = 1) -> str:
    """A table; in markdown the first ``named`` columns (user values) escaped, the headers too."""
    if markdown:
        rows = [[esc.md(c) if n == 0 or i < named else c for i, c in enumerate(r)] for n, r in enumerate(rows)]
        head = "| " + " | ".join(rows[0]) + " |"
        sep = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(rows[0]))) + "|"
        return "\n".join([head, sep, *("| " + " | ".join(r) + " |" for r in rows[1:])])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _team_rows(doc: dict[str, Any]) -> list[list[str]]:
    rows = [list(TEAM_COLUMNS)]
    for team, t in doc["teams"].items():
        w = t["wait_hours"]
        rows.append([team, _n(t["jobs"]), _n(t["completed"]), _n(t["never runs"]), _n(t["deactivated"]),
                     _n(t["deadline"]), _n(t["unfinished"]), duration(w["p50"]), duration(w["p95"]), duration(w["max"]),
                     _n(round(sum(t["lost_gpu_hours"].values()), 1)), _n(round(t["gpu_hours_allocated"], 1)),
                     usd(t["cost"])])
    return rows


def _pool_rows(doc: dict[str, Any]) -> list[list[str]]:
    rows = [list(POOL_COLUMNS)]
    for pool, p in doc["pools"].items():
        nh, gh = p["node_hours"], p["gpu_hours"]
        ratio = "-" if p["allocation_ratio"] is None else f"{p['allocation_ratio']:.2f}"
        rows.append([pool, f"{p['instance_type']} ({p['sharing']}, {p['capacity']})", _n(p["nodes_launched"]),
                     _n(p["peak_nodes"]), _n(round(nh["total"], 1)), _n(round(nh["booting"], 1)), _n(round(nh["busy"], 1)),
                     _n(round(nh["idle"], 1)), _n(round(gh["provisioned"], 1)), _n(round(gh["allocated"], 1)), ratio,
                     _n(p["spot_interruptions"]), _n(round(p["lost_gpu_hours"], 1)), usd(p["cost"]),
                     usd(p["cost_per_month"]), usd(p["expected_per_month"])])
    return rows


def _reasons(entries: list[dict[str, Any]], limit: int = 8, shown: Callable[[Any], str] = _plain) -> list[str]:
    """Grouped by headline (the text before the rules' details), biggest first; ``shown``: how
    a reason and a job name are written (escaped in markdown)."""
    groups: Counter[str] = Counter()
    example: dict[str, tuple[str, list[str]]] = {}
    for e in entries:
        head = (e["reason"] or "").split(" (", 1)[0]
        groups[head] += 1
        ex = example.setdefault(head, (e["reason"] or "", []))
        if len(ex[1]) < 3:
            ex[1].append(e["job"])
    out = []
    for head, n in groups.most_common(limit):
        full, jobs = example[head]
        out.append(f"{n:>7,}  {shown(full)}  (e.g. {', '.join(shown(j) for j in jobs)})")
    if len(groups) > limit:
        out.append(f"{sum(groups.values()) - sum(n for _, n in groups.most_common(limit)):>7,}  other reasons")
    return out


def text(doc: dict[str, Any], markdown: bool = False) -> str:
    tr = doc["trace"]
    o = doc["outcomes"]
    shown = esc.md if markdown else _plain
    title = (f"gpufleet simulate {shown(doc['stack'])}: {shown(tr['source'])} ({shown(tr['format'])}, "
             f"{tr['gpu_jobs']:,} GPU jobs"
             + (f", {tr['skipped']:,} CPU-only pods skipped" if tr["skipped"] else "") + f"), seed {doc['seed']}")
    span = f"simulated {duration(doc['span_hours'])} from {shown(doc['start'])}"
    outcomes = ", ".join(f"{o[k]:,} {k}" for k in ("completed", "never runs", "deactivated", "deadline", "unfinished"))
    w = doc["wait_hours"]
    outcomes += f"; queue wait p50 {duration(w['p50'])}, p95 {duration(w['p95'])}, max {duration(w['max'])}"
    c = doc["cost"]
    cost = (f"cost: GPU nodes {usd(c['gpu_nodes'])} (busy {usd(c['gpu_busy'])}, booting {usd(c['gpu_booting'])}, "
            f"idle {usd(c['gpu_idle'])}) + fixed items {usd(c['fixed'])} = {usd(c['total'])} over "
            f"{duration(doc['span_hours'])}: {usd(c['per_month'])} per month; the static estimate's expected: "
            f"{usd(c['expected_per_month'])} per month")
    h = "### " if markdown else ""
    warned = [f"warning: {shown(w['message'])}" for w in doc.get("warnings", [])]
    parts = [("## " if markdown else "") + title, span, f"jobs: {outcomes}", *warned, "", f"{h}teams", "",
             _grid(_team_rows(doc), markdown), "", f"{h}pools", "", _grid(_pool_rows(doc), markdown, named=2), "", cost]
    for key, label in (("never_runs", "never run"), ("deactivated", "deactivated by Kueue"),
                       ("deadline", "killed at their deadline")):
        if doc[key]:
            parts += ["", f"{h}{len(doc[key]):,} jobs {label}"]
            lines = _reasons(doc[key], shown=shown)
            parts += [f"- {line.strip()}" for line in lines] if markdown else lines
    return "\n".join(parts)


def compare_text(diff: dict[str, Any], markdown: bool = False) -> str:
    def cell(x: Any) -> str:
        if x is None:
            return "-"
        return f"{x:,.4g}" if isinstance(x, float) and abs(x) < 10 else (f"{x:,.2f}" if isinstance(x, float) else f"{x:,}")

    def change(x: Any) -> str:
        if x is None:
            return "-"
        return ("+" if x > 0 else "") + cell(x)

    rows = [["figure", diff["base"], diff["variant"], "change"]]
    rows += [[r["figure"], cell(r["base"]), cell(r["variant"]), change(r["change"])] for r in diff["rows"]]
    name = esc.md if markdown else _plain
    title = f"gpufleet simulate: {name(diff['base'])} vs {name(diff['variant'])}"
    return ("## " if markdown else "") + title + "\n\n" + _grid(rows, markdown)


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1)
