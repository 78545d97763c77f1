"""Set-up and first run (issue #13, section 3): ``./run`` checks the interpreter, rebuilds a
venv made by the wrong one, installs test dependencies only for ``./run test``; CI runs what
``./run test`` runs; the licence."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAND_IN = """#!/bin/sh
# a stand-in interpreter: its version; `-m venv DIR` makes a venv of stand-ins; pip and pytest log
case "$1" in
  -c) echo "{version}" ;;
  -m) case "$2" in
        venv) mkdir -p "$3/bin"; cp "$0" "$3/bin/python"
              printf '#!/bin/sh\\necho gpufleet "$@"\\n' > "$3/bin/gpufleet"; chmod +x "$3/bin/gpufleet" ;;
        pip) shift 2; echo "pip $*" >> "$RUN_LOG" ;;
        pytest) shift 2; echo "pytest $*" ;;
      esac ;;
esac
"""


def _stand_in(path: Path, version: str) -> Path:
    path.write_text(STAND_IN.replace("{version}", version))
    path.chmod(0o755)
    return path


def test_run_checks_the_interpreter_and_installs_runtime_deps_only_for_commands(tmp_path):
    here = tmp_path / "checkout"
    here.mkdir()
    shutil.copy(ROOT / "run", here / "run")
    (here / "pyproject.toml").write_text("")
    (here / "requirements.lock").write_text("")
    log = tmp_path / "pip.log"
    env = {"PATH": os.environ["PATH"], "RUN_LOG": str(log)}

    def run_(*args: str, python: Path):
        return subprocess.run([str(here / "run"), *args], cwd=tmp_path, env={**env, "PYTHON": str(python)},
                              capture_output=True, text=True, timeout=60, check=False)

    old = run_("plan", "dev", python=_stand_in(tmp_path / "python3.10", "3.10"))
    assert (old.returncode, old.stdout) == (2, "")
    assert old.stderr == (f"gpufleet needs Python 3.11 or newer; '{tmp_path}/python3.10' is 3.10: point ./run at "
                          "one, e.g. PYTHON=python3.11 ./run plan dev\n")
    assert not (here / ".venv").exists()
    # a .venv made by Python 3.10 is rebuilt with the interpreter PYTHON names
    (here / ".venv" / "bin").mkdir(parents=True)
    _stand_in(here / ".venv" / "bin" / "python", "3.10")
    first = run_("plan", "dev", python=_stand_in(tmp_path / "python3.11", "3.11"))
    assert first.returncode == 0, first.stderr
    assert first.stdout == "gpufleet plan dev\n"  # in the caller's directory, with its arguments
    assert "rebuilding .venv (it was made by Python 3.10" in first.stderr
    assert "installing gpufleet and its runtime dependencies into .venv" in first.stderr
    assert log.read_text().splitlines() == [(f"pip install --quiet --disable-pip-version-check -c "
                                             f"{here}/requirements.lock -e {here}")]
    again = run_("cost", "dev", python=tmp_path / "python3.11")
    assert again.stderr == "" and len(log.read_text().splitlines()) == 1  # installed once
    tests = run_("test", "-q", python=tmp_path / "python3.11")
    assert tests.stdout == "pytest -n 2 --dist worksteal -q\n"
    assert log.read_text().splitlines()[-1].endswith(f"-e {here}[test]")


def test_ci_runs_what_run_test_runs():
    assert "./run test" in (ROOT / ".ci" / "run").read_text().splitlines()


def test_license_is_apache_2():
    import importlib.metadata as md

    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
    assert md.metadata("gpufleet")["License-Expression"] == "Apache-2.0"
