"""Suppressions come from the stack's own project: a plan of project A is judged with A's
``policies/config/<stack>.json`` wherever the current directory is, and ``gpufleet policy
<stack> --config`` prints the suppressions (with their reasons) that ``--write-config`` keeps."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from gpufleet import cli
from gpufleet import plan as planner
from gpufleet.commands import policy as policy_cmd
from gpufleet.reports import policy as report_mod

from .helpers import FIXTURE_ROOT, STACK_FOLDER, raw_config, render
from .test_policy_report import REASON, SPOT_RULE, on_demand_training, set_suppress

#: expectations of the fixture stacks on the data's day: every policy passing, no EKS warning (conftest.py)
pytestmark = pytest.mark.on_data_day


def _copy(tmp_path, name: str):
    """A copy of the fixture project whose dev stack runs its training pool on-demand (a
    mandatory violation of SPOT_RULE in dev), no suppression yet."""
    root = tmp_path / name
    shutil.copytree(FIXTURE_ROOT, root, ignore=shutil.ignore_patterns(".hypothesis", "__pycache__"))
    (root / STACK_FOLDER / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": on_demand_training(raw_config("dev"))}))
    return root


@pytest.fixture
def two_projects(tmp_path):
    """(suppressing, plain): the same dev stack; only ``suppressing`` suppresses SPOT_RULE."""
    suppressing, plain = _copy(tmp_path, "suppressing"), _copy(tmp_path, "plain")
    set_suppress(suppressing, {SPOT_RULE: REASON})
    return suppressing, plain


def _status(plan) -> str:
    return {r.policy: r.status for r in report_mod.evaluation(plan).rules}[SPOT_RULE]


def test_a_plan_is_judged_with_its_own_projects_suppressions(two_projects, monkeypatch):
    suppressing, plain = two_projects
    monkeypatch.chdir(plain)  # the current directory is the other project
    plan = planner.render("dev", suppressing)
    assert plan.origin.root == suppressing
    section = next(r for r in plan.reports if r.key == "policy")
    assert not section.failed and [s["policy"] for s in section.data["skipped"]] == [SPOT_RULE]
    assert section.data["skipped"][0]["reason"].endswith(REASON)
    assert _status(plan) == "skipped"

    monkeypatch.chdir(suppressing)  # and the other way round: no suppression borrowed
    other = planner.render("dev", plain)
    assert other.failed and _status(other) == "failed"
    assert [v.policy for v in report_mod.violations(other)] == [SPOT_RULE]
    monkeypatch.chdir(plain)  # a plan keeps its project after the current directory moves
    assert _status(plan) == "skipped" and _status(other) == "failed"


def test_a_stack_file_path_is_judged_with_the_project_holding_it(two_projects, monkeypatch, capsys):
    suppressing, plain = two_projects
    monkeypatch.chdir(plain)
    assert cli.main(["policy", str(suppressing / STACK_FOLDER / "Pulumi.dev.yaml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["violations"] == [] and [s["policy"] for s in data["skipped"]] == [SPOT_RULE]
    monkeypatch.chdir(suppressing)
    assert cli.main(["policy", str(plain / STACK_FOLDER / "Pulumi.dev.yaml"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [v["policy"] for v in data["violations"]] == [SPOT_RULE] and data["skipped"] == []


def test_a_plan_run_from_a_config_alone_reads_the_current_directorys_project(two_projects, monkeypatch):
    suppressing, _ = two_projects
    monkeypatch.chdir(suppressing)
    plan = render(on_demand_training(raw_config("dev")), stack="dev")  # run_program: no project recorded
    assert plan.origin is None and _status(plan) == "skipped"


def test_policy_config_keeps_the_suppression_and_its_reason(two_projects, monkeypatch, capsys):
    suppressing, _ = two_projects
    monkeypatch.chdir(suppressing)
    assert cli.main(["policy", "dev", "--config"]) == 0
    printed = capsys.readouterr().out
    config = json.loads(printed)
    assert config["suppress"] == {SPOT_RULE: REASON}
    assert config[SPOT_RULE]["enforcementLevel"] == "advisory"  # pulumi preview warns, does not block
    assert cli.main(["policy", "dev", "--write-config"]) == 0
    capsys.readouterr()
    written = (suppressing / "policies" / "config" / "dev.json").read_text()
    assert written == printed  # --config prints what --write-config writes: the file is not "stale"
    assert policy_cmd.config_text(str(suppressing / STACK_FOLDER / "Pulumi.dev.yaml"), suppressing) == ("dev", written)
