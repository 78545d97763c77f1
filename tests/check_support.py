"""Shared helpers of the ``gpufleet check`` tests (``tests/test_check_*.py``): the CLI run in
process, and a private copy of the fixture project whose stack files a test rewrites."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from gpufleet import cli

from .helpers import FIXTURE_ROOT, STACK_FOLDER


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def project_copy(tmp_path: Path) -> Path:
    """A private copy of the fixture project (checks never write, but the tests edit its files)."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURE_ROOT, root, ignore=shutil.ignore_patterns(".hypothesis", "__pycache__"))
    return root


def write_stack(root: Path, stack: str, raw: dict) -> Path:
    path = root / STACK_FOLDER / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": raw}, sort_keys=False))
    return path


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the only line of ``path`` that contains ``text``."""
    [n] = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return n
