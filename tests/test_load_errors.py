"""``config.load()``, what ``pulumi up`` runs through the shipped ``__main__.py`` (and what
``gpufleet.build()`` without a config uses), names the stack file where Pulumi finds it.

Pulumi runs the program with the project's directory as the current one, and reads the stack
file from the project's ``stackConfigDir`` (or next to ``Pulumi.yaml`` without one). Each case
is a temp project of a team's own, with the shipped ``__main__.py`` (or a program calling
``gpufleet.build()``), run under the recording mock engine with a bad value: one line that
names ``<stackConfigDir>/Pulumi.<stack>.yaml``, a ConfigError and a ``pulumi.RunError`` (Pulumi
prints the line, no traceback), before any resource is declared."""

from __future__ import annotations

import json
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import yaml

import gpufleet
from gpufleet import api, engine, project
from gpufleet.modules import config as stack_config
from gpufleet.modules import config_errors

from .helpers import ROOT, edit, raw_config

PROJECT = "acme-gpu"
BAD = ("gpufleet:pools.gpu[0].replicas", 1)
#: the start of the message of BAD, after the file's name
BAD_MESSAGE = ": gpufleet:pools.gpu[0].replicas: got 1; "
LIBRARY_PROGRAM = "import gpufleet\n\ngpufleet.build().export()\n"


def _project(root: Path, stack: str, raw: dict, *, config_dir: str | None, main: str | None = None,
             program: str | None = None) -> Path:
    """A Pulumi project at ``root`` (its stack file in ``config_dir``, or next to Pulumi.yaml) with
    the shipped ``__main__.py`` (or ``program``) in ``main``; the directory Pulumi runs it in."""
    doc: dict = {"name": PROJECT, "runtime": "python"}
    if config_dir is not None:
        doc["stackConfigDir"] = config_dir
    if main is not None:
        doc["main"] = main
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    stacks = root / config_dir if config_dir is not None else root
    stacks.mkdir(parents=True, exist_ok=True)
    (stacks / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": raw}, sort_keys=False))
    program_dir = root / main if main is not None else root
    program_dir.mkdir(parents=True, exist_ok=True)
    if program is None:
        shutil.copy(ROOT / "__main__.py", program_dir / "__main__.py")
    else:
        (program_dir / "__main__.py").write_text(program)
    return program_dir


def _run(program_dir: Path, stack: str, raw: dict, monkeypatch) -> tuple[BaseException, engine.RecordingMonitor]:
    """Run ``program_dir/__main__.py`` as ``pulumi up`` would (its directory the current one) under
    the recording mock engine; the error it stops with."""
    monkeypatch.chdir(program_dir)
    monitor = engine.install(PROJECT, stack, raw, "us-east-1")
    stack_config.forget()

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__")

    with pytest.raises(Exception) as info:
        program()
    return info.value, monitor


def _assert_one_line_config_error(error: BaseException, source: str, rest: str = BAD_MESSAGE) -> None:
    message = str(error)
    assert message.startswith(source + rest), message
    assert "\n" not in message
    assert isinstance(error, config_errors.ConfigError) and isinstance(error, pulumi.RunError), type(error).__mro__
    assert isinstance(error, gpufleet.PlatformConfigError)
    assert (error.source, error.key_path, error.given) == (source, BAD[0], 1)


def _bad_dev() -> dict:
    return edit(raw_config("dev"), *BAD)


# ---------------------------------------------------------------- the shipped program

@pytest.mark.parametrize(("config_dir", "main", "expected"), [
    ("config", None, "config/Pulumi.dev.yaml"),
    ("deploy/stack-config", None, "deploy/stack-config/Pulumi.dev.yaml"),
    (None, None, "Pulumi.dev.yaml"),  # without stackConfigDir: next to Pulumi.yaml
    ("config", "infra", "config/Pulumi.dev.yaml"),  # `main: infra`: the program below the project
], ids=["stackConfigDir", "nested-stackConfigDir", "no-stackConfigDir", "main-subfolder"])
def test_the_shipped_program_names_the_stack_file_where_pulumi_reads_it(tmp_path, monkeypatch, config_dir, main,
                                                                        expected):
    raw = _bad_dev()
    program_dir = _project(tmp_path / "team-project", "dev", raw, config_dir=config_dir, main=main)
    error, monitor = _run(program_dir, "dev", raw, monkeypatch)
    _assert_one_line_config_error(error, expected)
    assert (tmp_path / "team-project" / expected).is_file()  # the file named is the stack's file
    assert monitor.records == {}  # stopped before any resource


def test_the_stack_name_rule_names_the_projects_stack_file_and_is_not_cached_past_a_failure(tmp_path, monkeypatch):
    """A prod stack whose config says dev: the line names config/Pulumi.prod.yaml, and a second
    load() in the same process (cached per stack) refuses again rather than returning it."""
    raw = raw_config("dev")
    program_dir = _project(tmp_path / "team-project", "prod", raw, config_dir="config")
    error, _monitor = _run(program_dir, "prod", raw, monkeypatch)
    rest = ": gpufleet:environment: got 'dev'; expected 'prod', the environment the stack name 'prod' says"
    assert str(error).startswith("config/Pulumi.prod.yaml" + rest), str(error)
    assert isinstance(error, config_errors.ConfigError) and isinstance(error, pulumi.RunError)

    @pulumi.runtime.test
    def again():
        stack_config.load()

    with pytest.raises(config_errors.PlatformConfigError, match=re.escape("config/Pulumi.prod.yaml" + rest)):
        again()


def test_outside_any_project_the_message_names_the_repositorys_stack_folder(tmp_path, monkeypatch):
    """No Pulumi.yaml at or above the current directory (not what ``pulumi up`` does, but a
    program run by hand): the stack folder of this repository's project, as before."""
    lone = tmp_path / "no-project"
    lone.mkdir()
    if project.find_optional(lone) is not None:
        pytest.skip(f"a Pulumi.yaml above {lone}")
    shutil.copy(ROOT / "__main__.py", lone / "__main__.py")
    raw = _bad_dev()
    error, _monitor = _run(lone, "dev", raw, monkeypatch)
    repo_folder = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["stackConfigDir"]
    _assert_one_line_config_error(error, f"{repo_folder}/Pulumi.dev.yaml")


def test_a_broken_pulumi_yaml_does_not_hide_the_config_error(tmp_path, monkeypatch):
    """A Pulumi.yaml gpufleet cannot read as a project (Pulumi would refuse it first): the config
    error still comes, one line, naming the repository's stack folder rather than failing on the
    project file."""
    raw = _bad_dev()
    program_dir = _project(tmp_path / "team-project", "dev", raw, config_dir="config")
    (tmp_path / "team-project" / "Pulumi.yaml").write_text("runtime: python\n")  # no name
    error, _monitor = _run(program_dir, "dev", raw, monkeypatch)
    repo_folder = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["stackConfigDir"]
    _assert_one_line_config_error(error, f"{repo_folder}/Pulumi.dev.yaml")


# ---------------------------------------------------------------- gpufleet.build() without a config

def test_build_without_a_config_raises_the_typed_paths_error_naming_the_projects_stack_file(tmp_path, monkeypatch):
    raw = _bad_dev()
    program_dir = _project(tmp_path / "team-project", "dev", raw, config_dir="config", program=LIBRARY_PROGRAM)
    error, monitor = _run(program_dir, "dev", raw, monkeypatch)
    _assert_one_line_config_error(error, "config/Pulumi.dev.yaml")
    assert type(error) is api.PlatformConfigError  # the same class as the typed and stack-file paths
    assert monitor.records == {}


def test_build_without_a_config_names_the_source_it_is_given(tmp_path, monkeypatch):
    raw = _bad_dev()
    program = "import gpufleet\n\ngpufleet.build(source='our-dev-stack').export()\n"
    program_dir = _project(tmp_path / "team-project", "dev", raw, config_dir="config", program=program)
    error, _monitor = _run(program_dir, "dev", raw, monkeypatch)
    _assert_one_line_config_error(error, "our-dev-stack")


def test_build_without_a_config_and_a_good_one_declares_the_platform(tmp_path, monkeypatch):
    raw = raw_config("dev")
    program_dir = _project(tmp_path / "team-project", "dev", raw, config_dir="config", program=LIBRARY_PROGRAM)
    monkeypatch.chdir(program_dir)
    monitor = engine.install(PROJECT, "dev", raw, "us-east-1")
    stack_config.forget()

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__")

    program()
    assert any(r.type == "aws:eks/cluster:Cluster" for r in monitor.records.values())


# ---------------------------------------------------------------- one error class, no Pulumi to import it

def test_one_platform_config_error_class_everywhere():
    assert api.PlatformConfigError is config_errors.PlatformConfigError is gpufleet.PlatformConfigError
    assert issubclass(api.PlatformConfigError, config_errors.ConfigError)
    assert issubclass(api.PlatformConfigError, pulumi.RunError)
    assert api.PlatformConfigError.__module__ == "gpufleet.modules.program_errors"
    with pytest.raises(AttributeError):
        config_errors.NoSuchError  # noqa: B018


def test_the_config_modules_import_no_pulumi_until_the_error_class_is_used():
    code = ("import json, sys\n"
            "from gpufleet.modules import config, config_errors\n"
            "before = sorted(m for m in sys.modules if m == 'pulumi' or m.startswith('pulumi.'))\n"
            "cls = config_errors.PlatformConfigError\n"
            "import pulumi\n"
            "print(json.dumps([before, issubclass(cls, pulumi.RunError), cls is config_errors.PlatformConfigError]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert json.loads(out) == [[], True, True]
