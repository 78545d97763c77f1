"""gpufleet simulate: one hand-computable scenario per modelled rule (issue #14).

The platform is dev with its spot pool cut to one 4-GPU node (``one-node``: g6.12xlarge, ready
13 min after a scale-up, scale-down after 5 min idle; research holds 2 GPUs of it, applied 1,
the Cohort 1) unless a scenario needs a shipped stack (dev's and staging's night schedules,
staging's warm node)."""

from __future__ import annotations

import pytest

from gpufleet.modules.simulate import engine
from gpufleet.modules.simulate.cluster import Node, PoolState
from gpufleet.modules.simulate.shapes import mig_profile, pool_request
from gpufleet.modules.simulate.trace import DEACTIVATED, DONE, NEVER

from .simulate_support import HOUR, by_name, jobs, platform, run, summary

P = 13 * 60  # g6 time to ready: launch 2 + join 2 + GPU stack 3 + image pull 6 minutes
BIG = {"cpu": 8, "memory_gib": 32}


def test_three_full_node_jobs_on_one_node_wait_0_t_2t_plus_provisioning():
    t = HOUR
    result = run(platform(), jobs(*({"name": f"j{i}", "submit": 0, "run": t, "team": "research", "gpus": 4, **BIG}
                                    for i in range(3))))
    j = by_name(result)
    assert [j[f"j{i}"].started_at - j[f"j{i}"].submit for i in range(3)] == [P, P + t, P + 2 * t]
    assert all(x.state == DONE for x in j.values())
    pool = result.pools[1]
    assert (pool.launched, pool.peak) == (1, 1)
    # one node: booting P, busy 3 T, idle the 5 minutes before the autoscaler removes it
    assert (pool.boot_s, pool.busy_s, pool.idle_s) == (P, 3 * t, 300)
    doc = summary(result)
    assert doc["teams"]["research"]["wait_hours"] == {"p50": round((P + t) / t, 3), "p95": round((P + 2 * t) / t, 3),
                                                      "max": round((P + 2 * t) / t, 3)}


def test_a_borrowing_team_is_preempted_when_the_lender_wants_its_quota_back():
    result = run(platform(), jobs(
        {"name": "borrower", "submit": 0, "run": 6 * HOUR, "team": "applied", "gpus": 4, **BIG},
        {"name": "lender", "submit": 2 * HOUR, "run": HOUR, "team": "research", "gpus": 2, **BIG}))
    j = by_name(result)
    borrower, lender = j["borrower"], j["lender"]
    # reclaimWithinCohort: Any: research is under its nominal 2 GPUs; applied borrows 3 beyond its 1
    assert borrower.preemptions == 1 and lender.started_at == 2 * HOUR
    # 107 min ran before the preemption: 3 checkpoints of 30 min kept, 17 min of 4 GPUs lost
    assert borrower.lost_preemption == pytest.approx(4 * 17 * 60)
    # it fits again only when the lender is done (quota 1 + the Cohort's 1 + research's 2 lent back)
    assert borrower.state == DONE and borrower.end == pytest.approx(3 * HOUR + 4.5 * HOUR)
    assert summary(result)["teams"]["applied"]["lost_gpu_hours"]["preemption"] == pytest.approx(4 * 17 / 60, abs=0.01)


def test_a_lower_priority_job_of_the_same_team_is_preempted():
    result = run(platform(), jobs(
        {"name": "experiment", "submit": 0, "run": 5 * HOUR, "team": "research", "gpus": 4, "priority": "experiments",
         **BIG},
        {"name": "training", "submit": HOUR, "run": HOUR, "team": "research", "gpus": 4, **BIG}))
    j = by_name(result)
    assert j["experiment"].preemptions == 1 and j["training"].started_at == HOUR
    assert j["experiment"].end == pytest.approx(2 * HOUR + (5 * HOUR - 30 * 60))  # 47 min ran, 30 kept


def test_an_eight_gpu_job_on_four_gpu_nodes_never_runs():
    # dev's spot pool: two 4-GPU nodes, so the quota holds 8 GPUs but no node does
    result = run(platform("dev"), jobs({"name": "big", "submit": 0, "run": HOUR, "team": "research", "gpus": 8, **BIG}))
    big = by_name(result)["big"]
    assert big.state == NEVER
    assert big.reason.startswith("largest node has 4 GPUs")
    assert "train-spot: node: nvidia.com/gpu 8 > 4 free on a ready node" in big.reason
    assert "train-spot: autoscaler: nvidia.com/gpu 8 > 4 on the template node" in big.reason
    assert sum(p.launched for p in result.pools) == 0
    doc = summary(result)
    assert doc["never_runs"] == [{"job": "big", "team": "research", "reason": big.reason}]


def test_an_experiment_below_the_expendable_cutoff_never_scales_a_pool_up():
    result = run(platform(), jobs({"name": "exp", "submit": 0, "run": HOUR, "team": "research", "gpus": 1,
                                   "priority": -20, **BIG}))
    exp = by_name(result)["exp"]
    assert sum(p.launched for p in result.pools) == 0
    assert exp.state == DEACTIVATED and exp.started_at < 0
    assert "priority -20 is below the expendable cutoff -10: never scales a pool up" in exp.reason


def test_an_expendable_pod_runs_on_a_node_another_job_brought_up():
    result = run(platform(), jobs(
        {"name": "train", "submit": 0, "run": HOUR, "team": "research", "gpus": 2, **BIG},
        {"name": "exp", "submit": 0, "run": HOUR, "team": "research", "gpus": 1, "priority": -20, **BIG}))
    j = by_name(result)
    assert result.pools[1].launched == 1  # for the training job only
    assert j["exp"].started_at == j["train"].started_at == P


def test_waitforpodsready_evicts_requeues_with_backoff_and_the_node_still_comes():
    # a node that takes 30 minutes: Kueue evicts at 20, requeues after 60 s, the node is up at 30
    result = run(platform(ready_minutes={"train-spot": 30}),
                 jobs({"name": "slow", "submit": 0, "run": HOUR, "team": "research", "gpus": 4, **BIG}))
    slow = by_name(result)["slow"]
    assert slow.timeouts == 1 and slow.started_at == 30 * 60 and slow.state == DONE


def test_a_job_submitted_at_night_is_deactivated_after_the_backoff_limit():
    # dev stops its pools at 20:00 (Europe/Berlin); the trace starts Monday 09:00: 12 h is 21:00
    result = run(platform("dev"), jobs({"name": "late", "submit": 12 * HOUR, "run": HOUR, "team": "research",
                                        "gpus": 4, **BIG}))
    late = by_name(result)["late"]
    # 6 timeouts of 20 min and backoffs of 1, 2, 4, 8, 16 min: deactivated 151 min after submission
    assert late.state == DEACTIVATED and late.timeouts == 6
    assert late.end - late.submit == 151 * 60
    assert "backoffLimitCount 5" in late.reason


def test_the_night_stop_kills_a_running_job_which_resumes_from_its_checkpoint_in_the_morning():
    # staging: stop 20:00, start 07:00 (Europe/Berlin); the trace starts Monday 09:00. Submitted
    # 19:00, ready 19:13, 47 min of work by 20:00 (30 kept); Tuesday 07:00 is 22 h
    result = run(platform("staging"), jobs({"name": "evening", "submit": 10 * HOUR, "run": 2 * HOUR,
                                            "team": "research", "gpus": 4, **BIG}))
    job = by_name(result)["evening"]
    assert job.state == DONE and job.interruptions == 1
    assert job.lost_schedule == pytest.approx(4 * 17 * 60)
    assert job.end == pytest.approx(22 * HOUR + P + 90 * 60)


def test_on_dev_a_job_stopped_at_night_reaches_its_deadline_before_the_morning():
    # research may run 12 h: admitted 19:00, its activeDeadlineSeconds ends 07:00, dev starts at 08:00
    result = run(platform("dev"), jobs({"name": "evening", "submit": 10 * HOUR, "run": 2 * HOUR, "team": "research",
                                        "gpus": 4, **BIG}))
    job = by_name(result)["evening"]
    assert job.state == engine.DEADLINE and job.end == 22 * HOUR


def test_a_spot_interruption_loses_the_work_since_the_last_checkpoint():
    class At:
        """Interrupts the first node 2 h after its launch, no other."""

        def __init__(self):
            self.draws = [2 * HOUR]

        def expovariate(self, _rate):
            return self.draws.pop(0) if self.draws else 1e12

    plat = platform(spot_rate=0.01)
    eng = engine.Engine(plat, jobs({"name": "ft", "submit": 0, "run": 3 * HOUR, "team": "research", "gpus": 4,
                                    **BIG}), audit=True)
    eng.rng = At()
    result = eng.run()
    ft = by_name(result)["ft"]
    assert result.pools[1].interruptions == 1 and result.pools[1].launched == 2  # the ASG replaces it
    assert ft.lost_spot == pytest.approx(4 * 17 * 60)  # 107 min ran, 90 kept
    assert ft.end == pytest.approx(2 * HOUR + P + 90 * 60)


def test_scale_down_after_the_idle_delay_and_never_below_min():
    one = run(platform(), jobs({"name": "a", "submit": 0, "run": HOUR, "team": "research", "gpus": 4, **BIG}))
    node = one.pools[1].history[0]
    assert node.removed_at == P + HOUR + 300
    # staging keeps one infer-l40s node warm during work hours (07:00-20:00): its min until the stop
    staging = run(platform("staging"), jobs({"name": "a", "submit": 0, "run": HOUR, "team": "applied", "gpus": 1,
                                             "cpu": 1, "memory_gib": 4}), horizon_s=5 * HOUR)
    warm = next(p for p in staging.pools if p.spec.name == "infer-l40s")
    assert warm.spec.warm == 1 and len(warm.nodes) == 1 and warm.node_s == 5 * HOUR


def test_a_batch_job_longer_than_its_teams_limit_is_killed_at_the_deadline():
    result = run(platform(), jobs({"name": "long", "submit": 0, "run": 20 * HOUR, "team": "applied", "gpus": 1,
                                   **BIG}))
    long = by_name(result)["long"]
    assert long.state == engine.DEADLINE and long.end == 8 * HOUR  # applied: max_job_hours 8
    assert long.lost_deadline == pytest.approx(8 * HOUR - P)


def test_a_gang_is_placed_whole_or_not_at_all():
    pool = PoolState(platform().pool("train-spot"))
    for node_id in (1, 2):
        node = Node(node_id, pool, 0.0, 0.0)
        node.ready = True
        node.free[0] = 2.0  # two of its four GPUs taken
        pool.nodes.append(node)
    before = [list(n.free) for n in pool.nodes]
    assert pool.place(((0, 3.0),), 2) is None  # no node has 3 free: nothing is held
    assert [n.free for n in pool.nodes] == before
    placed = pool.place(((0, 2.0),), 2)
    assert [n.id for n in placed] == [1, 2] and [n.free[0] for n in pool.nodes] == [0.0, 0.0]


def test_time_slicing_gives_one_replica_per_pod_and_mig_the_smallest_slice_that_holds_it():
    plat = platform()
    shared = plat.pool("shared-l4")
    shape = jobs({"submit": 0, "run": 1, "team": "research", "gpus": 0.3}).jobs[0].shape
    requests, phys = pool_request(shape, shared)
    assert requests["nvidia.com/gpu"] == 1 and phys == 1 / 4
    two = jobs({"submit": 0, "run": 1, "team": "research", "gpus": 2}).jobs[0].shape
    assert "failRequestsGreaterThanOne" in pool_request(two, shared)
    balanced = {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}  # A100 40GB all-balanced
    assert mig_profile(0.1, 4, balanced) == "1g.5gb"
    assert mig_profile(0.25, 8, balanced) == "2g.10gb"
    assert mig_profile(0.4, 16, balanced) == "3g.20gb"
    assert mig_profile(0.5, 20, balanced) is None


def test_every_job_has_one_outcome_and_cpu_only_pods_are_skipped():
    trace = jobs({"submit": 0, "run": 60, "team": "research", "gpus": 0},
                 {"submit": 0, "run": 60, "team": "nobody", "gpus": 1},
                 {"submit": 0, "run": 60, "team": "research", "gpus": 1, **BIG})
    assert len(trace.skipped) == 1
    doc = summary(run(platform(), trace))
    assert doc["outcomes"] == {"completed": 1, "never runs": 1, "deactivated": 0, "deadline": 0, "unfinished": 0}
    assert "team 'nobody' has no ClusterQueue" in doc["never_runs"][0]["reason"]
