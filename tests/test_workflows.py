"""The GitHub workflows: valid against the GitHub workflow schema, and they mean what the
PR flow promises (OIDC only, the policy pack, the replacement guard with its label, the
prod environment). The matrix and guard shell steps are run here on real inputs."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.modules import config as stack_config

from .conftest import shipped_plan
from .helpers import FIXTURE_POLICY_CONFIG, FIXTURE_ROOT, STACK_FOLDER, STACKS, edit, raw_config, stack_source

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
README = ROOT / "README.md"


def pr_flow_doc() -> str:
    """The README's section on the PR flow."""
    return README.read_text().split("\n## Changing a stack by pull request", 1)[1].split("\n## ", 1)[0]


def load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def step(job: dict, *, uses: str | None = None, name: str | None = None) -> dict:
    for s in job["steps"]:
        if (uses and s.get("uses", "").startswith(uses)) or (name and name in s.get("name", "")):
            return s
    raise KeyError(uses or name)


def index(job: dict, s: dict) -> int:
    return job["steps"].index(s)


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           *map(str, files)], capture_output=True, text=True)


def test_the_workflows_exist():
    assert {f.name for f in FILES} >= {"pr.yml", "deploy.yml", "changed-stacks.yml"}


def test_workflows_validate_against_the_github_workflow_schema():
    result = check_jsonschema(*FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = load("pr.yml")
    del broken["jobs"]["preview"]["runs-on"]
    broken["jobs"]["preview"]["permissions"]["id-token"] = "maybe"
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    result = check_jsonschema(path)
    assert result.returncode == 1 and "id-token" in result.stdout + result.stderr


def test_aws_access_is_oidc_role_assumption_only():
    for f in FILES:
        text = f.read_text()
        for key in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert key not in text, f"{f.name} mentions {key}"
    users = 0
    for f in FILES:
        for job_name, job in load(f.name)["jobs"].items():
            for s in job.get("steps", []):
                if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
                    users += 1
                    assert set(s["with"]) == {"role-to-assume", "role-session-name", "aws-region"}
                    assert s["with"]["role-to-assume"].startswith("${{ vars.AWS_")
                    assert job["permissions"]["id-token"] == "write", f"{f.name}:{job_name}"
    assert users == 3  # preview, deploy (non-prod), deploy-prod


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


# ---------------------------------------------------------------- gpufleet check: the required status

def test_pr_runs_gpufleet_check_per_stack_and_uploads_sarif_to_code_scanning():
    pr = load("pr.yml")
    job = pr["jobs"]["check"]
    assert job["needs"] == ["changes"] and job["runs-on"] == "ubuntu-latest"
    assert job["if"] == "needs.changes.outputs.stacks != '[]'"
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.changes.outputs.stacks) }}"
    assert job["strategy"]["fail-fast"] is False
    assert job["permissions"] == {"contents": "read", "security-events": "write", "actions": "read"}
    assert step(job, uses="actions/setup-python@")["with"]["python-version"] == "3.11"
    install = step(job, name="Install (.venv")
    check = step(job, name="gpufleet check")
    upload = step(job, uses="github/codeql-action/upload-sarif@")
    fail = step(job, name="Fail unless every check passed")
    order = [index(job, s) for s in (install, check, upload, fail)]
    assert order == sorted(order)
    assert './run check "$STACK" --format sarif --output "$RUNNER_TEMP/check.sarif"' in check["run"]
    assert upload["uses"] == "github/codeql-action/upload-sarif@v3"
    assert upload["with"] == {"sarif_file": "${{ runner.temp }}/check.sarif",
                              "category": "gpufleet-check-${{ matrix.stack }}"}
    condition = " ".join(upload["if"].split())
    assert condition.startswith("always() && steps.check.outputs.sarif == 'true'")  # uploaded when the check fails
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition  # forks: no token
    assert " ".join(fail["if"].split()) == "always() && steps.check.outputs.status != '0'"
    assert "exit 1" in fail["run"]
    # the required status: one name whatever the matrix
    result = pr["jobs"]["check-result"]
    assert result["name"] == "gpufleet check" and result["needs"] == ["changes", "check"] and result["if"] == "always()"
    assert "permissions" not in result  # the workflow's contents: read


def _check_step_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(FIXTURE_ROOT, project, ignore=shutil.ignore_patterns(".hypothesis", "__pycache__"))
    return project


@pytest.mark.parametrize("broken", [False, True])
def test_check_step_writes_the_sarif_and_the_summary_and_reports_the_status(tmp_path, broken):
    """The step as GitHub runs it, on a copy of the fixture project (``./run`` is this
    interpreter's gpufleet): exit 0, or 1 for a stack with a mandatory policy violation; the
    SARIF is written either way (the upload and the failing step come after)."""
    script = step(load("pr.yml")["jobs"]["check"], name="gpufleet check")["run"]
    project = _check_step_project(tmp_path)
    if broken:
        raw = edit(raw_config("dev"), "gpufleet:network.nat", "per_az")
        (project / STACK_FOLDER / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": raw}))
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    summary = temp / "summary.md"
    outputs = _run_step(script, project, {"RUNNER_TEMP": str(temp), "STACK": "dev", "PYTHONPATH": str(ROOT),
                                          "GITHUB_STEP_SUMMARY": str(summary)})
    assert outputs == {"status": "1" if broken else "0", "sarif": "true"}
    sarif = json.loads((temp / "check.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    if broken:
        assert [r["ruleId"] for r in results] == ["single-nat-outside-prod"]
        assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == stack_source("dev")
        assert ":x: gpufleet check" in summary.read_text()
    else:
        assert results == [] and ":white_check_mark: gpufleet check" in summary.read_text()


@pytest.mark.parametrize("changes, check, passes", [
    ("success", "success", True), ("success", "skipped", True),  # no stack selected: nothing to check
    ("success", "failure", False), ("success", "cancelled", False), ("failure", "skipped", False),
])
def test_the_required_status_sums_up_every_stacks_check(tmp_path, changes, check, passes):
    script = step(load("pr.yml")["jobs"]["check-result"], name="Every changed stack passed")["run"]
    env = {"RUNNER_TEMP": str(tmp_path), "CHANGES": changes, "CHECK": check}
    if passes:
        _run_step(script, tmp_path, env, stub=True)
    else:
        with pytest.raises(subprocess.CalledProcessError):
            _run_step(script, tmp_path, env, stub=True)


def test_ci_runs_the_tests_then_checks_the_projects_stacks():
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip().startswith("./run")]
    assert commands == ["./run test", "./run check --all"]
    assert "set -euo pipefail" in (ROOT / ".ci" / "run").read_text()  # a failing test stops CI before the check


def test_the_pr_flow_doc_makes_check_the_required_status():
    text = pr_flow_doc()
    for phrase in ("### The required check: `gpufleet check`", "the required status for stack changes",
                   "github/codeql-action/upload-sarif@v3", "security-events: write", "./run check --all",
                   "requiring the `Offline tests` check, the **`gpufleet check`** check", "code scanning",
                   "tests/fixtures/"):
        assert phrase in text, phrase
    # every check the command runs is in the doc's table
    from gpufleet.check import CHECKS

    for name in CHECKS:
        assert f"| `{name}` |" in text, name


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


def _run_step(script: str, cwd: Path, env: dict[str, str], stub: bool = False) -> dict[str, str]:
    """Run a workflow step's shell script as GitHub does (bash -eo pipefail); its GITHUB_OUTPUT.
    ``./run`` becomes this interpreter's ``-m gpufleet`` (the venv is already set up), or
    with ``stub`` stays the ``./run`` in ``cwd``."""
    out = Path(env["RUNNER_TEMP"]) / "github_output"
    out.write_text("")
    if not stub:
        script = script.replace("./run ", f"{sys.executable} -m gpufleet ")
    subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, check=True,
                   capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(out), **env})
    return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)


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
    outputs = _run_step(script, ROOT, {"RUNNER_TEMP": str(tmp_path), "PYTHONPATH": str(ROOT)})
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
    outputs = _run_step(script, cwd, {"RUNNER_TEMP": str(tmp_path), "STACK": "dev"}, stub=True)
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
        _run_step(script, cwd, {"RUNNER_TEMP": str(tmp_path), "STACK": "dev"}, stub=True)
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
    outputs = _run_step(script, tmp_path, env, stub=True)
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
    _run_step(script, tmp_path, {"RUNNER_TEMP": str(tmp_path), "PATH": f"{bin_dir}:/usr/bin:/bin"}, stub=True)
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
    outputs = _run_step(script, repo, {"RUNNER_TEMP": str(temp), "STACK": "dev", "BASE_SHA": base_sha}, stub=True)
    assert outputs["exists"] == "true"
    assert json.loads((temp / "base-plan.json").read_text()) == {"stack": "dev", "resources": [], "from": "base"}
    assert (temp / "base-stack" / "Pulumi.dev.yaml").read_text() == "config: {}\n"
    temp = tmp_path / "temp-new"
    temp.mkdir()
    outputs = _run_step(script, repo, {"RUNNER_TEMP": str(temp), "STACK": "eu", "BASE_SHA": base_sha}, stub=True)
    assert outputs["exists"] == "false"
    assert json.loads((temp / "base-plan.json").read_text()) == {"project": "gpufleet", "stack": "eu", "resources": []}


@pytest.fixture(scope="module")
def matrix_script() -> str:
    return step(load("changed-stacks.yml")["jobs"]["changes"], name="Stack matrix")["run"]


@pytest.mark.parametrize("changed, stacks, prod", [
    ([stack_source("dev")], ["dev"], []),
    ([stack_source("prod-eu"), "README.md"], ["prod-eu"], ["prod-eu"]),
    (["docs/readme/6-pr-flow.md", "tests/test_diff.py", "benchmarks/run.py", f"{STACK_FOLDER}/fleet.yaml"], [], []),
    (["modules/nodepool.py"], ["dev", "prod", "prod-eu", "staging"], ["prod", "prod-eu"]),
    (["requirements.lock"], ["dev", "prod", "prod-eu", "staging"], ["prod", "prod-eu"]),
    ([stack_source("gone")], [], []),  # a deleted stack has nothing to preview
])
def test_changed_stacks_matrix(tmp_path, matrix_script, changed, stacks, prod):
    (tmp_path / "stacks").mkdir()
    for s in ("dev", "staging", "prod", "prod-eu"):
        (tmp_path / "stacks" / f"Pulumi.{s}.yaml").write_text("config: {}\n")
    (tmp_path / "changed.txt").write_text("\n".join(changed) + "\n")
    outputs = _run_step(matrix_script, tmp_path, {"RUNNER_TEMP": str(tmp_path)})
    assert json.loads(outputs["stacks"]) == stacks
    env_step = step(load("changed-stacks.yml")["jobs"]["changes"], name="Environments")["run"]
    outputs = _run_step(env_step.replace("python scripts/", f"{sys.executable} {ROOT}/scripts/"), tmp_path,
                        {"RUNNER_TEMP": str(tmp_path), "STACKS": json.dumps(stacks)})
    assert json.loads(outputs["prod"]) == prod
    assert json.loads(outputs["nonprod"]) == [s for s in stacks if s not in prod]


@pytest.mark.parametrize("stack, env", [("prod", "prod"), ("prod-eu", "prod"), ("eu-prod", "prod"), ("dev", "nonprod"),
                                        ("research-dev", "nonprod"), ("staging", "nonprod")])
def test_the_approval_gate_uses_the_stack_name_rule(stack, env):
    """CI's prod gate and the config/pack environment come from one function."""
    import importlib.util

    from gpufleet.modules.environments import environment_of

    spec = importlib.util.spec_from_file_location("ci_runners", ROOT / "scripts" / "ci_runners.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    split, unknown = mod.environments([stack])
    assert unknown == [] and stack in split[env]
    assert (environment_of(stack) == "prod") == (env == "prod")
    assert mod.environments(["qa"]) == ({"prod": [], "nonprod": []}, ["qa"])


def test_deploy_runs_pulumi_up_on_merge_with_prod_behind_an_environment():
    wf = load("deploy.yml")
    assert wf["on"]["push"] == {"branches": ["main"]}
    assert "concurrency" not in wf  # per-stack groups on the jobs
    changes = wf["jobs"]["changes"]
    assert changes["uses"] == "./.github/workflows/changed-stacks.yml"
    assert changes["with"]["base"] == "${{ github.event_name == 'push' && github.event.before || '' }}"
    deploy, prod = wf["jobs"]["deploy"], wf["jobs"]["deploy-prod"]
    assert deploy["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.changes.outputs.nonprod) }}"
    assert prod["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.changes.outputs.prod) }}"
    assert prod["environment"] == {"name": "prod"}
    assert deploy["environment"] == {"name": "${{ matrix.stack }}"}
    assert prod["needs"] == ["changes", "deploy"]  # production after the other stacks
    assert "needs.changes.result == 'success'" in prod["if"]  # no deploy on a failed stack matrix
    for job in (deploy, prod):
        assert job["concurrency"] == {"group": "deploy-${{ matrix.stack }}", "cancel-in-progress": False}
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        up = step(job, uses="pulumi/actions@")
        assert (up["with"]["command"], up["with"]["policyPacks"], up["with"]["upsert"]) == ("up", "policies", True)
        assert './run plan "$STACK" --json' in step(job, name="Offline plan")["run"]
        assert step(job, uses="aws-actions/configure-aws-credentials@")["with"]["role-to-assume"] == \
            "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert deploy["steps"] == prod["steps"]  # one list of steps (a YAML anchor)


def test_the_pr_flow_doc_covers_the_setup_the_workflows_need():
    text = pr_flow_doc()
    names = set()
    for f in FILES:
        names |= set(re.findall(r"\b(?:vars|secrets)\.([A-Z_]+)", f.read_text()))
    assert names == {"AWS_PREVIEW_ROLE_ARN", "AWS_DEPLOY_ROLE_ARN", "PULUMI_ACCESS_TOKEN", "PULUMI_ORG", "GITHUB_TOKEN"}
    for name in names - {"GITHUB_TOKEN"}:
        assert name in text, name
    for phrase in ("allow-replace", "Required reviewers", "token.actions.githubusercontent.com", "gpufleet diff"):
        assert phrase in text, phrase


# --- Where the jobs that reach a cluster's API run, and the pack's per-stack config ---------

RUNNERS = "${{ fromJSON(needs.changes.outputs.runners)[matrix.stack] }}"
RUNNERS_SCRIPT = ROOT / "scripts" / "ci_runners.py"
#: the stack whose endpoint is private and which the test stacks below are made from
PRIVATE = "prod"


def _ci_runners_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("ci_runners", RUNNERS_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pulumi_jobs() -> dict[tuple[str, str], dict]:
    """Every job with a ``pulumi/actions`` step (it reaches the cluster's API), by (file, job)."""
    return {(f.name, name): job for f in FILES for name, job in load(f.name)["jobs"].items()
            if any(s.get("uses", "").startswith("pulumi/actions@") for s in job.get("steps", []))}


def test_jobs_that_reach_a_cluster_run_on_the_runner_their_stack_chooses():
    jobs = pulumi_jobs()
    assert set(jobs) == {("pr.yml", "preview"), ("deploy.yml", "deploy"), ("deploy.yml", "deploy-prod")}
    for (wf, name), job in jobs.items():
        assert job["runs-on"] == RUNNERS, f"{wf}:{name} runs on {job['runs-on']!r}, not the stack's ci_runner"
        assert "changes" in job["needs"] and "needs.changes.outputs." in job["strategy"]["matrix"]["stack"]
        # a self-hosted or CodeBuild runner may lack Python 3.11 and jq: the job installs Python, uses no jq
        assert step(job, uses="actions/setup-python@")["with"]["python-version"] == "3.11"
        for s in job["steps"]:
            assert not re.search(r"(^|[\s|;(])jq\s", s.get("run", "")), f"{wf}:{name}: {s.get('name')} uses jq"
    # the offline jobs stay on GitHub-hosted runners
    assert load("pr.yml")["jobs"]["test"]["runs-on"] == "ubuntu-latest"
    assert load("changed-stacks.yml")["jobs"]["changes"]["runs-on"] == "ubuntu-latest"


def test_changed_stacks_outputs_the_runner_of_each_selected_stack():
    wf = load("changed-stacks.yml")
    assert wf["on"]["workflow_call"]["outputs"]["runners"]["value"] == "${{ jobs.changes.outputs.runners }}"
    job = wf["jobs"]["changes"]
    assert job["outputs"]["runners"] == "${{ steps.runners.outputs.runners }}"
    setup = step(job, uses="actions/setup-python@")
    install = step(job, name="Install PyYAML")
    runners = step(job, name="Runners")
    matrix = step(job, name="Stack matrix")
    assert index(job, matrix) < index(job, setup) < index(job, install) < index(job, runners)
    assert runners["id"] == "runners" and runners["env"] == {"STACKS": "${{ steps.matrix.outputs.stacks }}"}
    # PyYAML at the version requirements.lock pins (setup-python: Ubuntu's own Python refuses pip installs)
    locked = re.search(r"^PyYAML==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M | re.I).group(1)
    assert install["run"].split() == ["python", "-m", "pip", "install", "--disable-pip-version-check",
                                      f"pyyaml=={locked}"]
    assert "scripts/ci_runners.py" in runners["run"]
    # in the callers, the jobs read it from the `changes` job that calls this workflow
    for wf_name in ("pr.yml", "deploy.yml"):
        assert load(wf_name)["jobs"]["changes"]["uses"] == "./.github/workflows/changed-stacks.yml"


def _run_runners_step(cwd: Path, tmp_path: Path, stacks: list[str]) -> dict[str, list[str]]:
    """The changed-stacks Runners step as GitHub runs it: ``python`` is the setup-python
    interpreter (here this one, which has PyYAML), the run id and attempt are GitHub's."""
    script = step(load("changed-stacks.yml")["jobs"]["changes"], name="Runners")["run"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python").exists():
        (bin_dir / "python").symlink_to(sys.executable)
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    outputs = _run_step(script, cwd, {"RUNNER_TEMP": str(temp), "PATH": f"{bin_dir}:/usr/bin:/bin",
                                      "STACKS": json.dumps(stacks), "GITHUB_RUN_ID": "8123456789",
                                      "GITHUB_RUN_ATTEMPT": "2"}, stub=True)
    return json.loads(outputs["runners"])


def _schema_runs_on(stack_file: Path) -> list[str]:
    cfg, _ = stack_config.from_file(stack_file, f"{STACK_FOLDER}/{stack_file.name}")
    return cfg.cluster.ci_runner.runs_on("8123456789", "2")


def test_runners_of_the_shipped_stacks(tmp_path):
    """The fixture project's stacks (copies of the shipped ones) in a repository with the script."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE_ROOT, repo)
    (repo / "scripts").mkdir()
    shutil.copy(RUNNERS_SCRIPT, repo / "scripts" / "ci_runners.py")
    stacks = STACKS
    runners = _run_runners_step(repo, tmp_path, stacks)
    assert runners == {s: _schema_runs_on(repo / STACK_FOLDER / f"Pulumi.{s}.yaml") for s in stacks}
    # prod's API is private: its jobs run on the CodeBuild-hosted runner of this workflow run
    assert runners["prod"] == ["codebuild-gpufleet-prod-runner-8123456789-2"]
    assert runners["dev"] == runners["staging"] == ["ubuntu-latest"]  # no ci_runner key: the default
    assert _run_runners_step(repo, tmp_path, []) == {}


def test_runners_of_private_endpoint_codebuild_and_self_hosted_stacks(tmp_path):
    """Stack files made from prod (private endpoint) with a CodeBuild and a self-hosted runner,
    and one without the key: the step yields what CiRunner.runs_on gives for each."""
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    (repo / "scripts").mkdir()
    shutil.copy(RUNNERS_SCRIPT, repo / "scripts" / "ci_runners.py")
    variants = {
        "prod-eu": {"kind": "codebuild", "project": "gpufleet-prod-eu-runner"},
        "prod-onprem": {"kind": "self-hosted", "labels": ["linux", "gpufleet-vpc", "self-hosted"]},
        "dev": None,
    }
    for stack, ci_runner in variants.items():
        raw = raw_config(PRIVATE if ci_runner else "dev")
        if ci_runner:
            assert raw["gpufleet:cluster"]["endpoint"]["public"] is False
            edit(raw, "gpufleet:cluster.ci_runner", ci_runner)
        (repo / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": raw}))
    runners = _run_runners_step(repo, tmp_path, sorted(variants))
    assert runners == {s: _schema_runs_on(repo / "stacks" / f"Pulumi.{s}.yaml") for s in variants}
    assert runners == {"prod-eu": ["codebuild-gpufleet-prod-eu-runner-8123456789-2"],
                       "prod-onprem": ["self-hosted", "linux", "gpufleet-vpc"],
                       "dev": ["ubuntu-latest"]}


@pytest.mark.parametrize("ci_runner, message", [
    ({"kind": "codebuild"}, "gpufleet:cluster.ci_runner.project: missing"),
    ({"kind": "self-hosted", "labels": ["gpu vpc"]}, "gpufleet:cluster.ci_runner.labels[0]: got 'gpu vpc'"),
    ({"kind": "codebuild", "project": "p1", "labels": ["x"]}, "expected no labels with kind: codebuild"),
])
def test_runners_step_fails_on_a_ci_runner_the_schema_refuses(tmp_path, ci_runner, message):
    """A job whose runs-on names no runner would wait for one: the step fails, naming the file."""
    raw = edit(raw_config(PRIVATE), "gpufleet:cluster.ci_runner", ci_runner)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": raw}))
    (tmp_path / "scripts").mkdir()
    shutil.copy(RUNNERS_SCRIPT, tmp_path / "scripts" / "ci_runners.py")
    with pytest.raises(subprocess.CalledProcessError) as failed:
        _run_runners_step(tmp_path, tmp_path, ["bad"])
    error = next(line for line in failed.value.stderr.splitlines() if line.startswith("::error"))
    assert error.startswith(f"::error file={stack_source('bad')}::stack bad: gpufleet:cluster.ci_runner.")
    assert message in error
    with pytest.raises(stack_config.ConfigError):  # the stack schema refuses it too
        _schema_runs_on(tmp_path / "stacks" / "Pulumi.bad.yaml")


_good_label = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,12}\Z")
_good_project = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{1,20}\Z")
#: values the schema accepts, one strategy per kind (the default kind: key absent)
_good_ci_runner = st.one_of(
    st.fixed_dictionaries({"kind": st.just("codebuild"), "project": _good_project}),
    st.fixed_dictionaries({"kind": st.just("self-hosted")}, optional={"labels": st.lists(
        st.one_of(_good_label, st.just("self-hosted")), max_size=3)}),
    st.fixed_dictionaries({}, optional={"kind": st.just("github-hosted"), "labels": st.lists(_good_label, max_size=1),
                                        "project": st.none()}),
)
_label = st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,12}\Z"), st.sampled_from(["self-hosted", "", "a b"]),
                   st.integers(0, 3))
_ci_runner = st.fixed_dictionaries({}, optional={
    "kind": st.sampled_from(["github-hosted", "self-hosted", "codebuild", "CodeBuild", None]),
    "labels": st.one_of(st.lists(_label, max_size=3), st.just("ubuntu-latest"), st.none()),
    "project": st.one_of(st.none(), st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{1,20}\Z"),
                         st.sampled_from(["x", "-p", "a.b", "p\n"]), st.integers(10, 99)),
    "size": st.just("large"),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ci_runner=st.one_of(_good_ci_runner, _ci_runner))
def test_the_runners_script_agrees_with_the_stack_schema(ci_runner):
    """The workflow's PyYAML-only script and ``CiRunner`` accept the same values and give the
    same labels (the script cannot import the project: the `changes` job does not install it)."""
    from pydantic import ValidationError

    from gpufleet.modules.schema.foundation import CiRunner
    script = _ci_runners_module()
    try:
        expected = CiRunner.model_validate(ci_runner).runs_on("77", "3")
    except ValidationError:
        with pytest.raises(script.RunnerError):
            script.runs_on(ci_runner, "77", "3")
    else:
        assert script.runs_on(ci_runner, "77", "3") == expected


def test_every_pulumi_step_passes_the_stacks_policy_pack_config():
    for (wf, name), job in pulumi_jobs().items():
        pulumi = step(job, uses="pulumi/actions@")
        assert pulumi["with"]["policyPacks"] == "policies", f"{wf}:{name}"
        assert pulumi["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json", f"{wf}:{name}"
        check = step(job, name="Policy pack config")
        assert index(job, check) < index(job, pulumi), f"{wf}:{name}: the config is checked before Pulumi runs"


@pytest.mark.parametrize("workflow, job", [("pr.yml", "preview"), ("deploy.yml", "deploy")])
@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_policy_pack_config_step_passes_for_the_shipped_stacks(tmp_path, workflow, job, stack):
    script = step(load(workflow)["jobs"][job], name="Policy pack config")["run"]
    assert (FIXTURE_POLICY_CONFIG / f"{stack}.json").is_file()
    _run_step(script, FIXTURE_ROOT, {"RUNNER_TEMP": str(tmp_path), "STACK": stack, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("workflow, job", [("pr.yml", "preview"), ("deploy.yml", "deploy")])
@pytest.mark.parametrize("case", ["missing", "stale"])
def test_policy_pack_config_step_fails_without_the_stacks_config(tmp_path, workflow, job, case):
    """A stack without policies/config/<stack>.json (or with a stale one) fails the job with
    an ::error:: instead of letting CrossGuard fall back to default budgets. ``./run`` is a
    stub printing the config that ``gpufleet policy <stack> --config`` would."""
    script = step(load(workflow)["jobs"][job], name="Policy pack config")["run"]
    (tmp_path / "policies" / "config").mkdir(parents=True)
    if case == "stale":
        (tmp_path / "policies" / "config" / "eu.json").write_text('{"budgetUsd": 5000}\n')
    stub = tmp_path / "run"
    stub.write_text('#!/bin/sh\n[ "$*" = "policy eu --config" ] || exit 9\necho \'{"budgetUsd": 90000}\'\n')
    stub.chmod(0o755)
    with pytest.raises(subprocess.CalledProcessError) as failed:
        _run_step(script, tmp_path, {"RUNNER_TEMP": str(tmp_path), "STACK": "eu"}, stub=True)
    if case == "missing":
        assert (f"::error file={stack_source('eu')}::stack eu has no policy pack config policies/config/eu.json"
                in failed.value.stdout)
    else:
        assert "::error file=policies/config/eu.json::policies/config/eu.json is stale" in failed.value.stdout
    (tmp_path / "policies" / "config" / "eu.json").write_text('{"budgetUsd": 90000}\n')
    _run_step(script, tmp_path, {"RUNNER_TEMP": str(tmp_path), "STACK": "eu"}, stub=True)


def test_the_pr_flow_doc_covers_runners_and_the_policy_pack_config():
    text = pr_flow_doc()
    for phrase in ("gpufleet:cluster.ci_runner", "kind: codebuild", "kind: self-hosted", "gpufleet-prod-runner",
                   "public_cidrs", "private subnets", "policies/config/<stack>.json", "--policy-pack-config"):
        assert phrase in text, phrase
    for line in README.read_text().splitlines():
        if re.match(r"\s*pulumi (preview|up)\b.*--policy-pack policies", line):
            assert "--policy-pack-config policies/config/" in line, line
