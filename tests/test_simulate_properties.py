"""gpufleet simulate: invariants over random traces (hypothesis), and the pure helpers.

Every run is audited after each scheduling cycle (``audit=True``): no node above its
capacity, no node's free room other than capacity less its pods, no ClusterQueue above
nominal + borrowingLimit, no Cohort above its quota. Then, per run: every job has exactly
one outcome, GPU-hours are conserved (what pools gave = what jobs held = useful + lost + in
progress; a completed job did exactly its work), allocated <= provisioned, cost = Σ node-hours
× price + fixed items, and the same seed gives the same report."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.modules.simulate import calendar, report
from gpufleet.modules.simulate.quota import backoff_seconds
from gpufleet.modules.simulate.shapes import mig_profile
from gpufleet.modules.simulate.trace import DONE

from .simulate_support import HOUR, jobs, platform, run

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

job_rows = st.fixed_dictionaries({
    "submit": st.integers(0, 30).map(lambda h: h * 1800),
    "run": st.integers(1, 16).map(lambda q: q * 900),
    "team": st.sampled_from(["research", "applied"]),
    "gpus": st.sampled_from([0.25, 0.5, 1, 2, 4]),
    "pods": st.sampled_from([1, 1, 1, 2]),
    "priority": st.sampled_from(["inference", "training", "experiments"]),
    "kind": st.sampled_from(["batch", "batch", "service"]),
    "cpu": st.sampled_from([1, 2, 8]),
    "memory_gib": st.sampled_from([2, 8, 32]),
    "checkpoint_minutes": st.sampled_from([0, 15, 30]),
})
traces = st.lists(job_rows, min_size=1, max_size=12)


def _check(result) -> dict:
    doc = report.summarize(result)
    assert sum(doc["outcomes"].values()) == len(result.jobs)
    held = sum(j.held for j in result.jobs)
    assert held == pytest.approx(sum(p.alloc_gpu_s for p in result.pools), abs=1e-6)
    for j in result.jobs:
        assert j.held == pytest.approx(j.useful + j.lost + j.in_progress, abs=1e-6), j
        if j.state == DONE:
            assert j.done == pytest.approx(j.run)
    for ps in result.pools:
        provisioned = ps.node_s * ps.spec.gpus_per_node
        assert ps.alloc_gpu_s <= provisioned + 1e-6
        p = doc["pools"][ps.spec.name]
        assert p["cost"] == pytest.approx(ps.node_s / HOUR * ps.spec.price, abs=0.01)
        if p["allocation_ratio"] is not None:
            assert 0 <= p["allocation_ratio"] <= 1
    cost = doc["cost"]
    assert cost["total"] == pytest.approx(sum(p["cost"] for p in doc["pools"].values()) + cost["fixed"], abs=0.05)
    assert cost["gpu_nodes"] == pytest.approx(cost["gpu_busy"] + cost["gpu_booting"] + cost["gpu_idle"], abs=0.05)
    return doc


@SETTINGS
@given(traces, st.integers(0, 3))
def test_invariants_on_one_spot_node_with_interruptions(rows, seed):
    plat = platform(spot_rate=0.3)  # about one interruption per node every 3 hours
    doc = _check(run(plat, jobs(*rows), seed=seed))
    assert json.dumps(doc) == json.dumps(_check(run(plat, jobs(*rows), seed=seed)))  # deterministic


@SETTINGS
@given(traces)
def test_invariants_with_borrowing_limits_warm_nodes_and_a_night_schedule(rows):
    # staging: borrowing limited to half a pool, a warm inference node, pools stopped 20:00-07:00
    plat = platform("staging", spot_rate=0.05)
    _check(run(plat, jobs(*rows), seed=1))


def test_same_trace_config_and_seed_give_the_same_report_and_another_seed_may_not():
    plat = platform(spot_rate=0.5)
    rows = [{"submit": i * 600, "run": 4 * HOUR, "team": "research", "gpus": 1, "cpu": 2, "memory_gib": 8}
            for i in range(8)]
    a, b = (json.dumps(report.summarize(run(plat, jobs(*rows), seed=7))) for _ in range(2))
    assert a == b
    others = {json.dumps(report.summarize(run(plat, jobs(*rows), seed=s))["pools"]) for s in range(5)}
    assert len(others) > 1  # the seed drives the spot interruptions


# ---------------------------------------------------------------- pure helpers

LAYOUTS = [{"1g.5gb": 7}, {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}, {"3g.20gb": 2}, {"7g.40gb": 1},
           {"1g.10gb": 7}, {"2g.20gb": 3}]


@settings(max_examples=60, deadline=None)
@given(st.floats(0.01, 1.0), st.floats(0.5, 40), st.sampled_from(LAYOUTS))
def test_the_mig_slice_holds_the_share_and_is_the_smallest_that_does(fraction, memory, layout):
    chosen = mig_profile(fraction, memory, layout)

    def holds(p: str) -> bool:
        g, mem = int(p.split("g.")[0]), int(p.split("g.")[1].removesuffix("gb"))
        return g / 7 >= fraction - 1e-9 and mem >= memory - 1e-9

    fitting = [p for p in layout if holds(p)]
    if chosen is None:
        assert not fitting
    else:
        assert holds(chosen)
        size = lambda p: (int(p.split("g.")[0]), int(p.split("g.")[1].removesuffix("gb")))  # noqa: E731
        assert all(size(chosen) <= size(p) for p in fitting)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 60), st.integers(1, 100_000))
def test_the_requeue_backoff_doubles_and_is_capped(n, base, cap):
    assert backoff_seconds(n, base, cap) == min(base * 2 ** (n - 1), cap)
    assert backoff_seconds(n + 1, base, cap) >= backoff_seconds(n, base, cap)


CRONS = st.builds(lambda m, h, dow: f"{m} {h} * * {dow}", st.sampled_from(["0", "30", "15,45"]),
                  st.sampled_from(["7", "20", "8-9", "*/6"]), st.sampled_from(["*", "1-5", "mon,wed", "0", "0,6"]))


@settings(max_examples=15, deadline=None)
@given(CRONS, st.sampled_from(["Europe/Berlin", "America/New_York", "Etc/UTC"]), st.integers(0, 360))
def test_cron_instants_match_a_minute_by_minute_walk(expr, tz, day):
    # around a daylight-saving change (Europe: day 87 of 2026) or any other day of the year
    zone = ZoneInfo(tz)
    start = (datetime(2026, 1, 1, tzinfo=zone) + timedelta(days=day)).astimezone(timezone.utc)
    span = 2 * 86400.0
    minutes, hours, _days, _months, weekdays, _, _ = calendar.parse(expr)
    walk = []
    t = start
    while (t - start).total_seconds() <= span:
        local = t.astimezone(zone)
        if local.minute in minutes and local.hour in hours and local.isoweekday() % 7 in weekdays:
            walk.append((t - start).total_seconds())
        t += timedelta(minutes=1)
    assert calendar.instants(expr, tz, start, span) == walk
