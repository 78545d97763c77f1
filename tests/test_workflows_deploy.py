"""The stack matrix and the deploy workflow: changed-stacks.yml picks the stacks a change
touches and splits them into prod and non-prod by the stack-name rule; deploy.yml runs
``pulumi up`` on merge, prod behind an environment. The matrix steps run here on real inputs."""

from __future__ import annotations

import json
import sys

import pytest

from .helpers import STACK_FOLDER, stack_source
from .workflows_support import ROOT, load, run_step, step


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
    outputs = run_step(matrix_script, tmp_path, {"RUNNER_TEMP": str(tmp_path)})
    assert json.loads(outputs["stacks"]) == stacks
    env_step = step(load("changed-stacks.yml")["jobs"]["changes"], name="Environments")["run"]
    outputs = run_step(env_step.replace("python scripts/", f"{sys.executable} {ROOT}/scripts/"), tmp_path,
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
