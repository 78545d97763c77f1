"""No two resources of a stack fight over the same field of an Auto Scaling group (issue #9).

Each GPU pool's Auto Scaling group is written by three kinds of resources: the EKS node
group (``scalingConfig`` min/max/desired, unless ignored after creation), the scale-down
schedule's actions (min/max/desired at ``stop`` and ``start``) and the cluster-autoscaler
node-template tags (one tag key each). From the recorded plan this derives who claims
each ``(Auto Scaling group, field)`` and requires exactly one claimant per field: two
claimants means a ``pulumi up --refresh`` puts back what the other one set (a node group
still declaring max restores it at night, and GPUs can start overnight).
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from gpufleet.modules.cost.schedules import scheduled_pool_names

from .helpers import STACKS, apply_edits, render

NG = "aws:eks/nodeGroup:NodeGroup"
SCHEDULE = "aws:autoscaling/schedule:Schedule"
ASG_TAG = "aws:autoscaling/tag:Tag"
#: node group ``scalingConfig`` key -> Auto Scaling group field
NODE_GROUP_SIZES = {"minSize": "min", "maxSize": "max", "desiredSize": "desired"}
#: scheduled action input -> Auto Scaling group field
SCHEDULE_SIZES = {"minSize": "min", "maxSize": "max", "desiredCapacity": "desired"}


def asg_of(ng) -> str:
    """The node group's Auto Scaling group: an output of the node group (EKS creates it)."""
    return ng.outputs["resources"][0]["autoscalingGroups"][0]["name"]


def ignored(path: str, ignore_changes: list[str]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in ignore_changes)


def claims(plan) -> tuple[dict[str, str], dict[tuple[str, str], set[str]]]:
    """``(pool by Auto Scaling group, (group, field) -> claimants)`` of a recorded plan.

    A claimant is a resource URN; a schedule's actions claim as the one component that
    declares them (its ``stop`` and ``start`` take turns, see :func:`test_actions_take_turns`).
    """
    pools = {asg_of(ng): ng.inputs["nodeGroupName"] for ng in plan.by_type(NG)}
    out: dict[tuple[str, str], set[str]] = defaultdict(set)

    def target(r) -> str:
        asg = r.inputs["autoscalingGroupName"]
        assert asg in pools, f"{r.name} acts on {asg!r}, which is no node group's Auto Scaling group"
        return asg

    for ng in plan.by_type(NG):
        for key, field in NODE_GROUP_SIZES.items():
            if key in ng.inputs["scalingConfig"] and not ignored(f"scalingConfig.{key}", ng.ignore_changes):
                out[(asg_of(ng), field)].add(ng.urn)
    for action in plan.by_type(SCHEDULE):
        for key, field in SCHEDULE_SIZES.items():
            if action.inputs.get(key) is not None:
                out[(target(action), field)].add(action.parent)
    for tag in plan.by_type(ASG_TAG):
        out[(target(tag), f"tag:{tag.inputs['tag']['key']}")].add(tag.urn)
    return pools, out


def fights(plan) -> list[str]:
    pools, claimed = claims(plan)
    return [f"{pools[asg]}: {field} claimed by {sorted(c.rsplit('::', 1)[-1] for c in who)}"
            for (asg, field), who in sorted(claimed.items()) if len(who) > 1]


def assert_sizes_have_one_owner(plan) -> None:
    problems = fights(plan)
    assert not problems, "fields with two owners:\n" + "\n".join(problems)
    pools, claimed = claims(plan)
    node_groups = {asg_of(ng): ng.urn for ng in plan.by_type(NG)}
    scheduled = set(plan.outputs["cost"]["scale_down"]["pools"])
    assert scheduled <= set(pools.values())
    for asg, pool in pools.items():
        owners = {field: claimed.get((asg, field), set()) for field in ("min", "max", "desired")}
        if pool in scheduled:
            # the schedule's actions own all three (between them the autoscaler moves desired)
            (schedule,) = owners["min"]
            assert "gpufleet:cost:ScaleDownSchedules::" in schedule, (pool, owners)
            assert owners == {"min": {schedule}, "max": {schedule}, "desired": {schedule}}, pool
        else:
            # the node group keeps min and max; desired is the autoscaler's, no resource's
            assert owners == {"min": {node_groups[asg]}, "max": {node_groups[asg]}, "desired": set()}, pool


@pytest.fixture(scope="module")
def all_scheduled_plan():
    """Prod's pools (MIG, EFA training, an always-on inference pool) in a non-prod stack
    with the schedule on: every pool that is not always-on is scheduled."""
    raw = apply_edits("prod", [
        ("gpufleet:environment", "staging"),
        ("gpufleet:tags.env", "staging"),
        ("gpufleet:cost.schedule", {"time_zone": "Etc/UTC"}),
    ])
    raw["gpufleet:storage"].pop("scratch", None)  # the default: local PVs on always-on pools only
    # prod's A100 pools cost more than staging's ceiling allows: this test is about who owns
    # the sizes, so it lifts the spend ceiling (tests/test_ceilings.py guards that)
    from gpufleet.modules.checks import ceilings

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ceilings, "check", lambda cfg: None)
        return render(raw, "staging-sched")


@pytest.fixture(scope="module")
def exempt_plan():
    """Dev with one pool exempt from the schedule: unscheduled but not always-on."""
    return render(apply_edits("dev", [("gpufleet:cost.schedule.pools", {"train-spot": {"exempt": True}})]), "dev-exempt")


@pytest.mark.parametrize("stack", STACKS)
def test_no_field_of_a_shipped_stack_has_two_owners(stack):
    from .conftest import shipped_plan

    assert_sizes_have_one_owner(shipped_plan(stack))


def test_no_field_has_two_owners_when_every_pool_but_the_always_on_one_is_scheduled(all_scheduled_plan):
    plan = all_scheduled_plan
    always_on = {p.name for p in plan.config.pools.gpu if p.always_on}
    assert always_on and set(plan.outputs["cost"]["scale_down"]["pools"]) == {
        p.name for p in plan.config.pools.gpu} - always_on
    assert_sizes_have_one_owner(plan)


def test_an_exempt_pool_keeps_its_sizes_on_the_node_group(exempt_plan):
    assert exempt_plan.outputs["cost"]["scale_down"]["pools"] == ["shared-l4"]
    assert_sizes_have_one_owner(exempt_plan)
    ng = exempt_plan.get(NG, "pool-train-spot-ng")
    assert ng.ignore_changes == ["scalingConfig.desiredSize"]
    assert ng.inputs["scalingConfig"]["maxSize"] == 2  # declared, and kept by pulumi up


def test_the_node_groups_learn_the_schedule_from_the_same_config(any_stack_plan):
    """``modules/platform.py`` marks exactly the pools ``ScaleDownSchedules`` acts on."""
    assert scheduled_pool_names(any_stack_plan.config) == set(any_stack_plan.outputs["cost"]["scale_down"]["pools"])


def test_actions_take_turns(all_scheduled_plan):
    """One component's actions on one group never fire together: one claimant, no race."""
    by_target: dict[tuple[str, str], list[str]] = defaultdict(list)
    for action in all_scheduled_plan.by_type(SCHEDULE):
        by_target[(action.parent, action.inputs["autoscalingGroupName"])].append(action.inputs["recurrence"])
    assert by_target and all(len(set(r)) == len(r) == 2 for r in by_target.values())


def test_a_scheduled_pool_stops_at_max_zero_and_starts_at_its_configured_max(all_scheduled_plan):
    """What the node group no longer sets, the schedule carries: a new max in the stack
    file reaches the group at the next ``start``."""
    plan = all_scheduled_plan
    actions = {a.name: a.inputs for a in plan.by_type(SCHEDULE)}
    for pool in plan.config.pools.gpu:
        if pool.always_on:
            assert f"scale-down-{pool.name}-start" not in actions
            continue
        assert actions[f"scale-down-{pool.name}-stop"]["maxSize"] == 0
        assert actions[f"scale-down-{pool.name}-start"]["maxSize"] == pool.max
