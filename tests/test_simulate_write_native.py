"""Issue 18, section 3: the trace file the simulator writes (``modules.simulate.trace.write_native``)
goes through the one atomic writer (:func:`gpufleet.atomic_file.write_atomic`): a temporary file
in the same folder renamed into place, never through a symbolic link at the target, and a
failure leaves the old file (or none) and no temporary file, in one line."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from gpufleet.atomic_file import DiskError, WriteError
from gpufleet.modules.simulate.trace import read_native, write_native

JOBS = [{"name": "a", "submit": 0, "run": 60, "team": "research", "gpus": 1},
        {"name": "b, quoted", "submit": 30, "run": 120, "team": "applied", "gpus": 2, "pods": 2}]
OLD = "submit,run,team,gpus\n0,1,research,1\n"


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_a_trace_is_written_whole_and_reads_back(tmp_path):
    path = tmp_path / "trace.csv"
    assert write_native(JOBS, path) == path
    assert listing(tmp_path) == {"trace.csv"}
    trace = read_native(path)
    assert [(j.name, j.submit, j.run, j.shape.team, j.shape.gpus, j.shape.pods) for j in trace.jobs] == [
        ("a", 0, 60, "research", 1, 1), ("b, quoted", 30, 120, "applied", 2, 2)]
    path.write_text(OLD)
    write_native(JOBS[:1], path)  # replaced
    assert path.read_bytes() == b"submit,run,team,gpus,name\r\n0,60,research,1,a\r\n"  # the csv module's lines
    assert listing(tmp_path) == {"trace.csv"}


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlink_at_the_target_is_refused_and_not_followed(tmp_path, dangling):
    victim = tmp_path / "elsewhere.csv"
    if not dangling:
        victim.write_text(OLD)
    link = tmp_path / "trace.csv"
    link.symlink_to(victim)
    with pytest.raises(WriteError) as info:
        write_native(JOBS, link)
    message = str(info.value)
    assert "is a symbolic link, and gpufleet never writes through one" in message and "\n" not in message
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert victim.read_text() == OLD if not dangling else not victim.exists()
    assert listing(tmp_path) == ({"trace.csv"} if dangling else {"trace.csv", "elsewhere.csv"})  # no temporary file


@pytest.mark.parametrize("call", ["write", "fsync", "replace"])
def test_a_failed_write_leaves_the_old_trace_and_no_temporary_file(tmp_path, monkeypatch, call):
    path = tmp_path / "trace.csv"
    path.write_text(OLD)

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, call, full)
    with pytest.raises(DiskError) as info:
        write_native(JOBS, path)
    monkeypatch.undo()
    assert "no space left on the device" in str(info.value) and "nothing was written" in str(info.value)
    assert "\n" not in str(info.value)
    assert path.read_text() == OLD and listing(tmp_path) == {"trace.csv"}


def test_a_new_trace_that_fails_leaves_nothing(tmp_path, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskError):
        write_native(JOBS, tmp_path / "trace.csv")
    monkeypatch.undo()
    assert listing(tmp_path) == set()
