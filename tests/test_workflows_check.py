"""``gpufleet check`` in CI: pr.yml's per-stack check job uploads SARIF to code scanning and
sums up into one required status; ``.ci/run`` runs the suite, then the check; the README's PR
flow documents it. The check step's shell script is run here on a copy of the fixture project."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .helpers import DAYS_AHEAD_ENV, FIXTURE_ROOT, STACK_FOLDER, edit, raw_config, stack_source
from .workflows_support import ROOT, index, load, pr_flow_doc, run_step, step


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
    outputs = run_step(script, project, {"RUNNER_TEMP": str(temp), "STACK": "dev", "PYTHONPATH": str(ROOT),
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
        run_step(script, tmp_path, env, stub=True)
    else:
        with pytest.raises(subprocess.CalledProcessError):
            run_step(script, tmp_path, env, stub=True)


def test_ci_runs_the_tests_then_checks_the_projects_stacks():
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip().startswith("./run")]
    assert commands == ["./run test", "./run check --all"]  # the suite, then the project's stacks
    moved = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip().endswith("./run test") and line.strip() != "./run test"]
    assert moved == [f"{DAYS_AHEAD_ENV}=400 ./run test"]  # and the suite again, 400 days ahead (issue 18)
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
