"""Speed targets, measured as a user sees them (whole processes, wall clock).

- ``gpufleet plan <stack> --json`` for every shipped stack: target <= 3 s each on 2 cores.
- the test suite (``./run test``): target <= 60 s on 2 cores; and its second CI run, 400 days
  ahead (``GPUFLEET_TEST_DAYS_AHEAD=400 ./run test``, .ci/run), the same target.
- peak memory (max RSS) of each plan.

Usage: ``.venv/bin/python benchmarks/run.py [--repeat N] [--skip-tests]``. Prints a table
and writes ``bench-results.json`` at the repo root (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPUFLEET = ROOT / ".venv" / "bin" / "gpufleet"
PLAN_TARGET_S, SUITE_TARGET_S = 3.0, 60.0


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB of the child) of one run; raises on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env=None if env is None else {**os.environ, **env})
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0,):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-400:]}")
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return elapsed, peak


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-tests", action="store_true")
    args = ap.parse_args(argv)
    stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    results: dict[str, dict] = {}
    for stack in stacks:
        runs = [timed([str(GPUFLEET), "plan", stack, "--json"]) for _ in range(args.repeat)]
        secs = [r[0] for r in runs]
        results[f"plan {stack}"] = {"median_s": round(statistics.median(secs), 2), "max_s": round(max(secs), 2),
                                    "peak_rss_mib": round(max(r[1] for r in runs)), "target_s": PLAN_TARGET_S}
    if not args.skip_tests:
        secs, _ = timed([str(ROOT / "run"), "test"])
        results["test suite"] = {"median_s": round(secs, 2), "max_s": round(secs, 2), "target_s": SUITE_TARGET_S}
        secs, _ = timed([str(ROOT / "run"), "test"], env={"GPUFLEET_TEST_DAYS_AHEAD": "400"})
        results["suite +400 days"] = {"median_s": round(secs, 2), "max_s": round(secs, 2),
                                      "target_s": SUITE_TARGET_S}
    print(f"{'what':<20} {'median s':>9} {'max s':>7} {'target s':>9}  ok")
    ok = True
    for name, r in results.items():
        good = r["max_s"] <= r["target_s"]
        ok &= good
        print(f"{name:<20} {r['median_s']:>9} {r['max_s']:>7} {r['target_s']:>9}  {'yes' if good else 'NO'}"
              + (f"  (peak {r['peak_rss_mib']} MiB)" if "peak_rss_mib" in r else ""))
    (ROOT / "bench-results.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
