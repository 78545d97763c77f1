"""The figures of a simulation, per team and per pool, and what it cost.

- **Outcomes**: every job of the trace is exactly one of completed, never runs (with the
  rules' reason), deactivated (Kueue gave up after its requeues), deadline (killed at the
  team's ``max_job_hours``) or unfinished (still queued or running when the simulation
  ends); CPU-only pods are counted as skipped.
- **Queue wait**: from submission to the first moment all of a job's pods run (p50, p95,
  max over the jobs that started; nearest rank).
- **Lost GPU-hours**: work redone after a spot interruption, a preemption or the schedule's
  stop (since the last checkpoint), and GPU time of jobs killed at their deadline.
- **GPU-hours**: *provisioned* = node-hours (from launch to removal) × physical GPUs per
  node; *allocated* = physical GPUs held by running pods (a time-slice is 1/replicas of a
  GPU, a MIG slice g/7) × hours; *requested* = what the trace asked (a shared pod its
  fraction). Allocation ratio = allocated / provisioned.
- **Cost** = Σ node-hours × the pool's price per node-hour (the cost model's: first instance
  type, spot at its discount, plus the root volume) + the stack's fixed items (everything in
  the estimate but GPU pools) for the simulated span. ``per month`` scales to 730 h. The
  busy part (node-hours with pods) is what ``gpufleet:cost.busy`` describes, so with a trace
  equal to it, busy + fixed equals the estimate's ``expected`` (plus the idle hours of nodes
  kept by a pool's min, which the estimate counts all month; warm work-hour nodes follow the
  calendar, the estimate an average month); booting and other idle node-hours are what the
  static estimate leaves out.
"""

from __future__ import annotations

import math
from typing import Any

from ..cost.model import HOURS_PER_MONTH
from .engine import Result
from .trace import DEACTIVATED, DEADLINE, DONE, NEVER

OUTCOMES = ("completed", "never runs", "deactivated", "deadline", "unfinished")
_STATE = {DONE: "completed", NEVER: "never runs", DEACTIVATED: "deactivated", DEADLINE: "deadline"}


def outcome(job: Any) -> str:
    return _STATE.get(job.state, "unfinished")


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[k]


def _r(x: float, n: int = 2) -> float:
    return round(x + 0.0, n)


def summarize(result: Result) -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    plat, jobs = result.plat, result.jobs
    span_h = result.end / 3600
    pools = {ps.spec.index: ps for ps in result.pools}
    gpu_hour_price = {ps.spec.index: ps.spec.price / max(ps.spec.gpus_per_node, 1) for ps in result.pools}
    teams: dict[str, dict[str, Any]] = {}
    waits: dict[str, list[float]] = {}
    never, deactivated, killed = [], [], []
    for job in jobs:
        team = job.shape.team
        t = teams.get(team)
        if t is None:
            t = teams[team] = {"jobs": 0, **{o: 0 for o in OUTCOMES}, "gpu_hours_allocated": 0.0,
                               "gpu_hours_requested": 0.0, "lost_gpu_hours": {"spot": 0.0, "preemption": 0.0,
                                                                              "schedule": 0.0, "deadline": 0.0},
                               "preemptions": 0, "interruptions": 0, "cost": 0.0}
            waits[team] = []
        o = outcome(job)
        t["jobs"] += 1
        t[o] += 1
        if job.started_at >= 0:
            waits[team].append(job.started_at - job.submit)
        t["gpu_hours_allocated"] += job.held / 3600
        lost = t["lost_gpu_hours"]
        lost["spot"] += job.lost_spot / 3600
        lost["preemption"] += job.lost_preemption / 3600
        lost["schedule"] += job.lost_schedule / 3600
        lost["deadline"] += job.lost_deadline / 3600
        t["preemptions"] += job.preemptions
        t["interruptions"] += job.interruptions
        if job.req is not None and job.held:
            t["cost"] += job.held / 3600 * gpu_hour_price[job.req.pool]
            t["gpu_hours_requested"] += job.held / job.req.phys * job.info.asked_gpus / 3600 if job.req.phys else 0
        entry = {"job": job.label, "team": team, "reason": job.reason}
        if o == "never runs":
            never.append(entry)
        elif o == "deactivated":
            deactivated.append(entry)
        elif o == "deadline":
            killed.append(entry)
    everyone = sorted(w for ws in waits.values() for w in ws)
    for team, t in teams.items():
        w = sorted(waits[team])
        t["started"] = len(w)
        t["wait_hours"] = {k: None if v is None else _r(v / 3600, 3)
                           for k, v in (("p50", percentile(w, 50)), ("p95", percentile(w, 95)), ("max", percentile(w, 100)))}
        for k in ("gpu_hours_allocated", "gpu_hours_requested", "cost"):
            t[k] = _r(t[k])
        t["lost_gpu_hours"] = {k: _r(v) for k, v in t["lost_gpu_hours"].items()}
    pool_out: dict[str, dict[str, Any]] = {}
    gpu_cost = busy_cost = boot_cost = idle_cost = kept_cost = 0.0
    for idx, ps in sorted(pools.items()):
        spec = ps.spec
        node_h = ps.node_s / 3600
        prov = node_h * spec.gpus_per_node
        alloc = ps.alloc_gpu_s / 3600
        cost = node_h * spec.price
        gpu_cost += cost
        busy_cost += ps.busy_s / 3600 * spec.price
        boot_cost += ps.boot_s / 3600 * spec.price
        idle_cost += ps.idle_s / 3600 * spec.price
        kept_cost += ps.kept_idle_s / 3600 * spec.price
        pool_out[spec.name] = {
            "instance_type": spec.instance_type, "capacity": "spot" if spec.spot else "on-demand",
            "sharing": spec.sharing, "gpus_per_node": spec.gpus_per_node, "max_nodes": spec.max,
            "nodes_launched": ps.launched, "peak_nodes": ps.peak,
            "node_hours": {"total": _r(node_h), "booting": _r(ps.boot_s / 3600), "busy": _r(ps.busy_s / 3600),
                           "idle": _r(ps.idle_s / 3600), "idle_kept": _r(ps.kept_idle_s / 3600)},
            "gpu_hours": {"provisioned": _r(prov), "allocated": _r(alloc), "requested": _r(ps.asked_gpu_s / 3600)},
            "allocation_ratio": _r(alloc / prov, 4) if prov else None,
            "spot_interruptions": ps.interruptions, "lost_gpu_hours": _r(ps.lost_gpu_s / 3600),
            "price_per_node_hour": _r(spec.price, 4), "cost": _r(cost),
            "cost_per_month": _r(cost * HOURS_PER_MONTH / span_h) if span_h else 0.0,
            "expected_per_month": plat.pool_expected_monthly.get(spec.name, 0.0),
        }
    fixed = plat.fixed_monthly * span_h / HOURS_PER_MONTH
    total = gpu_cost + fixed
    counts = {o: sum(t[o] for t in teams.values()) for o in OUTCOMES}
    return {
        "stack": plat.stack,
        "trace": {"source": result.trace.source, "format": result.trace.format, "gpu_jobs": len(jobs),
                  "skipped": len(result.trace.skipped), "notes": list(result.trace.notes)},
        "seed": result.seed,
        "start": plat.start.isoformat(),
        "span_hours": _r(span_h),
        "assumptions": {"spot_interruptions_per_node_hour": plat.assumptions.spot_rate,
                        "ready_minutes": {p.name: _r(p.ready_s / 60) for p in plat.pools},
                        "pods_ready_timeout_minutes": _r(plat.pods_ready_timeout_s / 60),
                        "scale_down_minutes": _r(plat.unneeded_s / 60)},
        "outcomes": counts,
        "wait_hours": {k: None if v is None else _r(v / 3600, 3) for k, v in
                       (("p50", percentile(everyone, 50)), ("p95", percentile(everyone, 95)),
                        ("max", percentile(everyone, 100)))},
        "teams": dict(sorted(teams.items())),
        "pools": pool_out,
        "cost": {"currency": "USD", "gpu_nodes": _r(gpu_cost), "gpu_busy": _r(busy_cost), "gpu_booting": _r(boot_cost),
                 "gpu_idle": _r(idle_cost), "gpu_idle_kept": _r(kept_cost), "fixed": _r(fixed), "total": _r(total),
                 "per_month": _r(total * HOURS_PER_MONTH / span_h) if span_h else 0.0,
                 "expected_per_month": plat.expected_monthly},
        "never_runs": never, "deactivated": deactivated, "deadline": killed,
        "warnings": [dict(w) for w in result.trace.warnings],
    }


def compare(base: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """Side by side: the headline figures of two reports and their change."""
    def rows(doc: dict[str, Any]) -> dict[str, float | None]:
        out: dict[str, float | None] = {f"jobs {o}": doc["outcomes"][o] for o in OUTCOMES}
        out.update({f"all: wait {k} h": v for k, v in doc["wait_hours"].items()})
        for team, t in doc["teams"].items():
            out[f"{team}: completed"] = t["completed"]
            out[f"{team}: wait p50 h"] = t["wait_hours"]["p50"]
            out[f"{team}: wait p95 h"] = t["wait_hours"]["p95"]
            out[f"{team}: wait max h"] = t["wait_hours"]["max"]
            out[f"{team}: lost GPU-h"] = _r(sum(t["lost_gpu_hours"].values()))
        for pool, p in doc["pools"].items():
            out[f"{pool}: node-h"] = p["node_hours"]["total"]
            out[f"{pool}: GPU-h allocated"] = p["gpu_hours"]["allocated"]
            out[f"{pool}: allocation ratio"] = p["allocation_ratio"]
            out[f"{pool}: cost"] = p["cost"]
        out["cost total"] = doc["cost"]["total"]
        out["cost per month"] = doc["cost"]["per_month"]
        return out

    a, b = rows(base), rows(variant)
    keys = list(dict.fromkeys([*a, *b]))
    table = []
    for k in keys:
        x, y = a.get(k), b.get(k)
        change = None if x is None or y is None else (y - x if isinstance(x, int) and isinstance(y, int)
                                                      else _r(y - x, 4))
        table.append({"figure": k, "base": x, "variant": y, "change": change})
    return {"base": base["stack"], "variant": variant["stack"], "rows": table}
