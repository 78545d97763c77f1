"""The ``runs-on`` labels of the CI jobs that reach each stack's cluster API.

``.github/workflows/changed-stacks.yml`` runs this for the selected stacks and passes the
result on as its ``runners`` output, a JSON object ``{stack: [labels...]}``; the ``preview``
(pr.yml) and ``deploy``/``deploy-prod`` (deploy.yml) jobs use
``runs-on: ${{ fromJSON(needs.changes.outputs.runners)[matrix.stack] }}``.

The labels come from the stack file's ``gpufleet:cluster.ci_runner``, exactly as
``modules.schema.foundation.CiRunner.runs_on`` builds them (tests/test_workflows_runners.py checks
that both agree, and that this script refuses what the model refuses). This file needs only
PyYAML, so the workflow's offline job runs it without installing the project:

    python scripts/ci_runners.py --run-id "$GITHUB_RUN_ID" --run-attempt "$GITHUB_RUN_ATTEMPT" dev prod
    {"dev":["ubuntu-latest"],"prod":["codebuild-gpufleet-prod-runner-123-1"]}

A bad ``ci_runner`` prints a GitHub ``::error`` line naming the stack file and exits 2 (a job
with unusable labels would otherwise wait for a runner that never comes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import yaml

KINDS = ("github-hosted", "self-hosted", "codebuild")
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,254}")
KEY = "gpufleet:cluster.ci_runner"


class RunnerError(ValueError):
    """A ``ci_runner`` value the stack schema (CiRunner) refuses."""


def runs_on(ci_runner: object, run_id: str, attempt: str) -> list[str]:
    """The ``runs-on`` labels for one stack's ``ci_runner`` value (``None``: the key is absent)."""
    if ci_runner is None:
        return ["ubuntu-latest"]
    if not isinstance(ci_runner, dict):
        raise RunnerError(f"{KEY}: got {ci_runner!r}, expected a mapping (kind, labels, project)")
    unknown = sorted(map(str, set(ci_runner) - {"kind", "labels", "project"}))
    if unknown:
        raise RunnerError(f"{KEY}.{unknown[0]}: unknown key, expected kind, labels or project")
    kind = ci_runner.get("kind", "github-hosted")
    labels = ci_runner.get("labels", [])
    project = ci_runner.get("project")
    if kind not in KINDS:
        raise RunnerError(f"{KEY}.kind: got {kind!r}, expected one of {', '.join(KINDS)}")
    if not isinstance(labels, list):
        raise RunnerError(f"{KEY}.labels: got {labels!r}, expected a list of runner labels")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not LABEL.fullmatch(label):
            raise RunnerError(f"{KEY}.labels[{i}]: got {label!r}, expected a runner label of letters, digits, "
                              "'.', '_' and '-'")
    if project is not None and (not isinstance(project, str) or not PROJECT.fullmatch(project)):
        raise RunnerError(f"{KEY}.project: got {project!r}, expected a CodeBuild project name")
    if kind == "codebuild":
        if project is None:
            raise RunnerError(f"{KEY}.project: missing, expected the CodeBuild project name of the runner")
        if labels:
            raise RunnerError(f"{KEY}.labels: got {labels!r}, expected no labels with kind: codebuild")
        return [f"codebuild-{project}-{run_id}-{attempt}"]
    if project is not None:
        raise RunnerError(f"{KEY}.project: got {project!r}, expected it only with kind: codebuild")
    if kind == "self-hosted":
        return ["self-hosted", *(label for label in labels if label != "self-hosted")]
    if len(labels) > 1:
        raise RunnerError(f"{KEY}.labels: got {labels!r}, expected one image label for a GitHub-hosted runner")
    return list(labels) or ["ubuntu-latest"]


def stack_runs_on(stack_file: Path, run_id: str, attempt: str) -> list[str]:
    """The labels for one stack file (``RunnerError`` when it is missing, unreadable or wrong)."""
    try:
        doc = yaml.safe_load(stack_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise RunnerError(f"cannot read the stack file: {e}".replace("\n", " ")) from e
    config = doc.get("config") if isinstance(doc, dict) else None
    cluster = (config or {}).get("gpufleet:cluster") if isinstance(config or {}, dict) else None
    if not isinstance(cluster, dict) or "ci_runner" not in cluster:
        return runs_on(None, run_id, attempt)
    ci_runner = cluster["ci_runner"]
    if ci_runner is None:
        raise RunnerError(f"{KEY}: got null, expected a mapping (kind, labels, project)")
    return runs_on(ci_runner, run_id, attempt)


def environments(stacks: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """({"prod": [...], "nonprod": [...]}, stacks whose name says no environment), by the
    rule the config and the policy pack apply (``modules.environments.environment_of``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gpufleet.modules.environments import environment_of

    out: dict[str, list[str]] = {"prod": [], "nonprod": []}
    unknown = []
    for stack in sorted(set(stacks)):
        env = environment_of(stack)
        if env is None:
            unknown.append(stack)
        else:
            out["prod" if env == "prod" else "nonprod"].append(stack)
    return out, unknown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", help="stack names (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--stacks-json", help="the stacks as a JSON list (the changed-stacks `stacks` output)")
    parser.add_argument("--stacks-dir", type=Path, default=Path("stacks"))
    parser.add_argument("--run-id", default=os.environ.get("GITHUB_RUN_ID", ""))
    parser.add_argument("--run-attempt", default=os.environ.get("GITHUB_RUN_ATTEMPT", ""))
    parser.add_argument("--environments", action="store_true",
                        help="print prod=[...] and nonprod=[...] (GITHUB_OUTPUT lines) by the stacks' names")
    args = parser.parse_args(argv)
    stacks = list(args.stacks) + (json.loads(args.stacks_json) if args.stacks_json else [])
    if args.environments:
        split, unknown = environments(stacks)
        for stack in unknown:
            print(f"::error file={args.stacks_dir / f'Pulumi.{stack}.yaml'}::stack {stack}: its name says no "
                  "environment (dev, staging or prod, alone or as its first or last dash-separated word)",
                  file=sys.stderr)
        if unknown:
            return 2
        for key in ("prod", "nonprod"):
            print(f"{key}={json.dumps(split[key], separators=(',', ':'))}")
        return 0
    runners, failed = {}, False
    for stack in stacks:
        path = args.stacks_dir / f"Pulumi.{stack}.yaml"
        try:
            labels = stack_runs_on(path, args.run_id, args.run_attempt)
            if labels[0].startswith("codebuild-") and not (args.run_id and args.run_attempt):
                raise RunnerError("kind: codebuild needs --run-id and --run-attempt "
                                  "(GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT)")
        except RunnerError as e:
            print(f"::error file={path}::stack {stack}: {e}", file=sys.stderr)
            failed = True
            continue
        runners[stack] = labels
    if failed:
        return 2
    print(json.dumps(runners, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
