"""Issue 18, section 3: every file gpufleet writes goes through one atomic writer
(:mod:`gpufleet.atomic_file`): a temporary file in the target's folder, fsync, renamed into
place; a kill at any moment leaves the old file or the new one; never through a symlink; a
failure (read-only folder, full disk) leaves no new file behind and is one line (exit 2 for a
path the user can fix, 3 for a full disk).

Tests run as root, which a read-only mode does not stop: the folder's refusal and the full
disk are simulated by making the system call fail, as the kernel would."""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from pathlib import Path

import pytest

from gpufleet import atomic_file
from gpufleet.atomic_file import DiskError, WriteError, all_or_nothing, write_atomic

from .check_support import project_copy, run
from .helpers import STACK_FOLDER

OLD, NEW = "old content\n", "new content, longer than the old one\n" * 50


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


class Killed(BaseException):
    """What a kill looks like to the code running: it stops where it is (not an Exception)."""


def fail_at(monkeypatch, step: str, exc: BaseException) -> None:
    """Make one system call of a write fail: ``write`` writes half of what it is given first."""
    if step == "write":
        real = os.write

        def half_then_fail(fd, data):
            real(fd, bytes(data[: max(1, len(data) // 2)]))
            raise exc
        monkeypatch.setattr(os, "write", half_then_fail)
        return

    def fail(*_args, **_kwargs):
        raise exc
    target = {"mkstemp": (tempfile, "mkstemp"), "fsync": (os, "fsync"), "replace": (os, "replace"),
              "link": (os, "link"), "fchmod": (os, "fchmod")}[step]
    monkeypatch.setattr(*target, fail)


# ---------------------------------------------------------------- the writer

def test_a_new_file_is_0644_and_a_replaced_one_keeps_its_mode(tmp_path):
    path = tmp_path / "a.json"
    assert write_atomic(path, OLD) == path
    assert path.read_text() == OLD and stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o600)
    write_atomic(path, NEW)
    assert path.read_text() == NEW and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert listing(tmp_path) == {"a.json"}


@pytest.mark.parametrize("step", ["write", "fchmod", "fsync", "replace"])
@pytest.mark.parametrize("exc", [Killed(), OSError(errno.EIO, "Input/output error")], ids=["kill", "eio"])
def test_a_write_stopped_at_any_step_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, step, exc):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(OLD)
    fail_at(monkeypatch, step, exc)
    with pytest.raises((Killed, DiskError)):
        write_atomic(path, NEW)
    monkeypatch.undo()
    assert path.read_text() == OLD
    assert listing(tmp_path) == {"Pulumi.dev.yaml"}


@pytest.mark.parametrize("step", ["write", "fsync", "link"])
def test_a_new_file_stopped_at_any_step_is_not_there_at_all(tmp_path, monkeypatch, step):
    path = tmp_path / "Pulumi.new-dev.yaml"
    fail_at(monkeypatch, step, Killed())
    with pytest.raises(Killed):
        write_atomic(path, NEW, exclusive=True)
    monkeypatch.undo()
    assert listing(tmp_path) == set()


def test_exclusive_never_replaces_a_file(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(OLD)
    with pytest.raises(WriteError, match="already exists, and gpufleet never overwrites it; nothing was written"):
        write_atomic(path, NEW, exclusive=True)
    assert path.read_text() == OLD and listing(tmp_path) == {"x.yaml"}


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlink_at_the_target_is_refused_and_what_it_points_to_is_untouched(tmp_path, exclusive, dangling):
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text(OLD)
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    with pytest.raises(WriteError) as info:
        write_atomic(link, NEW, exclusive=exclusive)
    assert "is a symbolic link, and gpufleet never writes through one" in str(info.value)
    assert "\n" not in str(info.value) and link.is_symlink()
    assert (victim.read_text() == OLD) if not dangling else not victim.exists()
    assert listing(tmp_path) == ({"link.json"} if dangling else {"link.json", "victim.txt"})


@pytest.mark.parametrize("errno_, kind, fragment", [
    (errno.EACCES, WriteError, "is not writable"),
    (errno.EROFS, WriteError, "is not writable"),
    (errno.ENOSPC, DiskError, "no space left on the device"),
    (errno.EDQUOT, DiskError, "no space left on the device"),
])
def test_a_folder_that_refuses_or_a_full_disk_is_one_error(tmp_path, monkeypatch, errno_, kind, fragment):
    path = tmp_path / "out.sarif"
    fail_at(monkeypatch, "mkstemp" if kind is WriteError else "write", OSError(errno_, os.strerror(errno_)))
    with pytest.raises(kind) as info:
        write_atomic(path, NEW)
    monkeypatch.undo()
    assert type(info.value) is kind and fragment in str(info.value) and "nothing was written" in str(info.value)
    assert listing(tmp_path) == set()


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(WriteError, match=r"the folder .*nope does not exist; nothing was written"):
        write_atomic(tmp_path / "nope" / "x.json", NEW)


def test_all_or_nothing_undoes_every_write_of_the_block(tmp_path, monkeypatch):
    kept, new = tmp_path / "kept.json", tmp_path / "new.yaml"
    kept.write_text(OLD)
    kept.chmod(0o640)
    with pytest.raises(DiskError):
        with all_or_nothing():
            write_atomic(new, NEW, exclusive=True)
            with all_or_nothing():  # nested: the outer block undoes it too
                write_atomic(kept, NEW)
            real, calls = os.write, []

            def full_once(fd, data):  # the disk is full for this write, and has room again for the undo
                calls.append(fd)
                if len(calls) == 1:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real(fd, data)
            monkeypatch.setattr(os, "write", full_once)
            write_atomic(tmp_path / "third.json", NEW)
    monkeypatch.undo()
    assert listing(tmp_path) == {"kept.json"}
    assert kept.read_text() == OLD and stat.S_IMODE(kept.stat().st_mode) == 0o640


# ---------------------------------------------------------------- every command writes through it

@pytest.fixture
def root(tmp_path) -> Path:
    return project_copy(tmp_path)


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_check_output_refuses_a_symlink_and_leaves_its_target(root, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text(OLD)
    link = tmp_path / "check.sarif"
    link.symlink_to(victim)
    code, out, err = run(capsys, "-C", str(root), "check", "dev", "--format", "sarif", "-o", str(link))
    assert code == 2 and out == ""
    assert "is a symbolic link, and gpufleet never writes through one" in one_line(err.split("\n", 1)[1]), err
    assert victim.read_text() == OLD and link.is_symlink()


def test_check_output_into_a_missing_folder_is_one_line_exit_2(root, tmp_path, capsys):
    code, out, err = run(capsys, "-C", str(root), "check", "dev", "-o", str(tmp_path / "nope" / "check.txt"))
    assert code == 2 and out == ""
    assert "nope does not exist; nothing was written" in one_line(err.split("\n", 1)[1]), err


@pytest.mark.parametrize("step, errno_, code, fragment", [
    ("mkstemp", errno.EACCES, 2, "is not writable"),       # a read-only folder
    ("write", errno.ENOSPC, 3, "no space left on the device"),  # a full disk, half the report written
    ("replace", errno.EIO, 3, "the disk failed the write"),
])
def test_check_output_that_fails_leaves_the_old_report(root, tmp_path, capsys, monkeypatch, step, errno_, code, fragment):
    report = tmp_path / "check.json"
    report.write_text(OLD)
    fail_at(monkeypatch, step, OSError(errno_, os.strerror(errno_)))
    got, out, err = run(capsys, "-C", str(root), "check", "dev", "--format", "json", "-o", str(report))
    monkeypatch.undo()
    assert got == code and out == ""
    line = one_line(err.split("\n", 1)[1])
    assert fragment in line and "nothing was written" in line, err
    assert report.read_text() == OLD and listing(tmp_path) == {"check.json", "project"}


def test_write_config_through_a_symlink_is_refused(root, tmp_path, capsys):
    victim = tmp_path / "victim.json"
    victim.write_text("{}\n")  # a file of someone else's (read for its suppressions, never written)
    config = root / "policies" / "config" / "dev.json"
    config.unlink()
    config.symlink_to(victim)
    code, _, err = run(capsys, "-C", str(root), "policy", "dev", "--write-config")
    assert code == 2 and "cannot write policies/config/dev.json: it is a symbolic link" in one_line(err), err
    assert victim.read_text() == "{}\n"
    assert not (root / "policies" / "PulumiPolicy.yaml").exists()  # nothing else was written either


@pytest.mark.parametrize("step", ["write", "replace"])
def test_write_config_on_a_full_disk_keeps_the_old_config_and_writes_no_pack(root, capsys, monkeypatch, step):
    folder = root / "policies" / "config"
    before = (folder / "dev.json").read_text()
    (folder / "dev.json").write_text(before.replace("advisory", "mandatory", 1))  # stale: --write-config rewrites it
    stale = (folder / "dev.json").read_text()
    fail_at(monkeypatch, step, OSError(errno.ENOSPC, "No space left on device"))
    code, _, err = run(capsys, "-C", str(root), "policy", "dev", "--write-config")
    monkeypatch.undo()
    assert code == 3 and "cannot write policies/config/dev.json: no space left on the device" in one_line(err), err
    assert (folder / "dev.json").read_text() == stale
    assert listing(root / "policies") == {"config"} and listing(folder) == {"dev.json", "staging.json", "prod.json"}


def test_write_config_undoes_the_config_when_the_pack_cannot_be_written(root, capsys, monkeypatch):
    folder = root / "policies" / "config"
    (folder / "dev.json").write_text("{}\n")
    real = os.link

    def no_third(src, dst, *a, **k):  # the pack's third file: the disk is full
        if Path(dst).name == "requirements.txt":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)
    monkeypatch.setattr(os, "link", no_third)
    code, _, err = run(capsys, "-C", str(root), "policy", "dev", "--write-config")
    monkeypatch.undo()
    assert code == 3 and "cannot write policies/requirements.txt: no space left" in one_line(err), err
    assert (folder / "dev.json").read_text() == "{}\n"  # restored
    assert listing(root / "policies") == {"config"}  # no half pack


def test_replicate_onto_a_dangling_symlink_is_refused_and_nothing_is_written(root, tmp_path, capsys):
    outside = tmp_path / "outside" / "evil.yaml"
    outside.parent.mkdir()
    link = root / STACK_FOLDER / "Pulumi.dev-west.yaml"
    link.symlink_to(outside)
    code, _, err = run(capsys, "-C", str(root), "replicate", "dev", "dev-west", "--region", "us-west-2", "--offline")
    assert code == 2 and f"cannot write {STACK_FOLDER}/Pulumi.dev-west.yaml: it is a symbolic link" in one_line(err), err
    assert not outside.exists() and link.is_symlink()
    assert not (root / "policies" / "config" / "dev-west.json").exists()


def test_replicate_whose_policy_config_fails_leaves_no_stack_file(root, capsys, monkeypatch):
    fail_at(monkeypatch, "replace", OSError(errno.ENOSPC, "No space left on device"))  # the config is the replaced one
    stacks = listing(root / STACK_FOLDER)
    code, out, err = run(capsys, "-C", str(root), "replicate", "dev", "dev-west", "--region", "us-west-2", "--offline")
    monkeypatch.undo()
    assert code == 3 and out == ""
    assert "cannot write policies/config/dev-west.json: no space left on the device" in one_line(err), err
    assert listing(root / STACK_FOLDER) == stacks  # the stack file written first is gone again
    assert not (root / "policies" / "config" / "dev-west.json").exists()


def test_init_whose_pack_fails_leaves_no_stack_config_or_pack(root, capsys, monkeypatch):
    real = os.link

    def no_pack(src, dst, *a, **k):
        if Path(dst).parent.name == "policies":
            raise OSError(errno.EROFS, "Read-only file system")
        return real(src, dst, *a, **k)
    monkeypatch.setattr(os, "link", no_pack)
    stacks = listing(root / STACK_FOLDER)
    code, out, err = run(capsys, "-C", str(root), "init", "research-dev")
    monkeypatch.undo()
    assert code == 2 and out == ""
    assert "cannot write policies/PulumiPolicy.yaml: the folder policies is not writable" in one_line(err), err
    assert listing(root / STACK_FOLDER) == stacks
    assert listing(root / "policies") == {"config"} and not (root / "policies" / "config" / "research-dev.json").exists()


def test_every_command_that_writes_still_writes(root, tmp_path, capsys):
    """The writer changes how files are written, not what: each command's files are there, whole."""
    code, _, err = run(capsys, "-C", str(root), "check", "dev", "--format", "json", "-o", str(tmp_path / "c.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "c.json").read_text())["exit_code"] == 0
    code, _, err = run(capsys, "-C", str(root), "replicate", "dev", "dev-west", "--region", "us-west-2", "--offline")
    assert code == 0, err
    assert (root / STACK_FOLDER / "Pulumi.dev-west.yaml").read_text().startswith("# dev-west: replica of stack dev")
    assert json.loads((root / "policies" / "config" / "dev-west.json").read_text())
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in
               (root / STACK_FOLDER / "Pulumi.dev-west.yaml", root / "policies" / "config" / "dev-west.json"))
    leftovers = [p for p in root.rglob(".*.tmp")] + [p for p in tmp_path.glob(".*.tmp")]
    assert leftovers == []


def test_the_disk_error_is_exit_3_and_a_path_error_exit_2():
    from gpufleet import exit_codes

    assert exit_codes.classify(DiskError("x")) == exit_codes.EXTERNAL == 3
    assert exit_codes.classify(WriteError("x")) == exit_codes.BAD_INPUT == 2
    assert "the disk (full)" in exit_codes.MEANING[exit_codes.EXTERNAL]
    assert atomic_file.NEW_FILE_MODE == 0o644
