"""The PR preview workflow (pr.yml's ``preview`` job): one run per PR for the changed stacks,
its steps in order (offline plan, replacement guard, cost diff, the PR comment, ``pulumi
preview`` with the policy pack), and each step's shell script run here on real inputs."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import shipped_plan
from .helpers import STACK_FOLDER
from .workflows_support import ROOT, index, load, run_step, step


def test_pr_preview_runs_for_changed_stacks_with_one_run_per_pr():
    pr = load("pr.yml")
    trigger = pr["on"]["pull_request"]
    assert {"opened", "synchronize", "labeled", "unlabeled"} <= set(trigger["types"])
    assert pr["concurrency"] == {"group": "pr-preview-${{ github.event.pull_request.number }}",
                                 "cancel-in-progress": True}
    assert pr["permissions"] == {"contents": "read"}
    changes = pr["jobs"]["changes"]
    assert changes["uses"] == "./.github/workflows/changed-stacks.yml"
    assert changes["with"] == {"base": "${{ github.event.pull_request.base.sha }}",
                               "head": "${{ github.event.pull_request.head.sha }}"}
    preview = pr["jobs"]["preview"]
    assert preview["needs"] == ["changes", "test"]
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.changes.outputs.stacks) }}"
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert "./run test" in step(pr["jobs"]["test"], name="Test suite")["run"]
    for job in (pr["jobs"]["test"], preview):
        assert step(job, uses="actions/setup-python@")["with"]["python-version"] == "3.11"


def test_pr_preview_steps_in_order():
    job = load("pr.yml")["jobs"]["preview"]
    install = step(job, name="Install (.venv")
    plan = step(job, name="Offline plan")
    guard = step(job, name="Replacement guard")
    cost = step(job, name="Cost diff")
    comment = step(job, uses="marocchino/sticky-pull-request-comment@")
    aws = step(job, uses="aws-actions/configure-aws-credentials@")
    deps = step(job, name="policy pack's dependencies")
    pulumi = step(job, uses="pulumi/actions@")
    fail = step(job, name="allow-replace label")
    order = [install, plan, guard, cost, comment, aws, deps, pulumi, fail]
    assert [index(job, s) for s in order] == sorted(index(job, s) for s in order)

    assert './run plan "$STACK" --json' in plan["run"]
    assert './run diff "$RUNNER_TEMP/base-plan.json" "$RUNNER_TEMP/head-plan.json" --format markdown' in guard["run"]
    assert ('./run cost "$STACK" --compare "$RUNNER_TEMP/base-stack/Pulumi.$STACK.yaml" --format markdown'
            in cost["run"])
    assert f'git show "$BASE_SHA:{STACK_FOLDER}/Pulumi.$STACK.yaml"' in step(job, name="Base plan")["run"]
    assert comment["with"]["header"] == "gpufleet-${{ matrix.stack }}"
    compose = step(job, name="Compose the PR comment")["run"]
    assert "guard.md" in compose and "cost.md" in compose
    assert "requirements.txt" in deps["run"]
    assert pulumi["uses"] == "pulumi/actions@v7"
    w = pulumi["with"]
    assert (w["command"], w["policyPacks"], w["comment-on-pr"], w["work-dir"]) == ("preview", "policies", True, ".")
    assert w["upsert"] is True  # a new stack previews too
    assert pulumi["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}


def test_the_guard_fails_the_pr_unless_it_has_the_allow_replace_label():
    job = load("pr.yml")["jobs"]["preview"]
    condition = " ".join(step(job, name="allow-replace label")["if"].split())
    assert "always()" in condition
    assert "steps.guard.outputs.status == '2'" in condition  # bad input fails even with the label
    assert ("(steps.guard.outputs.status == '1' && !contains(github.event.pull_request.labels.*.name, 'allow-replace'))"
            in condition)
    assert "exit 1" in step(job, name="allow-replace label")["run"]


@pytest.mark.parametrize("change, status", [("none", "0"), ("instance-types", "1"), ("not-a-plan", "2")])
def test_guard_step_reports_the_diff_status(tmp_path, change, status):
    script = step(load("pr.yml")["jobs"]["preview"], name="Replacement guard")["run"]
    base = shipped_plan("dev").to_json()
    head = copy.deepcopy(base)
    if change == "instance-types":
        ng = next(r for r in head["resources"] if r["name"] == "pool-shared-l4-ng")
        ng["inputs"]["instanceTypes"] = ["g6.2xlarge"]
    (tmp_path / "base-plan.json").write_text(json.dumps(base) if change != "not-a-plan" else "{}")
    (tmp_path / "head-plan.json").write_text(json.dumps(head))
    outputs = run_step(script, ROOT, {"RUNNER_TEMP": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert outputs["status"] == status
    guard_md = (tmp_path / "guard.md").read_text()
    if status == "1":
        assert "| `pool-shared-l4-ng` (aws:eks/nodeGroup:NodeGroup) | `instanceTypes` |" in guard_md
    if status == "0":
        assert ":white_check_mark:" in guard_md


def _plan_step_dir(tmp_path: Path, printed: str, exit_code: int) -> Path:
    """A working directory for the preview's Offline plan step: ``./run`` prints ``printed``
    and exits ``exit_code``; ``.venv/bin/python`` is this interpreter (no jq: a self-hosted or
    CodeBuild runner may lack it)."""
    (tmp_path / "plan.json").write_text(printed)
    stub = tmp_path / "run"
    stub.write_text(f'#!/bin/sh\ncat "{tmp_path}/plan.json"\nexit {exit_code}\n')
    stub.chmod(0o755)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    return tmp_path


@pytest.mark.parametrize("exit_code, violations", [(0, []), (1, [
    {"policy": "gpu-pools-scale-to-zero", "level": "mandatory", "resource": "pool-a-ng", "message": "min 2 > 0"},
    {"policy": "gpu-spend-within-budget", "level": "mandatory", "resource": None, "message": "$9 > $5"}])])
def test_plan_step_keeps_going_on_policy_violations_and_lists_them(tmp_path, exit_code, violations):
    """``./run`` is stubbed at the CLI boundary: it prints a prepared plan and exits."""
    script = step(load("pr.yml")["jobs"]["preview"], name="Offline plan")["run"]
    plan = {"project": "gpufleet", "stack": "dev", "resources": [], "outputs": {},
            "policy": {"pack": "gpufleet", "violations": violations}}
    cwd = _plan_step_dir(tmp_path, json.dumps(plan), exit_code)
    outputs = run_step(script, cwd, {"RUNNER_TEMP": str(tmp_path), "STACK": "dev"}, stub=True)
    assert outputs["status"] == str(exit_code)
    assert (tmp_path / "policy.md").read_text() == "".join(
        f"- **{v['level']}** `{v['policy']}` on `{v['resource'] or 'null'}`: {v['message']}\n" for v in violations)
    fail = step(load("pr.yml")["jobs"]["preview"], name="Fail on mandatory policy violations")
    assert fail["if"] == "always() && steps.plan.outputs.status == '1'"


@pytest.mark.parametrize("printed", ["", "not json", "{}", '{"resources": null}'])
def test_plan_step_fails_when_the_output_is_not_a_plan(tmp_path, printed):
    script = step(load("pr.yml")["jobs"]["preview"], name="Offline plan")["run"]
    cwd = _plan_step_dir(tmp_path, printed, 1)
    with pytest.raises(subprocess.CalledProcessError) as failed:
        run_step(script, cwd, {"RUNNER_TEMP": str(tmp_path), "STACK": "dev"}, stub=True)
    assert "::error::gpufleet plan dev did not produce a plan (exit 1)" in failed.value.stdout


def test_cost_step_falls_back_to_the_head_estimate_when_the_base_cannot_be_compared(tmp_path):
    """A base stack file this PR's schema rejects (e.g. a renamed key): the comment says so
    and shows the head's estimate instead of failing the preview. ``./run`` is a stub that
    records its arguments and answers like ``gpufleet cost``."""
    script = step(load("pr.yml")["jobs"]["preview"], name="Cost diff")["run"]
    stub = tmp_path / "run"
    stub.write_text(f'''#!/bin/sh
echo "$*" >> "{tmp_path}/argv"
case "$*" in *--compare*) echo "error: Pulumi.dev.yaml: gpufleet:clustr: got unknown key" >&2; exit 2 ;; esac
echo "| estimate of $2 |"
''')
    stub.chmod(0o755)
    env = {"RUNNER_TEMP": str(tmp_path), "STACK": "dev", "BASE_EXISTS": "true"}
    outputs = run_step(script, tmp_path, env, stub=True)
    assert outputs["status"] == "0"
    assert (tmp_path / "argv").read_text().splitlines() == [
        f"cost dev --compare {tmp_path}/base-stack/Pulumi.dev.yaml --format markdown", "cost dev --format markdown"]
    assert (tmp_path / "cost.md").read_text() == (
        "_No cost diff: the base branch's stack file does not validate with this PR's code: "
        "error: Pulumi.dev.yaml: gpufleet:clustr: got unknown key._\n\n| estimate of dev |\n")


@pytest.mark.parametrize("workflow, job", [("pr.yml", "preview"), ("deploy.yml", "deploy")])
def test_policy_pack_dependencies_go_into_the_virtualenv_its_yaml_names(tmp_path, workflow, job):
    """``python`` and ``pip`` are stubs that record what they are asked; the step reads the
    pack's virtualenv from PulumiPolicy.yaml and installs from policies/ (``-e ..``)."""
    script = step(load(workflow)["jobs"][job], name="policy pack's dependencies")["run"]
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "PulumiPolicy.yaml").write_text(
        "runtime:\n  name: python\n  options:\n    virtualenv: venv\n")
    (tmp_path / "policies" / "requirements.txt").write_text("pulumi-policy\n-e ..\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    pip = (f'#!/bin/sh\necho "pip $(pwd) $*" >> {log}\n')
    (bin_dir / "python").write_text(
        f'#!/bin/sh\necho "python $*" >> {log}\nmkdir -p "$3/bin"\n'
        f'printf \'%s\' \'{pip}\' > "$3/bin/pip"\nchmod +x "$3/bin/pip"\n')
    (bin_dir / "python").chmod(0o755)
    run_step(script, tmp_path, {"RUNNER_TEMP": str(tmp_path), "PATH": f"{bin_dir}:/usr/bin:/bin"}, stub=True)
    assert log.read_text().splitlines() == [
        f"python -m venv {tmp_path}/policies/venv",
        f"pip {tmp_path}/policies install -c ../requirements.lock -r requirements.txt"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_base_plan_step_renders_the_base_commit_in_a_worktree(tmp_path):
    """A throwaway repository whose committed ``./run`` stub prints a plan naming the commit
    it runs in: the step renders the base commit, or an empty plan for a new stack."""
    script = step(load("pr.yml")["jobs"]["preview"], name="Base plan")["run"]
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    (repo / "stacks" / "Pulumi.dev.yaml").write_text("config: {}\n")
    (repo / "run").write_text(
        '#!/bin/sh\nprintf \'{"stack": "%s", "resources": [], "from": "%s"}\' "$2" "$(cat marker)"\n')
    (repo / "run").chmod(0o755)
    (repo / "marker").write_text("base")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=repo, check=True)
    base_sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True,
                              text=True).stdout.strip()
    (repo / "marker").write_text("head")
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to(sys.executable)
    temp = tmp_path / "temp"
    temp.mkdir()
    outputs = run_step(script, repo, {"RUNNER_TEMP": str(temp), "STACK": "dev", "BASE_SHA": base_sha}, stub=True)
    assert outputs["exists"] == "true"
    assert json.loads((temp / "base-plan.json").read_text()) == {"stack": "dev", "resources": [], "from": "base"}
    assert (temp / "base-stack" / "Pulumi.dev.yaml").read_text() == "config: {}\n"
    temp = tmp_path / "temp-new"
    temp.mkdir()
    outputs = run_step(script, repo, {"RUNNER_TEMP": str(temp), "STACK": "eu", "BASE_SHA": base_sha}, stub=True)
    assert outputs["exists"] == "false"
    assert json.loads((temp / "base-plan.json").read_text()) == {"project": "gpufleet", "stack": "eu", "resources": []}
