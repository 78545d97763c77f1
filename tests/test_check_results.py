"""``gpufleet check``: every offline check on every stack of a project, exit 0/1/2, and its
text, Markdown and JSON reports (issue #13, section 2); SARIF is in ``test_check_sarif.py``."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gpufleet import check, cli
from gpufleet import will_it_run as wir

from .check_support import line_of, project_copy, run, write_stack
from .conftest import shipped_plan
from .helpers import FIXTURE_ROOT, STACKS, apply_edits, stack_source

#: expectations of the fixture stacks on the data's day: every policy passing, no EKS warning (conftest.py)
pytestmark = pytest.mark.on_data_day


def by_stack(doc: dict) -> dict[str, dict]:
    return {s["stack"]: s for s in doc["stacks"]}


def statuses(stack: dict) -> dict[str, str]:
    return {c["check"]: c["status"] for c in stack["checks"]}


# ---------------------------------------------------------------- the fixture project passes

def test_every_fixture_stack_passes_every_check(capsys):
    code, out, err = run(capsys, "check", "--all")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == f"project gpufleet ({FIXTURE_ROOT})"  # the project it acts on, first
    header = lines[2].split()
    assert header == ["stack", *check.CHECKS, "result"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[4:4 + len(STACKS)]}
    assert rows == {s: ["ok"] * len(check.CHECKS) + ["pass"] for s in STACKS}
    assert lines[-1] == f"{len(STACKS)} stack(s): {len(STACKS)} passed, 0 failed; exit 0"


def test_json_reports_every_check_of_every_stack(capsys):
    code, out, err = run(capsys, "check", *STACKS, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["exit_code"] == 0 and doc["checks"] == list(check.CHECKS)
    assert doc["project"] == {"name": "gpufleet", "root": str(FIXTURE_ROOT)}
    assert err.startswith("project gpufleet (")  # stdout stays a document
    stacks = by_stack(doc)
    assert list(stacks) == STACKS
    for stack, result in stacks.items():
        assert statuses(result) == dict.fromkeys(check.CHECKS, "pass"), result
        assert result["source"] == stack_source(stack) and result["findings"] == []
        plan = next(c for c in result["checks"] if c["check"] == "plan")
        assert plan["summary"].startswith(f"{len(shipped_plan(stack).resources)} resources, $")
        teams = len(shipped_plan(stack).config.teams)
        assert f"of {teams} teams run on every pool" in next(c["summary"] for c in result["checks"]
                                                             if c["check"] == "will-it-run")


def test_a_stack_path_is_checked_too(capsys):
    code, out, _ = run(capsys, "check", stack_source("dev"), "--format", "json")
    [result] = json.loads(out)["stacks"]
    assert code == 0 and result["stack"] == "dev" and statuses(result)["policy-config"] == "pass"


# ---------------------------------------------------------------- what fails, and how

def test_a_stack_that_does_not_validate_is_exit_2_and_every_other_stack_is_still_checked(tmp_path, capsys):
    root = project_copy(tmp_path)
    path = write_stack(root, "dev", apply_edits("dev", [("gpufleet:pools.gpu[1].max", -7)]))
    code, out, _ = run(capsys, "-C", str(root), "check", "--all", "--format", "json")
    doc = json.loads(out)
    assert code == 2 and doc["exit_code"] == 2
    stacks = by_stack(doc)
    assert list(stacks) == STACKS  # all reported
    dev = stacks["dev"]
    assert dev["status"] == "fail" and dev["exit_code"] == 2
    assert statuses(dev) == {"config": "fail", **{c: "skip" for c in check.CHECKS[1:]}}
    [finding] = dev["findings"]
    assert finding["rule"] == "config" and finding["level"] == "error"
    assert finding["message"].startswith(f"{stack_source('dev')}: gpufleet:pools.gpu[1].max: got -7")
    assert (finding["file"], finding["line"]) == (stack_source("dev"), line_of(path, "max: -7"))
    assert all(stacks[s]["status"] == "pass" for s in STACKS if s != "dev")


def test_a_mandatory_policy_violation_is_exit_1_and_names_the_policy_and_the_line(tmp_path, capsys):
    root = project_copy(tmp_path)
    path = write_stack(root, "dev", apply_edits("dev", [("gpufleet:network.nat", "per_az")]))  # valid config
    code, out, _ = run(capsys, "-C", str(root), "check", "dev", "--format", "json")
    [dev] = json.loads(out)["stacks"]
    assert code == 1 and dev["exit_code"] == 1 and statuses(dev)["policy"] == "fail"
    assert statuses(dev)["config"] == statuses(dev)["plan"] == "pass"
    [finding] = dev["findings"]
    assert (finding["rule"], finding["level"], finding["check"]) == ("single-nat-outside-prod", "error", "policy")
    assert "NAT gateways in dev" in finding["message"] and "Fix: set gpufleet:network.nat: single" in finding["message"]
    assert finding["line"] == line_of(path, "nat: per_az")  # the key the fix hint names


def test_a_team_job_that_would_not_run_is_exit_1(capsys, monkeypatch):
    """Kueue gives up after one minute: no pool is ready that fast, so no team's job runs."""
    real = wir.stack_facts
    monkeypatch.setattr(wir, "stack_facts", lambda plan: dataclasses.replace(real(plan), timeout_minutes=1))
    code, out, _ = run(capsys, "check", "dev", "--format", "json")
    [dev] = json.loads(out)["stacks"]
    assert code == 1 and statuses(dev)["will-it-run"] == "fail"
    plan = shipped_plan("dev")
    jobs = {j.name for j in wir.team_jobs(plan, real(plan))}
    assert {f["subject"] for f in dev["findings"]} == jobs
    for f in dev["findings"]:
        team, _, pool = f["subject"].partition("@")
        assert f["rule"] == "will-it-run" and f["message"].startswith(f"team {team}'s typical job on pool {pool} (")
        assert "waitForPodsReady gives up" in f["message"]
        assert f["line"] == line_of(FIXTURE_ROOT / stack_source("dev"), f"- name: {team}")


def test_a_system_pool_too_small_for_the_add_ons_is_exit_1(capsys, monkeypatch):
    """The fit model says one node of dev's system pool is too small (the schema asks the real
    model, so the stack still validates: this is the check's own verdict)."""
    import types

    from gpufleet.modules import fit

    one_node = types.SimpleNamespace(system_fit=lambda cfg: dataclasses.replace(fit.system_fit(cfg), nodes=1))
    monkeypatch.setattr(check, "_fit_module", lambda: one_node)
    code, out, _ = run(capsys, "check", "dev", "--format", "json")
    [dev] = json.loads(out)["stacks"]
    assert code == 1 and statuses(dev)["system-fit"] == "fail"
    [finding] = dev["findings"]
    assert finding["rule"] == "system-fit" and "cannot hold the add-ons" in finding["message"]
    stack_file = FIXTURE_ROOT / stack_source("dev")
    system = line_of(stack_file, "    system:")
    assert finding["line"] > system and "min:" in stack_file.read_text().splitlines()[finding["line"] - 1]


def test_without_the_fit_model_the_fit_check_is_skipped(capsys, monkeypatch):
    monkeypatch.setattr(check, "_fit_module", lambda: None)
    code, out, _ = run(capsys, "check", "dev", "--format", "json")
    [dev] = json.loads(out)["stacks"]
    assert code == 0 and statuses(dev)["system-fit"] == "skip" and dev["status"] == "pass"


def test_a_missing_or_stale_policy_config_fails_the_stack(tmp_path, capsys):
    root = project_copy(tmp_path)
    (root / "policies" / "config" / "staging.json").unlink()
    stale = root / "policies" / "config" / "prod.json"
    stale.write_text(stale.read_text().replace('"environment": "prod"', '"environment": "dev"'))
    code, out, _ = run(capsys, "-C", str(root), "check", "--all", "--format", "json")
    stacks = by_stack(json.loads(out))
    assert code == 1 and stacks["dev"]["status"] == "pass"
    [missing] = stacks["staging"]["findings"]
    assert missing["rule"] == "policy-config" and "policies/config/staging.json is missing" in missing["message"]
    assert missing["file"] == stack_source("staging")  # a missing file cannot be annotated: its stack is
    [stale_finding] = stacks["prod"]["findings"]
    assert stale_finding["file"] == "policies/config/prod.json" and "is stale" in stale_finding["message"]
    assert "gpufleet policy prod --write-config" in stale_finding["message"]


def test_the_policy_config_check_expects_what_the_policy_command_prints(capsys):
    for stack in STACKS:
        assert cli.main(["policy", stack, "--config"]) == 0
        printed = capsys.readouterr().out
        assert (FIXTURE_ROOT / "policies" / "config" / f"{stack}.json").read_text() == printed


def test_usage_errors_are_exit_2(tmp_path, capsys):
    for argv in (["check"], ["check", "dev", "--all"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and err.startswith("error: check: name the stacks to check, or --all"), err
    (tmp_path / "Pulumi.yaml").write_text("name: empty\n")
    code, _, err = run(capsys, "-C", str(tmp_path), "check", "--all")
    assert code == 2 and err.startswith("error: check --all: no Pulumi.<stack>.yaml in") and "project empty" in err
    code, out, _ = run(capsys, "check", "nosuchstack", "--format", "json")
    [result] = json.loads(out)["stacks"]
    assert code == 2 and stack_source("nosuchstack") in result["findings"][0]["message"]


def test_output_file(tmp_path, capsys):
    target = tmp_path / "check.sarif"
    code, out, err = run(capsys, "check", "dev", "--format", "sarif", "-o", str(target))
    assert code == 0 and out == "" and f"wrote {target}" in err
    assert json.loads(target.read_text())["version"] == "2.1.0"


def test_markdown_for_a_pr_comment(tmp_path, capsys):
    root = project_copy(tmp_path)
    write_stack(root, "dev", apply_edits("dev", [("gpufleet:network.nat", "per_az")]))
    code, out, _ = run(capsys, "-C", str(root), "check", "--all", "--format", "markdown")
    lines = out.splitlines()
    assert code == 1 and lines[0] == "### :x: gpufleet check"
    assert lines[2] == "| stack | " + " | ".join(check.CHECKS) + " | result |"
    assert "| `dev` | :white_check_mark: | :white_check_mark: | :x: |" in out and "**fail** |" in out
    assert "| `prod` | " + " | ".join([":white_check_mark:"] * len(check.CHECKS)) + " | **pass** |" in out
    assert f"#### `dev` (`{stack_source('dev')}`)" in out
    assert any(line.startswith("- **error** `single-nat-outside-prod`: ") for line in lines)
