"""Where the workflow jobs that reach a cluster's API run (each stack's
``gpufleet:cluster.ci_runner``, through changed-stacks.yml and ``scripts/ci_runners.py``), and
the policy pack's per-stack config every ``pulumi`` step passes and checks first."""

from __future__ import annotations

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

from .helpers import FIXTURE_POLICY_CONFIG, FIXTURE_ROOT, STACK_FOLDER, STACKS, edit, raw_config, stack_source
from .workflows_support import FILES, README, ROOT, index, load, pr_flow_doc, run_step, step


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
    outputs = run_step(script, cwd, {"RUNNER_TEMP": str(temp), "PATH": f"{bin_dir}:/usr/bin:/bin",
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
    run_step(script, FIXTURE_ROOT, {"RUNNER_TEMP": str(tmp_path), "STACK": stack, "PYTHONPATH": str(ROOT)})


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
        run_step(script, tmp_path, {"RUNNER_TEMP": str(tmp_path), "STACK": "eu"}, stub=True)
    if case == "missing":
        assert (f"::error file={stack_source('eu')}::stack eu has no policy pack config policies/config/eu.json"
                in failed.value.stdout)
    else:
        assert "::error file=policies/config/eu.json::policies/config/eu.json is stale" in failed.value.stdout
    (tmp_path / "policies" / "config" / "eu.json").write_text('{"budgetUsd": 90000}\n')
    run_step(script, tmp_path, {"RUNNER_TEMP": str(tmp_path), "STACK": "eu"}, stub=True)


def test_the_pr_flow_doc_covers_runners_and_the_policy_pack_config():
    text = pr_flow_doc()
    for phrase in ("gpufleet:cluster.ci_runner", "kind: codebuild", "kind: self-hosted", "gpufleet-prod-runner",
                   "public_cidrs", "private subnets", "policies/config/<stack>.json", "--policy-pack-config"):
        assert phrase in text, phrase
    for line in README.read_text().splitlines():
        if re.match(r"\s*pulumi (preview|up)\b.*--policy-pack policies", line):
            assert "--policy-pack-config policies/config/" in line, line
