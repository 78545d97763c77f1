"""Hostile stack files (issue #11, section 2; the catalogue is ``hostile_support.STACK_CASES``):
each case through the function that reads it and through every command that reads a stack
file, and paths that are not stack files: the one-line message names the file it read."""
# ruff: noqa: F811  (pytest fixtures imported from hostile_support are redefined as test parameters)

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from gpufleet.modules import config as stack_config
from gpufleet.modules.config import ConfigError

from .hostile_support import loader, never_render  # noqa: F401 (fixtures)
from .hostile_support import DEV, SECONDS, STACK_CASES, assert_message, assert_one_line, run, write_case


def commands_reading(path: Path) -> dict[str, list[str]]:
    """Every command that reads a stack file, pointed at ``path`` (Pulumi.dev-hostile.yaml)."""
    return {
        "plan": ["plan", str(path)],
        "diff": ["diff", str(path), "dev"],
        "preflight": ["preflight", str(path)],
        "cost": ["cost", str(path)],
        "policy": ["policy", str(path)],
        "replicate": ["replicate", "dev-hostile", "hostile-west", "--region", "us-west-2", "--offline",
                      "--stacks-dir", str(path.parent)],
    }


# ---------------------------------------------------------------- stack files, every command

@pytest.mark.parametrize("case", STACK_CASES, ids=lambda c: c.id)
def test_stack_file_through_the_function(case, tmp_path, loader):
    if loader == "python" and not case.yaml:
        pytest.skip("not a YAML-level case: the parser does not matter")
    path = write_case(tmp_path, case)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        stack_config.from_file(path, str(path))
    assert time.perf_counter() - start < SECONDS
    assert_message(info.value, str(path), case.key_path, case.fragments)


@pytest.mark.parametrize("command", ["plan", "diff", "preflight", "cost", "policy", "replicate"])
@pytest.mark.parametrize("case", STACK_CASES, ids=lambda c: c.id)
def test_stack_file_through_every_command(case, command, tmp_path, capsys, never_render):
    path = write_case(tmp_path, case)
    result = run(capsys, *commands_reading(path)[command])
    assert_one_line(result, str(path), case.key_path, case.fragments)


@pytest.mark.parametrize("case", [c for c in STACK_CASES if c.yaml], ids=lambda c: c.id)
def test_yaml_cases_through_the_cli_with_the_pure_python_parser(case, tmp_path, capsys, monkeypatch, never_render):
    monkeypatch.setattr(stack_config, "YAML_LOADER", "python")
    path = write_case(tmp_path, case)
    assert_one_line(run(capsys, "plan", str(path)), str(path), case.key_path, case.fragments)


# ---------------------------------------------------------------- paths: the message names the file read

def test_a_directory_given_as_a_stack(tmp_path, capsys, never_render):
    for command in ("plan", "cost", "policy"):
        assert_one_line(run(capsys, command, str(tmp_path)), str(tmp_path), "(file)", ("got a directory",))
    assert_one_line(run(capsys, "diff", str(tmp_path), "dev"), str(tmp_path), "(file)", ("got a directory",))
    assert_one_line(run(capsys, "preflight", str(tmp_path)), str(tmp_path), "(file)", ("got a directory",))


def test_a_path_without_yaml_suffix_is_not_taken_for_a_stack_name(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    assert_one_line(run(capsys, "plan", missing), missing, "(file)", ("got no such file",))


def test_device_files_are_refused_without_reading(capsys):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    assert_one_line(run(capsys, "plan", "/dev/zero"), "/dev/zero", "(file)", ("got a special file",))


def test_a_file_name_with_a_newline_stays_one_line(tmp_path, capsys):
    path = tmp_path / "Pulumi.a\nb.yaml"
    path.write_text("config: [x]\n")
    code, out, err, _ = run(capsys, "plan", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: ") and "Pulumi.a\\nb.yaml: config: got [\"x\"]; expected a mapping" in err


def test_preflight_names_the_file_it_read_in_another_directory(tmp_path, capsys):
    case = next(c for c in STACK_CASES if c.id == "duplicate-nested-key")
    stacks = tmp_path / "elsewhere"
    stacks.mkdir()
    path = write_case(stacks, case)
    assert_one_line(run(capsys, "preflight", "dev-hostile", "--stacks-dir", str(stacks)), str(path), case.key_path,
                    case.fragments)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_an_unreadable_file_is_one_line(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "Pulumi.dev-locked.yaml"
    path.write_text(DEV)
    path.chmod(0)
    assert_one_line(run(capsys, "plan", str(path)), str(path), "(file)", ("got a file that cannot be read",))
