"""The GitHub workflows: valid against the GitHub workflow schema, AWS reached by OIDC role
assumption only, and the setup they need (variables, secrets, the prod environment) documented
in the README's PR flow."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from .workflows_support import FILES, load, pr_flow_doc


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
