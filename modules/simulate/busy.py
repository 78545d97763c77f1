"""The trace the cost model's ``gpufleet:cost.busy`` section describes.

``busy: {pool: {hours: H, nodes: N}}`` says the pool runs N nodes (default its max) for H
hours a month. As jobs: for each pool, gangs that fill N whole nodes (every GPU unit of a
node: whole GPUs, every time-slice replica, every MIG slice of the layout, with cpu and
memory to match), pinned to the pool, at training priority, for the team with the largest
share of it, in chunks that fit the pool's work hours (the scale-down schedule), the team's
``max_job_hours`` and a 730-hour month. Replayed with no spot interruptions, the busy
node-hours of the simulation are N × H per pool, and busy + fixed items equals the
estimate's ``expected`` (what the static estimate leaves out: booting and idle nodes).
"""

from __future__ import annotations

import re
from typing import Any

from .platform import Platform

MONTH_S = 730 * 3600.0
_MARGIN_S = 900.0
_PROFILE = re.compile(r"^nvidia\.com/mig-(\d+)g\.(\d+)gb")


def _windows(plat: Platform, pool: Any) -> list[tuple[float, float]]:
    """Intervals of the month in which the pool may have nodes."""
    if pool.warm is None or plat.schedule is None:
        return [(0.0, MONTH_S)]
    from .calendar import transitions

    up, changes = transitions(plat.schedule.stop, plat.schedule.start, plat.schedule.time_zone, plat.start, MONTH_S)
    out, opened = [], 0.0 if up else None
    for t, now_up in changes:
        if now_up and opened is None:
            opened = t
        elif not now_up and opened is not None:
            out.append((opened, t))
            opened = None
    if opened is not None:
        out.append((opened, MONTH_S))
    return out


def _node_pods(pool: Any) -> list[dict[str, Any]]:
    """Gangs (one per kind of GPU unit) that together fill one node of ``pool``."""
    units = {r: n for r, n in zip(pool.resources, pool.capacity) if r.startswith("nvidia.com/")}
    total = sum(units.values())
    cpu, mem = pool.capacity[-2], pool.capacity[-1]
    out = []
    for resource, count in units.items():
        n = int(count)
        share = n / total
        row: dict[str, Any] = {"pods": n, "cpu": round(cpu * share / n / 1000 * 0.99, 3),
                               "memory_gib": round(mem * share / n / 1024 * 0.99, 3)}
        m = _PROFILE.match(resource)
        if m:
            row.update(gpus=int(m.group(1)) / 7, gpu_memory_gib=int(m.group(2)))
        elif pool.sharing == "timeslice":
            row.update(gpus=1)
        else:
            row.update(pods=1, gpus=n, cpu=round(cpu / 1000 * 0.99, 3), memory_gib=round(mem / 1024 * 0.99, 3))
        out.append(row)
    return out


def rows(plat: Platform) -> list[dict[str, Any]]:
    """The busy section as native trace rows (see the module doc)."""
    cfg = plat.config
    out: list[dict[str, Any]] = []
    for pool in plat.pools:
        busy = cfg.cost.busy.get(pool.name)
        if busy is None or not busy.hours:
            continue
        nodes = busy.nodes or pool.max
        holders = [t for t in cfg.teams if pool.name in t.shares]
        team = max(holders, key=lambda t: t.shares[pool.name])
        longest = team.max_job_hours * 3600 - pool.ready_s - _MARGIN_S
        left = busy.hours * 3600
        for start, end in _windows(plat, pool):
            t = start
            while left > 0:
                chunk = min(left, end - t - pool.ready_s - 2 * _MARGIN_S, longest)
                if chunk <= 0:
                    break
                for node in range(nodes):
                    for i, gang in enumerate(_node_pods(pool)):
                        out.append({"name": f"busy-{pool.name}-{int(t)}-{node}-{i}", "submit": t + 60,
                                    "run": chunk, "team": team.name, "priority": "training", "pool": pool.name,
                                    "checkpoint_minutes": 0, **gang})
                left -= chunk
                t += chunk + pool.ready_s + 2 * _MARGIN_S
    return out
