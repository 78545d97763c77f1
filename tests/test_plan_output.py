"""``gpufleet plan`` output a reviewer can read and paste: the summary first (the tree only
with ``--tree``), byte-identical plans from run to run, and the URNs real Pulumi assigns."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpufleet import cli
from gpufleet.engine import STACK_TYPE, Recorded, make_urn, qualified_type, stable_order

from .conftest import shipped_plan
from .helpers import FIXTURE_ROOT, ROOT, STACKS

URN = re.compile(r"^urn:pulumi:(?P<stack>[^:]+)::(?P<project>[^:]+)::(?P<qtype>[^:]+(?::[^:]+)*?)::(?P<name>.+)$")


# ---------------------------------------------------------------- deterministic plans

#: what the fresh process plans: every stack's JSON plan and dev's text plan with its tree
FRESH = [["plan", stack, "--json"] for stack in STACKS] + [["plan", "dev", "--tree"]]
_FRESH_SCRIPT = """
import contextlib, io, json, sys
from gpufleet import cli
printed = {}
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(argv)
    printed[" ".join(argv)] = [code, out.getvalue()]
sys.stdout.write(json.dumps(printed))
"""


@pytest.fixture(scope="module")
def fresh_plans() -> dict[str, list]:
    """The plans of FRESH printed by one new process under another hash seed than this one's
    (one process for all of them: each start costs ~1 s of imports)."""
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _FRESH_SCRIPT, json.dumps(FRESH)], cwd=FIXTURE_ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _printed_here(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert cli.main(argv) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("stack", STACKS)
def test_renders_in_two_processes_are_byte_identical(fresh_plans, capsys, stack):
    """Two saved plans of the same stack diff cleanly: resource order, ``depends_on``, mock
    ids and every report are the same whatever the hash seed and the order in which the
    SDK's asynchronous registrations arrive (this process's render and a new one's)."""
    argv = ["plan", stack, "--json"]
    code, there = fresh_plans[" ".join(argv)]
    assert code == 0
    assert _printed_here(capsys, argv) == there
    assert json.loads(there)["resources"]


def test_the_text_plan_and_its_tree_are_identical_too(fresh_plans, capsys):
    code, there = fresh_plans["plan dev --tree"]
    assert code == 0 and _printed_here(capsys, ["plan", "dev", "--tree"]) == there


def test_resources_come_in_tree_order_with_sorted_dependencies(any_stack_plan):
    resources = any_stack_plan.resources
    position = {r.urn: i for i, r in enumerate(resources)}
    for r in resources:
        assert r.depends_on == sorted(r.depends_on), r.name
        assert r.options["aliases"] == sorted(r.options["aliases"]), r.name
        if r.parent in position:
            assert position[r.parent] < position[r.urn], r.name  # a parent before its children
    siblings: dict[str | None, list[Recorded]] = {}
    for r in resources:
        siblings.setdefault(r.parent, []).append(r)
    for kids in siblings.values():
        assert [(k.name, k.type) for k in kids] == sorted((k.name, k.type) for k in kids)
    assert resources == stable_order(reversed(resources))  # the order does not depend on arrival


def _tree(draw_parents: list[int]) -> list[Recorded]:
    """Resources whose parents are given by index (a parent index below the node's own)."""
    out: list[Recorded] = []
    for i, p in enumerate(draw_parents):
        parent = out[p].urn if 0 <= p < i else "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
        name = f"n{i % 3}"  # repeated names: the type and URN break ties
        typ = f"t:m:T{i % 2}"
        out.append(Recorded(urn=make_urn("s", "p", parent, typ, f"{name}-{i}"), type=typ, name=name, custom=True,
                            parent=parent, inputs={}))
    return out


@given(st.lists(st.integers(min_value=-1, max_value=30), max_size=25), st.randoms(use_true_random=False))
def test_stable_order_ignores_arrival_order(parents, rnd):
    records = _tree(parents)
    shuffled = list(records)
    rnd.shuffle(shuffled)
    ordered = stable_order(shuffled)
    assert ordered == stable_order(records)
    assert sorted(r.urn for r in ordered) == sorted(r.urn for r in records)
    seen: set[str] = set()
    for r in ordered:
        assert r.parent not in {x.urn for x in records} or r.parent in seen
        seen.add(r.urn)


# ---------------------------------------------------------------- URNs

def test_make_urn_follows_the_engine_rule():
    stack = make_urn("dev", "gpufleet", None, STACK_TYPE, "gpufleet-dev")
    assert stack == "urn:pulumi:dev::gpufleet::pulumi:pulumi:Stack::gpufleet-dev"
    top = make_urn("dev", "gpufleet", stack, "gpufleet:cluster:Cluster", "cluster")
    assert top == "urn:pulumi:dev::gpufleet::gpufleet:cluster:Cluster::cluster"  # not "pulumi:pulumi:Stack$..."
    role = make_urn("dev", "gpufleet", top, "gpufleet:iam:ServiceRole", "cluster-control-plane")
    leaf = make_urn("dev", "gpufleet", role, "aws:iam/role:Role", "cluster-control-plane-role")
    # the parent's whole qualified type, not only its last type (Pulumi's MockMonitor keeps only that)
    assert leaf == ("urn:pulumi:dev::gpufleet::gpufleet:cluster:Cluster$gpufleet:iam:ServiceRole$aws:iam/role:Role"
                    "::cluster-control-plane-role")
    assert qualified_type("urn:pulumi:s::p::a:b:C::name::with::colons") == "a:b:C"


def test_every_urn_is_the_one_pulumi_assigns(any_stack_plan):
    plan = any_stack_plan
    stack_urn = make_urn(plan.stack, plan.project, None, STACK_TYPE, f"{plan.project}-{plan.stack}")
    by_urn = {r.urn: r for r in plan.resources}
    for r in plan.resources:
        m = URN.match(r.urn)
        assert m, r.urn
        assert (m["stack"], m["project"], m["name"]) == (plan.stack, plan.project, r.name)
        assert "pulumi:pulumi:Stack" not in m["qtype"], r.urn
        if r.parent == stack_urn:
            assert m["qtype"] == r.type, r.urn  # top level: its own type only
        else:
            assert r.parent in by_urn, r.urn
            assert m["qtype"] == f"{qualified_type(r.parent)}${r.type}", r.urn  # the parent's whole chain
        for dep in r.depends_on:
            assert dep in by_urn, (r.name, dep)
        if r.provider:
            assert r.provider.rsplit("::", 1)[0] in by_urn, r.provider
        for alias in r.aliases:
            assert URN.match(alias) and "pulumi:pulumi:Stack$" not in alias, alias


def test_nested_components_carry_their_whole_parent_chain(dev_plan):
    role = dev_plan.get("aws:iam/role:Role", "cluster-control-plane-role")
    assert role.urn == ("urn:pulumi:dev::gpufleet::gpufleet:cluster:Cluster$gpufleet:iam:ServiceRole"
                        "$aws:iam/role:Role::cluster-control-plane-role")


def test_the_policy_pack_still_reads_the_stack_from_the_urn(any_stack_plan):
    from gpufleet.reports.policy import load_pack

    load_pack()
    from gpufleet.policies._props import urn_environment, urn_stack

    for r in any_stack_plan.resources:
        assert urn_stack(r.urn) == any_stack_plan.stack
    assert urn_environment(any_stack_plan.resources[0].urn) == any_stack_plan.config.environment


# ---------------------------------------------------------------- the text plan

@pytest.mark.on_data_day
def test_text_plan_starts_with_the_summary_and_keeps_the_tree_for_tree(capsys):
    plan = shipped_plan("prod")
    assert cli.main(["plan", "prod"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("gpufleet plan: stack prod"))
    head = "\n".join(lines[start:start + 25])
    # like `pulumi preview`: every resource and component, and the stack itself
    assert f"Resources:\n    + {len(plan.resources) + 1} to create\n" in head
    assert re.search(r"\(\d+ AWS, \d+ Kubernetes, \d+ components, \d+ providers, and the stack\)", head)
    assert "Pools:" in head and "mig all-1g.5gb" in head and "nvidia.com/mig-1g.5gb=56" in head
    assert re.search(r"Cost per month \(USD\): expected \$[\d,.]+, idle \$[\d,.]+, max \$[\d,.]+", head)
    assert re.search(r"Policies \(gpufleet pack, \d+ rules\): \d+ passed, 0 failed, \d+ skipped", head)
    assert "gpufleet plan prod --tree" in head
    assert "└─" not in out and "├─" not in out  # no tree unless asked
    assert len(lines) - start < 80  # was a 280-line tree before the summary


def test_tree_comes_after_the_summary_and_the_reports(capsys):
    assert cli.main(["plan", "prod", "--tree"]) == 0
    out = capsys.readouterr().out
    assert out.index("Resources:") < out.index("Pools:") < out.index("cost: stack prod") < out.index("└─")
    assert re.search(r"pool-mig-a100-ng\s+aws:eks/nodeGroup:NodeGroup\s+\[ON_DEMAND p4d.24xlarge 0..2 nodes", out)
    assert "gpufleet plan prod --tree" not in out  # no hint for what is shown
