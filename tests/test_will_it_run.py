"""Will it run? Every shipped example and a typical job of every team on every pool it may
use is admitted by Kueue, scales its pool from zero, fits the node and is ready before
Kueue gives up (issue #10, section 1; rules in ``modules/workload_rules.py``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from gpufleet import will_it_run as wir
from gpufleet.modules import workload_rules as rules

from .conftest import shipped_plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: the stacks each example is written for (its pool exists there)
EXAMPLE_STACKS = {"trainjob-spot-checkpoints.yaml": ["dev", "staging"], "inferenceservice-mig.yaml": ["prod"]}


def facts(stack: str) -> wir.StackFacts:
    return wir.stack_facts(shipped_plan(stack))


@pytest.mark.parametrize("example,stack", [(e, s) for e, stacks in EXAMPLE_STACKS.items() for s in stacks])
def test_every_example_runs_on_its_stacks(example, stack):
    f = facts(stack)
    docs = list(yaml.safe_load_all((EXAMPLES / example).read_text()))
    [workload] = wir.workloads(docs, f)
    verdict = wir.check(workload, f)
    assert verdict.runs, verdict.reasons


def test_every_example_is_covered():
    assert set(EXAMPLE_STACKS) == {p.name for p in EXAMPLES.glob("*.yaml")}


def test_every_team_job_runs_on_every_pool_it_may_use(any_stack_plan):
    f = wir.stack_facts(any_stack_plan)
    jobs = wir.team_jobs(any_stack_plan, f)
    assert {j.name.split("@")[0] for j in jobs} == {t.name for t in any_stack_plan.config.teams}
    for job in jobs:
        verdict = wir.check(job, f)
        assert verdict.runs, (job.name, verdict.reasons)


def test_every_priority_the_platform_offers_can_scale_a_pool_up(any_stack_plan):
    """Finding 3: pods below the autoscaler's expendable cutoff never trigger a scale-up,
    and every GPU pool sits at zero: experiments must stay above it."""
    f = wir.stack_facts(any_stack_plan)
    assert f.priority_values, "the platform ships PriorityClasses"
    for name, value in f.priority_values.items():
        assert value >= f.cutoff, (name, value, f.cutoff)
    for job in wir.team_jobs(any_stack_plan, f):
        low = dataclasses.replace(job, pod_sets=tuple(
            dataclasses.replace(ps, priority=f.priority_values["gpufleet-experiments"]) for ps in job.pod_sets))
        assert wir.check(low, f).runs, job.name


def test_kueue_waits_longer_than_the_slowest_pool_needs(any_stack_plan):
    """Finding 5: a p4d scale-up plus a MIG reboot takes longer than Kueue's 10-minute default."""
    f = wir.stack_facts(any_stack_plan)
    for pool in f.pools.values():
        assert pool.ready_minutes < f.timeout_minutes, (pool.name, pool.ready_minutes, f.timeout_minutes)


# ---------------------------------------------------------------- each rule can say no


def prod_job(**changes) -> tuple[rules.Workload, wir.StackFacts]:
    f = facts("prod")
    job = next(j for j in wir.team_jobs(shipped_plan("prod"), f) if j.name == "applied@mig-a100")
    return dataclasses.replace(job, pod_sets=(dataclasses.replace(job.pod_sets[0], **changes),)), f


def test_a_whole_gpu_on_the_mig_pool_never_scales_it_up():
    job, f = prod_job(requests={"nvidia.com/gpu": 1, "cpu": 1000, "memory": 1024})
    verdict = wir.check(job, f)
    assert not verdict.runs
    assert any("Kueue" in r and "nvidia.com/gpu" in r for r in verdict.reasons), verdict.reasons


def test_the_template_alone_refuses_whole_gpus_on_a_mig_pool():
    f = facts("prod")
    ps = rules.PodSet({"nvidia.com/gpu": 1}, node_selector={"gpufleet.io/pool": "mig-a100"},
                      tolerations=({"key": "nvidia.com/gpu", "operator": "Exists"},))
    assert any("nvidia.com/gpu 1 > 0 on the template node" in r for r in rules.autoscaler_scale_up(ps, f.pools["mig-a100"]))


def test_a_pod_waiting_for_a_local_pv_never_scales_a_pool_up():
    job, f = prod_job(local_pvcs=1)
    assert any("local PV" in r for r in wir.check(job, f).reasons)


def test_an_expendable_pod_never_scales_a_pool_up():
    job, f = prod_job(priority=-100)
    assert any("expendable cutoff" in r for r in wir.check(job, f).reasons)


def test_a_pod_larger_than_the_node_is_refused():
    job, f = prod_job(requests={"nvidia.com/mig-1g.5gb": 1, "cpu": 500_000, "memory": 1024})
    reasons = wir.check(job, f).reasons
    assert any(r.startswith("node: cpu") for r in reasons) or any("Kueue" in r for r in reasons), reasons


def test_a_job_that_waits_longer_than_kueue_is_evicted():
    job, f = prod_job()
    short = dataclasses.replace(f, timeout_minutes=10)
    assert any("waitForPodsReady gives up" in r for r in wir.check(job, short).reasons)


def test_an_eight_gpu_pod_on_four_gpu_nodes_never_runs():
    f = facts("dev")
    job = rules.Workload("big", "team-research", (rules.PodSet({"nvidia.com/gpu": 8, "cpu": 1000, "memory": 1024},
                                                               node_selector={"gpufleet.io/pool": "train-spot"}),))
    verdict = wir.check(job, f)
    assert not verdict.runs
    assert any("nvidia.com/gpu" in r for r in verdict.reasons), verdict.reasons


def test_a_selector_for_another_pool_is_not_admitted_there():
    f = facts("dev")
    job = rules.Workload("x", "team-research", (rules.PodSet({"nvidia.com/gpu": 1}, node_selector={"gpufleet.io/pool": "nope"}),))
    assert wir.check(job, f).flavor is None


def test_toleration_matching():
    taint = ("nvidia.com/gpu", "true", "NoSchedule")
    assert rules.tolerates([{"key": "nvidia.com/gpu", "operator": "Exists"}], taint)
    assert rules.tolerates([{"operator": "Exists"}], taint)
    assert rules.tolerates([{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}], taint)
    assert not rules.tolerates([{"key": "nvidia.com/gpu", "value": "false"}], taint)
    assert not rules.tolerates([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}], taint)


def test_timeout_config_below_the_slowest_pool_is_refused():
    from .helpers import TEST_SOURCE, apply_edits, assert_one_line_error

    raw = apply_edits("prod", [("gpufleet:ml.kueue.pods_ready_timeout_minutes", 10)])
    assert_one_line_error(raw, TEST_SOURCE, "gpufleet:ml.kueue.pods_ready_timeout_minutes",
                          "a node of pool mig-a100 needs to be ready")


@pytest.mark.parametrize("stack,pool", [("dev", "shared-l4"), ("prod", "mig-a100")])
def test_an_always_on_shared_pool_is_a_valid_config_and_its_jobs_run(stack, pool):
    """A MIG or time-sliced pool kept warm: its flavor still fits Kueue's 8 node labels."""
    from .helpers import apply_edits, render

    i = [p.name for p in shipped_plan(stack).config.pools.gpu].index(pool)
    plan = render(apply_edits(stack, [(f"gpufleet:pools.gpu[{i}].min", 1), (f"gpufleet:pools.gpu[{i}].always_on", True)]))
    f = wir.stack_facts(plan)
    jobs = [j for j in wir.team_jobs(plan, f) if j.name.endswith(f"@{pool}")]
    assert jobs and all(wir.check(j, f).runs for j in jobs)
