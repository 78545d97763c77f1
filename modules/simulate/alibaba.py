"""The Alibaba GPU cluster trace (``cluster-trace-gpu-v2023``) pod list, read as jobs.

Q. Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with
Fragmentation Gradient Descent", USENIX ATC 2023; github.com/alibaba/clusterdata. Columns
``name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,
deletion_time,scheduled_time`` (times in seconds from the trace start). How a pod becomes a
job (defaults in ``modules/data/simulate_defaults.json``, ``alibaba``):

- one pod is one job of one pod; ``submit`` = ``creation_time`` (× ``--time-scale``);
- ``run`` = ``deletion_time − scheduled_time``; a pod the original cluster never scheduled
  (no ``scheduled_time``: it was deleted while Pending) runs ``deletion_time −
  creation_time``, the time it was wanted;
- GPUs: ``num_gpu`` whole GPUs, except ``num_gpu`` 1 with ``gpu_milli`` < 1000, a shared GPU
  of ``gpu_milli / 1000``; ``num_gpu`` 0 is a CPU-only pod, not replayed (counted as skipped);
- ``cpu_milli`` / 1000 cores, ``memory_mib`` / 1024 GiB per pod;
- ``qos`` LS (latency-sensitive) → priority ``inference`` and kind ``service``; BE (best
  effort) → ``experiments``; Burstable and Guaranteed → ``training``; batch jobs use the
  default checkpoint interval;
- ``gpu_spec`` → a catalog GPU model by a table (V100M16 and V100M32 → ``v100-32gb``, T4 →
  ``t4-16gb``, A10 → ``a10g-24gb``; P100, G2, G3 and an empty spec → any GPU), overridden
  by ``--gpu-map SPEC=MODEL``; several models ``V100M16|V100M32|T4`` are any of these (the
  job may run on a node of either model: node affinity ``In``). A model the table does not
  know runs on any GPU *with a warning* counted in the report (``Trace.warnings``:
  ``3 jobs asked for an unknown GPU model X: run on any GPU``), never silently;
- team: ``--team-map QOS=TEAM,...`` (``*`` for the rest); without it, the stack's teams in
  turn by a stable hash of the pod name (``crc32(name) mod teams``).

The header is the pod list's eleven columns (in any order). A file that is recognisably the
trace but not a pod list it can replay is refused with what it lacks: a pod list without
its time columns (``name,cpu_milli,memory_mib,num_gpu,gpu_milli``: no creation, deletion or
scheduled time, so no submission or run time) or the cluster's node list
(``sn,cpu_milli,memory_mib,gpu,model``). Every value is bounded (:mod:`.limits`) and an
error names the line and the column.
"""

from __future__ import annotations

import csv
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import catalog
from ..shown_values import Verbatim, excerpt
from . import limits
from .limits import MAX_TRACE_S, Refused
from .trace import TEN_YEARS, Job, Said, ShapeCache, Trace, TraceError, catalog_gpu_models, csv_error, finish, scan

COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase",
           "creation_time", "deletion_time", "scheduled_time")
TIME_COLUMNS = ("creation_time", "deletion_time", "scheduled_time")
#: columns only the pod list has (a native trace has none of them)
POD_COLUMNS = frozenset(COLUMNS) - {"name"}
#: the cluster's node list, openb_node_list_gpu_node.csv (not jobs)
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
#: whole numbers per pod, and their bounds
_WHOLE = {"cpu_milli": limits.MAX_CPU * 1000, "memory_mib": limits.MAX_MEMORY_GIB * 1024, "num_gpu": limits.MAX_GPUS,
          "gpu_milli": 1000}
_WHOLE_WHAT = {"cpu_milli": "millicores per pod", "memory_mib": "MiB of memory per pod", "num_gpu": "GPUs per pod",
               "gpu_milli": "thousandths of a GPU (0 to 1000)"}


def defaults() -> dict:
    return catalog.load("simulate_defaults.json")["alibaba"]


def header(path: Path) -> list[str] | None:
    """The first row of a CSV file (None: not a CSV header that can be read)."""
    if path.suffix in (".jsonl", ".json"):
        return None
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            first = fh.readline(limits.MAX_LINE_BYTES)
        return [h.strip() for h in next(csv.reader([first]), [])]
    except (OSError, UnicodeError, csv.Error):
        return None


def recognised(cols: Sequence[str]) -> bool:
    """A header of the Alibaba trace: the pod list (complete or not), or its node list."""
    return len(POD_COLUMNS.intersection(cols)) >= 2 or {"sn", "model"} <= set(cols)


def is_alibaba(path: Path) -> bool:
    """A CSV whose header is the pod list's, or recognisably the trace's (then :func:`read`
    says what it lacks)."""
    cols = header(path)
    return cols is not None and recognised(cols)


def _lookup(table: Mapping[str, str], key: str) -> str:
    return table.get(key, table.get("*", ""))


def check_gpu_map(gpu_map: Mapping[str, str]) -> None:
    """Every ``--gpu-map`` value is catalog GPU models (``a|b``) or ``any``."""
    known = catalog_gpu_models()
    for spec, value in gpu_map.items():
        bad = [m for m in (p.strip() for p in value.split("|")) if m != "any" and m not in known]
        if bad:
            raise TraceError("--gpu-map", "", Verbatim(f"{spec}={value}"), f"SPEC=MODEL with a catalog GPU model "
                             f"({', '.join(sorted(known))}), several separated by |, or any")


def spec_models(spec: str, spec_map: Mapping[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """A ``gpu_spec`` (``V100M16|V100M32``: any of these) as the job's ``gpu_model`` (None:
    any GPU) and the models the table does not know."""
    models: set[str] = set()
    unknown: list[str] = []
    anything = False
    for part in filter(None, (p.strip() for p in spec.split("|"))):
        value = _lookup(spec_map, part)
        if not value:
            unknown.append(part)
            continue
        for m in value.split("|"):
            m = m.strip()
            if m == "any":
                anything = True
            elif m:
                models.add(m)
    if anything or not models:
        return None, tuple(unknown)
    return "|".join(sorted(models)), tuple(unknown)


def _warnings(unknown: Counter) -> list[dict[str, Any]]:
    out = []
    for (spec, missing, model), n in sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0])):
        names = ", ".join(missing)
        what = f"an unknown GPU model {names}" if len(missing) == 1 else f"unknown GPU models {names}"
        where = "" if spec == names else f" (gpu_spec {spec})"
        runs = "any GPU" if model is None else " or ".join(model.split("|"))
        out.append({"kind": "unknown_gpu_model", "value": spec, "jobs": n, "runs_on": model or "any",
                    "message": f"{n:,} jobs asked for {what}{where}: run on {runs} "
                               f"(--gpu-map {missing[0]}=MODEL maps it)"})
    return out


def read(path: Path, source: str | None = None, *, teams: Sequence[str], time_scale: float = 1.0,
         checkpoint_minutes: float = 30.0, team_map: Mapping[str, str] | None = None,
         gpu_map: Mapping[str, str] | None = None) -> Trace:
    """The pod list at ``path`` as a :class:`Trace` for a stack with ``teams``."""
    source = source or str(path)
    d = defaults()
    check_gpu_map(gpu_map or {})
    spec_map = {**d["gpu_spec"], **(gpu_map or {})}
    team_map = dict(team_map or {})
    teams = list(teams) or ["default"]
    scan(path, source)
    state = _State(source, spec_map, team_map, teams, d, time_scale, checkpoint_minutes * 60)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            state.rows(reader)
        except csv.Error as exc:
            raise csv_error(path, source, reader.line_num, exc, state.header) from None
    trace = finish(Trace(source, "alibaba", state.jobs, state.skipped, teams=state.seen))
    trace.warnings = _warnings(state.unknown)
    return trace


def check_header(source: str, cols: list[str]) -> None:
    """The pod list's columns, or one line saying what the file is and what it lacks."""
    if "sn" in cols and "creation_time" not in cols:
        header = ",".join(excerpt(c) for c in cols[:8]) + (",..." if len(cols) > 8 else "")  # names, each an excerpt
        raise TraceError(source, "line 1", Said(f"the Alibaba cluster-trace-gpu-v2023 node list ({header}): "
                                                "the cluster's nodes, not jobs"),
                         f"its pod list (openb_pod_list_*.csv) with the columns {','.join(COLUMNS)}")
    missing = [c for c in COLUMNS if c not in cols]
    if missing:
        times = [c for c in TIME_COLUMNS if c in missing]
        others = [c for c in missing if c not in TIME_COLUMNS]
        lacks = " and ".join(filter(None, (f"the time columns {', '.join(times)}" if times else "", ", ".join(others))))
        raise TraceError(source, "line 1", Said(f"an Alibaba cluster-trace-gpu-v2023 pod list without {lacks}"),
                         f"the pod list's {len(COLUMNS)} columns {','.join(COLUMNS)}"
                         + (" (creation_time is when a pod was submitted; deletion_time less scheduled_time "
                            "is how long it ran)" if times else ""))
    extra = [c for c in cols if c not in COLUMNS]
    if extra:
        raise TraceError(source, "line 1", extra[0], f"a column of the Alibaba pod list ({','.join(COLUMNS)})")
    if len(set(cols)) != len(cols):
        twice = next(c for c in cols if cols.count(c) > 1)
        raise TraceError(source, "line 1", twice, "each column of the pod list once")


class _State:
    def __init__(self, source, spec_map, team_map, teams, d, time_scale, ckpt):
        self.source, self.spec_map, self.team_map, self.teams, self.d = source, spec_map, team_map, teams, d
        self.scale, self.ckpt = time_scale, ckpt
        self.shapes = ShapeCache()
        self.jobs: list[Job] = []
        self.skipped: list[tuple[str, str]] = []
        self.seen: dict[str, str] = {}
        self.unknown: Counter = Counter()
        self.header: list[str] | None = None
        self._specs: dict[str, tuple[str | None, tuple[str, ...]]] = {}

    def _whole(self, n: int, col: str, value: str) -> int:
        try:
            return limits.whole(value, low=0, high=_WHOLE[col])
        except Refused as exc:
            raise TraceError(self.source, f"line {n}: {col}", value, f"{_WHOLE_WHAT[col]}: a whole number >= 0"
                             + (f", at most {_WHOLE[col]:,}" if exc.range else "")) from None

    def _time(self, n: int, col: str, value: str, high: float = MAX_TRACE_S, bound: str = TEN_YEARS) -> float:
        try:
            return limits.number(value, low=0.0, high=high)
        except Refused as exc:
            raise TraceError(self.source, f"line {n}: {col}", value, "seconds from the trace start (a number >= 0)"
                             + (f", at most {bound}" if exc.range and limits.to_float(value) > high else "")) from None

    def rows(self, reader) -> None:
        try:
            first = next(reader, [])
        except csv.Error as exc:
            raise TraceError(self.source, "line 1", Verbatim(str(exc)), "the pod list header") from None
        cols = self.header = [h.strip() for h in first]
        check_header(self.source, cols)
        at = {c: cols.index(c) for c in COLUMNS}
        width = len(cols)
        scale = self.scale
        created_bound = TEN_YEARS + (f" once multiplied by --time-scale {scale:g}" if scale != 1 else "")
        d, shapes, jobs, skipped = self.d, self.shapes, self.jobs, self.skipped
        for row in reader:
            n = reader.line_num
            if not row:
                continue
            if len(row) != width:
                raise TraceError(self.source, f"line {n}", ",".join(row), f"{width} comma-separated values")
            name, spec, qos = row[at["name"]], row[at["gpu_spec"]].strip(), row[at["qos"]].strip()
            gpus_whole = self._whole(n, "num_gpu", row[at["num_gpu"]])
            gpu_milli = self._whole(n, "gpu_milli", row[at["gpu_milli"]] or "0")
            cpu_m = self._whole(n, "cpu_milli", row[at["cpu_milli"]])
            mem_mib = self._whole(n, "memory_mib", row[at["memory_mib"]])
            created = self._time(n, "creation_time", row[at["creation_time"]], MAX_TRACE_S / scale, created_bound)
            deleted = self._time(n, "deletion_time", row[at["deletion_time"]])
            scheduled = row[at["scheduled_time"]].strip()
            start = self._time(n, "scheduled_time", scheduled) if scheduled else created
            submit = min(created * scale, MAX_TRACE_S)
            run = max(deleted - start, 1.0)
            if submit + run > MAX_TRACE_S:
                raise TraceError(self.source, f"line {n}: deletion_time", row[at["deletion_time"]],
                                 f"seconds from the trace start; the pod's run (deletion less scheduled time, "
                                 f"{run:,.0f} s) ending within {TEN_YEARS} of the trace start")
            if gpus_whole == 0:
                skipped.append((name, "CPU-only pod (num_gpu 0): not GPU work, not replayed"))
                continue
            gpus = gpu_milli / 1000 if gpus_whole == 1 and 0 < gpu_milli < 1000 else float(gpus_whole)
            got = self._specs.get(spec)
            if got is None:
                got = self._specs[spec] = spec_models(spec, self.spec_map) if spec else (None, ())
            model, unknown = got
            if unknown:
                self.unknown[(spec, unknown, model)] += 1
            team = self.team_map.get(qos) or self.team_map.get("*") or self.teams[zlib.crc32(name.encode()) % len(self.teams)]
            if team not in self.seen:
                self.seen[team] = f"line {n}"
            service = _lookup(d["qos_kind"], qos) == "service"
            shape = shapes.get(team, _lookup(d["qos_priority"], qos), gpus, model, None, max(cpu_m / 1000, 0.001),
                               max(mem_mib / 1024, 0.001), 1, service)
            jobs.append(Job(len(jobs) + len(skipped), name, submit, run, None if service else self.ckpt, shape))
