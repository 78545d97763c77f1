"""Speed of ``gpufleet simulate``, measured as a user runs it (whole processes, wall clock).

- the Alibaba pod list (8,152 pods, ``tests/data/traces/openb_pod_list_default.csv``) on each
  shipped stack: target <= 5 s on 2 cores;
- a synthetic trace of 1,000,000 jobs on prod: target <= 60 s and <= 1 GB peak memory;
- how time grows with trace size: synthetic traces of 10k, 100k and 1M jobs (and the
  exponent of a power-law fit, 1.0 = linear).

The synthetic trace (``synthetic(n)``, seeded): jobs of 12 shapes for each of two teams (a
tenth of a GPU to 8 GPUs, gangs of 2 pods; inference, training and experiments; services and
batch jobs) arriving as a Poisson process sized to keep about half of prod's GPUs busy
(``LOAD``), with log-normal run times (median 20 minutes, at most 12 hours).

Usage: ``.venv/bin/python benchmarks/simulate.py [--sizes 10000,100000,1000000] [--skip-alibaba]``.
Prints wall and CPU seconds and peak memory per run (targets are checked against CPU time,
which a busy machine does not inflate the way it inflates wall time) and writes
``bench-simulate.json`` at the repo root (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPUFLEET = ROOT / ".venv" / "bin" / "gpufleet"
ALIBABA = ROOT / "tests" / "data" / "traces" / "openb_pod_list_default.csv"
ALIBABA_TARGET_S, MILLION_TARGET_S, MILLION_TARGET_MIB = 5.0, 60.0, 1024
#: GPU-hours prod's pools offer per hour, roughly (32 A100 + 2 × 8 MIG'd A100 + 6 L40S)
PROD_GPUS = 54.0
LOAD = 0.5

SHAPES = [  # (gpus per pod, pods, priority, kind, cpu, memory GiB)
    (0.1, 1, "experiments", "batch", 2, 8), (0.25, 1, "experiments", "batch", 2, 8), (0.5, 1, "experiments", "batch", 4, 16),
    (1, 1, "experiments", "batch", 8, 32), (0.25, 1, "inference", "service", 2, 8), (1, 1, "inference", "service", 8, 32),
    (1, 1, "training", "batch", 8, 64), (2, 1, "training", "batch", 16, 128), (4, 1, "training", "batch", 32, 256),
    (8, 1, "training", "batch", 90, 1000), (4, 2, "training", "batch", 32, 256), (1, 2, "training", "batch", 8, 64),
]


def synthetic(n: int, seed: int = 0) -> list[dict]:
    rnd = random.Random(seed)
    weights = [30, 20, 10, 10, 6, 4, 10, 4, 2, 1, 1, 2]
    # a shared GPU still takes a whole one on a whole-GPU pool (prod tries its spot A100s first)
    mean_gpu_h = sum(w * math.ceil(s[0]) * s[1] for w, s in zip(weights, SHAPES)) / sum(weights) * (20 / 60) * math.exp(0.5)
    rate = LOAD * PROD_GPUS / mean_gpu_h / 3600  # jobs per second
    t = 0.0
    rows = []
    for i in range(n):
        t += rnd.expovariate(rate)
        gpus, pods, prio, kind, cpu, mem = rnd.choices(SHAPES, weights)[0]
        run = min(12 * 3600.0, 1200 * math.exp(rnd.gauss(0, 1)))
        rows.append((round(t, 1), round(run, 1), rnd.choice(("research", "applied")), gpus, pods, prio, kind, cpu, mem))
    return rows


def write(rows: list[tuple], path: Path) -> None:
    with path.open("w") as fh:
        fh.write("submit,run,team,gpus,pods,priority,kind,cpu,memory_gib\n")
        fh.writelines(",".join(str(x) for x in r) + "\n" for r in rows)


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one process; raises on failure. CPU time
    is the figure to trust on a shared machine (wall time there includes waiting for a core)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read()[-400:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--stacks", default="dev,staging,prod")
    ap.add_argument("--skip-alibaba", action="store_true")
    args = ap.parse_args(argv)
    results: dict[str, dict] = {}
    if not args.skip_alibaba:
        for stack in args.stacks.split(","):
            secs, cpu, rss = timed([str(GPUFLEET), "simulate", stack, "--trace", str(ALIBABA), "--format", "json"])
            results[f"alibaba 8,152 pods on {stack}"] = {"s": round(secs, 2), "cpu_s": round(cpu, 2),
                                                         "peak_mib": round(rss), "target_s": ALIBABA_TARGET_S}
    sizes = [int(s) for s in args.sizes.split(",") if s]
    growth = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"synthetic-{n}.csv"
            write(synthetic(n), path)
            secs, cpu, rss = timed([str(GPUFLEET), "simulate", "prod", "--trace", str(path), "--format", "json"])
            entry = {"s": round(secs, 2), "cpu_s": round(cpu, 2), "peak_mib": round(rss)}
            if n == 1_000_000:
                entry.update(target_s=MILLION_TARGET_S, target_mib=MILLION_TARGET_MIB)
            results[f"synthetic {n:,} jobs on prod"] = entry
            growth.append((n, cpu))
    if len(growth) >= 2:
        # the fixed part (imports, rendering the stack) is the same in every run: growth is
        # the difference between sizes, per job, and its exponent
        (n0, t0), (n1, t1) = growth[0], growth[-1]
        results["growth exponent (CPU time ~ n^k)"] = {"k": round(math.log(t1 / t0) / math.log(n1 / n0), 2)}
        for (a, ta), (b, tb) in zip(growth, growth[1:]):
            results[f"CPU per job, {a:,} -> {b:,} jobs (us)"] = {"k": round((tb - ta) / (b - a) * 1e6, 1)}
        if len(growth) >= 3:
            (a, ta), (b, tb), (c, tc) = growth[-3:]
            results["marginal growth exponent"] = {"k": round(math.log((tc - ta) / (tb - ta)) / math.log((c - a) / (b - a)),
                                                              2)}
    load = os.getloadavg()[0]
    print(f"{'what':<44} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'target':>16}  ok (load average {load:.1f})")
    ok = True
    for name, r in results.items():
        if "k" in r:
            print(f"{name:<44} {r['k']:>8}")
            continue
        good = r["cpu_s"] <= r.get("target_s", math.inf) and r["peak_mib"] <= r.get("target_mib", math.inf)
        ok &= good
        target = f"{r['target_s']:g} s" + (f", {r['target_mib']} MiB" if "target_mib" in r else "") if "target_s" in r else "-"
        print(f"{name:<44} {r['s']:>8} {r['cpu_s']:>8} {r['peak_mib']:>9} {target:>16}  {'yes' if good else 'NO'}")
    (ROOT / "bench-simulate.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
