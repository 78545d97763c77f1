"""Issue #11's speed target for bad input: every hostile stack file of the regression catalogue
(``tests/hostile_support.STACK_CASES``) is refused, exit 2 with one line, in under 2 s.

Measured two ways, on the fixture project (``tests/fixtures/project``):

- whole processes: ``gpufleet plan <hostile file>`` as a user runs it (interpreter start and
  imports included), one per case;
- in-process: ``config.from_file`` alone, each case repeated, with libyaml and with the pure
  Python parser for the YAML-level cases (the work the tool itself does).

Usage: ``.venv/bin/python benchmarks/hostile.py [--repeat N]``. Prints a table and exits 1 when
a case misses the target or does not give exit 2.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile_support import STACK_CASES, write_case  # noqa: E402

from gpufleet.modules import config as stack_config  # noqa: E402

GPUFLEET = ROOT / ".venv" / "bin" / "gpufleet"
PROJECT = ROOT / "tests" / "fixtures" / "project"
TARGET_S = 2.0


def in_process(path: Path, repeat: int, loader: str) -> float:
    stack_config.YAML_LOADER = loader
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            stack_config.from_file(path, str(path))
        except stack_config.ConfigError:
            pass
        else:
            raise SystemExit(f"{path.name}: accepted")
        best = min(best, time.perf_counter() - start)
    return best


def whole_process(path: Path) -> tuple[float, int, int]:
    start = time.perf_counter()
    proc = subprocess.run([str(GPUFLEET), "plan", str(path)], cwd=PROJECT, capture_output=True, text=True)
    return time.perf_counter() - start, proc.returncode, len(proc.stderr.strip().splitlines())


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rows, bad = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for case in STACK_CASES:
            folder = Path(tmp) / case.id
            folder.mkdir()
            path = write_case(folder, case)
            fn = {loader: in_process(path, args.repeat, loader) for loader in (("libyaml", "python") if case.yaml
                                                                              else ("libyaml",))}
            wall, code, lines = whole_process(path)
            rows.append((case.id, wall, fn))
            if wall >= TARGET_S or code != 2 or lines != 1:  # one line: the error
                bad.append(f"{case.id}: {wall:.2f}s, exit {code}, {lines} stderr lines")
    print(f"{'case':32} {'process s':>9} {'libyaml ms':>10} {'python ms':>9}")
    for name, wall, fn in rows:
        py = f"{fn['python'] * 1000:9.1f}" if "python" in fn else f"{'-':>9}"
        print(f"{name:32} {wall:9.2f} {fn['libyaml'] * 1000:10.1f} {py}")
    walls = [w for _, w, _ in rows]
    print(f"\n{len(rows)} cases: whole process median {statistics.median(walls):.2f} s, max {max(walls):.2f} s "
          f"(target < {TARGET_S:.0f} s); in-process max "
          f"{max(max(fn.values()) for _, _, fn in rows) * 1000:.0f} ms")
    for line in bad:
        print(f"MISSED: {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
