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

from .conftest import shipped_plan

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
    assert "git show \"$BASE_SHA:stacks/Pulumi.$STACK.yaml\"" in step(job, name="Base plan")["run"]
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


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq (preinstalled on GitHub runners) is not installed")
@pytest.mark.parametrize("exit_code, violations", [(0, []), (1, [
    {"policy": "gpu-pools-scale-to-zero", "level": "mandatory", "resource": "pool-a-ng", "message": "min 2 > 0"}])])
def test_plan_step_keeps_going_on_policy_violations_and_lists_them(tmp_path, exit_code, violations):
    """``./run`` is stubbed at the CLI boundary: it prints a prepared plan and exits."""
    script = step(load("pr.yml")["jobs"]["preview"], name="Offline plan")["run"]
    plan = {"project": "gpufleet", "stack": "dev", "resources": [], "outputs": {},
            "policy": {"pack": "gpufleet", "violations": violations}}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    stub = tmp_path / "run"
    stub.write_text(f'#!/bin/sh\ncat "{tmp_path}/plan.json"\nexit {exit_code}\n')
    stub.chmod(0o755)
    outputs = _run_step(script, tmp_path, {"RUNNER_TEMP": str(tmp_path), "STACK": "dev"}, stub=True)
    assert outputs["status"] == str(exit_code)
    assert (tmp_path / "policy.md").read_text() == "".join(
        f"- **{v['level']}** `{v['policy']}` on `{v['resource']}`: {v['message']}\n" for v in violations)
    fail = step(load("pr.yml")["jobs"]["preview"], name="Fail on mandatory policy violations")
    assert fail["if"] == "always() && steps.plan.outputs.status == '1'"


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
    (["stacks/Pulumi.dev.yaml"], ["dev"], []),
    (["stacks/Pulumi.prod-eu.yaml", "README.md"], ["prod-eu"], ["prod-eu"]),
    (["docs/readme/6-pr-flow.md", "tests/test_diff.py", "benchmarks/run.py", "stacks/fleet.yaml"], [], []),
    (["modules/nodepool.py"], ["dev", "prod", "prod-eu", "staging"], ["prod", "prod-eu"]),
    (["requirements.lock"], ["dev", "prod", "prod-eu", "staging"], ["prod", "prod-eu"]),
    (["stacks/Pulumi.gone.yaml"], [], []),  # a deleted stack has nothing to preview
])
def test_changed_stacks_matrix(tmp_path, matrix_script, changed, stacks, prod):
    (tmp_path / "stacks").mkdir()
    for s in ("dev", "staging", "prod", "prod-eu"):
        (tmp_path / "stacks" / f"Pulumi.{s}.yaml").write_text("config: {}\n")
    (tmp_path / "changed.txt").write_text("\n".join(changed) + "\n")
    outputs = _run_step(matrix_script, tmp_path, {"RUNNER_TEMP": str(tmp_path)})
    assert json.loads(outputs["stacks"]) == stacks
    assert json.loads(outputs["prod"]) == prod
    assert json.loads(outputs["nonprod"]) == [s for s in stacks if s not in prod]


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
