"""Shared helpers of the GitHub workflow tests (``tests/test_workflows_*.py``): the workflow
files, read as GitHub reads them, their steps, and a step's shell script run as GitHub runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

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


def run_step(script: str, cwd: Path, env: dict[str, str], stub: bool = False) -> dict[str, str]:
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
