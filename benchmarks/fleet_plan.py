"""``gpufleet fleet plan`` over generated fleets of 1, 10 and 50 stacks (wall clock, whole process).

Target: <= 30 s for 50 stacks on a 2-core machine, and linear growth (seconds per stack
roughly constant from 10 to 50). The fleets are generated into a temp dir from the
shipped stacks with ``gpufleet replicate --offline`` (dev, staging and prod in turn, each
into a region with enough AZs), so every generated stack is a valid stack in its region.

Usage: ``.venv/bin/python benchmarks/fleet_plan.py [--sizes 1,10,50] [--jobs 2] [--repeat 1]``.
Exit status 1 when the 50-stack target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpufleet.replicate import replicate
from gpufleet.modules import catalog
from gpufleet.modules import config as stack_config

SOURCES = ("dev", "staging", "prod")
TARGET_S, TARGET_STACKS = 30.0, 50


def generate(directory: Path, size: int) -> Path:
    """``size`` stacks (replicas of the shipped ones across regions) and their fleet.yaml."""
    for src in SOURCES:
        shutil.copy(ROOT / "stacks" / f"Pulumi.{src}.yaml", directory)
    regions = sorted(catalog.regions())
    entries = []
    for i in range(size):
        src = SOURCES[i % len(SOURCES)]
        azs_needed = len(stack_config.read_stack_file(directory / f"Pulumi.{src}.yaml")["gpufleet:network"]["azs"])
        region = next(r for k in range(len(regions)) if len(catalog.regions()[r := regions[(i + k) % len(regions)]]) >= azs_needed)
        name = f"{src}-{i:03d}"
        replicate(src, name, region, directory=directory, offline=True)
        entries.append(f"  - {{stack: {name}, region: {region}, role: {'primary' if i == 0 else 'replica'}}}")
    for src in SOURCES:  # only the generated stacks are in the fleet
        (directory / f"Pulumi.{src}.yaml").unlink()
    path = directory / "fleet.yaml"
    path.write_text("clusters:\n" + "\n".join(entries) + "\n")
    return path


def timed(fleet: Path, jobs: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its workers): CPU time doesn't depend
    on what else the shared machine runs; wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "gpufleet", "fleet", "plan", "--fleet", str(fleet), "--jobs", str(jobs)],
                          cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1) or " error" in proc.stdout:
        raise SystemExit(f"fleet plan over {fleet} exited {proc.returncode}:\n{proc.stdout[-800:]}{proc.stderr[-800:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,10,50")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpufleet-fleet-bench-") as tmp:
        for size in sizes:
            directory = Path(tmp) / f"fleet-{size}"
            directory.mkdir()
            fleet = generate(directory, size)
            runs = [timed(fleet, args.jobs) for _ in range(args.repeat)]
            secs = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            rows.append((size, secs))
            print(f"fleet of {size:>3} stacks: {secs:6.1f} s wall ({secs / size:5.2f} s per stack, --jobs {args.jobs}), "
                  f"{cpu:6.1f} CPU-s ({cpu / size:4.2f} per stack; /{args.jobs} = {cpu / args.jobs:5.1f} s on idle cores)",
                  flush=True)
    print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(shared with other work: figures vary)")
    if len(rows) >= 2:
        (n1, t1), (n2, t2) = rows[-2], rows[-1]
        marginal = (t2 - t1) / (n2 - n1)
        print(f"marginal cost {n1}->{n2} stacks: {marginal:.2f} s per stack; fixed cost ≈ {t1 - marginal * n1:.1f} s")
    big = dict(rows).get(TARGET_STACKS)
    if big is not None:
        met = big <= TARGET_S
        print(f"target: {TARGET_STACKS} stacks in <= {TARGET_S:.0f} s: {'met' if met else 'MISSED'} ({big:.1f} s)")
        return 0 if met else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
