"""Jobs to replay, and the native trace format (CSV with a header row, or JSON Lines).

One row (or JSON object) is one job:

=====================  ========  =====================================================================
column                 default   meaning
=====================  ========  =====================================================================
``submit``             required  seconds from the trace start when the job is submitted
``run``                required  seconds of work (batch) or of service (``kind: service``)
``team``               required  the stack team whose queue gets it (``--team-map`` renames)
``gpus``               required  GPUs per pod: ``1``, ``2``, ``8``; a fraction ``0.5`` is a shared GPU;
                                 ``0`` is a CPU-only pod (not GPU work: skipped and counted)
``pods``               1         pods of the job, admitted and placed together (a gang)
``priority``           training  ``inference``, ``training``, ``experiments`` (or their PriorityClass
                                 names), or an integer pod priority (Kueue uses the same value)
``kind``               batch     ``batch`` (runs ``run`` seconds of work) or ``service`` (serves ``run``
                                 seconds; never checkpoints, loses no work)
``cpu``                1         cores per pod
``memory_gib``         4         GiB of memory per pod
``gpu_model``          any       catalog GPU model the job needs (``a100-40gb``, ``l4-24gb``, ...);
                                 ``a100-40gb|a100-80gb``: any of these (node affinity ``In``)
``pool``               any       the GPU pool it selects (node selector ``gpufleet.io/pool``)
``gpu_memory_gib``     share     GPU memory per pod (picks the MIG slice); default: the GPU share of
                                 the pool's GPU memory
``checkpoint_minutes`` 30        minutes of work between checkpoints (batch); ``0``: none
``name``               line      the job's name in the report
=====================  ========  =====================================================================

Errors are one line naming the file, the line and the column (:class:`TraceError`). Every
value is bounded (:mod:`.limits`): times within 10 years of the trace start, amounts a pod
can ask for, a JSON value of the column's type, a trace of at most 2,000,000 jobs (counted
before it is read) and lines of at most 1 MiB; a team must be one of the stack's when the
reader is given them.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import limits
from ..shown_values import excerpt
from .bounded_input import (COLUMNS, REQUIRED, TEN_YEARS, TEXT_COLUMNS, Said, TraceError,  # noqa: F401 - the
                            _csv_rows, _jsonl_rows, csv_error, key_shown, scan, shown)  # reader's names, used here
# and by alibaba
from .limits import MAX_TRACE_S, Refused

PRIORITY_NAMES = ("inference", "training", "experiments")
#: a job's state while a simulation runs (``Job.state``)
UNSUBMITTED, WAITING, BACKOFF, ADMITTED, RUNNING, DONE, NEVER, DEACTIVATED, DEADLINE = range(-1, 8)


class Shape:
    """What a job asks for, shared by every job asking the same (interned per trace)."""

    __slots__ = ("team", "priority", "gpus", "gpu_model", "gpu_memory_gib", "cpu", "memory_gib", "pods", "service",
                 "pool", "key")

    def __init__(self, team: str, priority: str | int, gpus: float, gpu_model: str | None, gpu_memory_gib: float | None,
                 cpu: float, memory_gib: float, pods: int, service: bool, pool: str | None = None):
        self.team, self.priority, self.gpus, self.gpu_model = team, priority, gpus, gpu_model
        self.gpu_memory_gib, self.cpu, self.memory_gib, self.pods, self.service = (
            gpu_memory_gib, cpu, memory_gib, pods, service)
        self.pool = pool
        self.key = (team, priority, gpus, gpu_model, gpu_memory_gib, cpu, memory_gib, pods, service, pool)

    def __repr__(self) -> str:
        return f"Shape{self.key}"


class Job:
    """One job of a trace, and (while an engine runs) its state. The engine resets the state
    before each run, so one trace serves several simulations."""

    __slots__ = ("index", "name", "submit", "run", "checkpoint", "shape",
                 # simulation state (see modules.simulate.engine)
                 "info", "state", "epoch", "runs", "ready", "req", "queue_ts", "admitted_at", "started_at",
                 "run_start", "done", "preemptions", "timeouts", "interruptions", "nodes", "reason", "end",
                 "held", "useful", "lost_spot", "lost_preemption", "lost_schedule", "lost_deadline", "in_progress",
                 "armed")

    def __init__(self, index: int, name: str | None, submit: float, run: float, checkpoint: float | None, shape: Shape):
        self.index, self.name, self.submit, self.run, self.checkpoint, self.shape = (
            index, name, submit, run, checkpoint, shape)

    def reset(self, info: Any) -> None:
        """Fresh simulation state (``info``: the job's :class:`~modules.simulate.shapes.ShapeInfo`)."""
        self.info, self.state, self.epoch, self.runs, self.ready, self.req = info, -1, 0, 0, False, None
        self.queue_ts = self.submit
        self.admitted_at = self.started_at = self.run_start = self.end = -1.0
        self.done = self.held = self.useful = self.in_progress = 0.0
        self.lost_spot = self.lost_preemption = self.lost_schedule = self.lost_deadline = 0.0
        self.preemptions = self.timeouts = self.interruptions = 0
        self.armed = -1
        self.nodes = None
        self.reason = None

    @property
    def lost(self) -> float:
        """Physical GPU-seconds of work lost (redone after an interruption or eviction, or cut)."""
        return self.lost_spot + self.lost_preemption + self.lost_schedule + self.lost_deadline

    @property
    def label(self) -> str:
        return self.name or f"job-{self.index + 1}"

    def __repr__(self) -> str:
        return f"Job({self.label}, submit={self.submit:g}, run={self.run:g}, {self.shape!r})"


@dataclass
class Trace:
    source: str
    format: str
    jobs: list[Job]
    #: (job name, why it is not replayed): CPU-only pods
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: what the reader assumed, counted: ``{"kind", "value", "jobs", "message"}`` (an unknown
    #: GPU model run on any GPU)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    #: every team of the trace and where it first appears (``line 7``)
    teams: dict[str, str] = field(default_factory=dict)

    @property
    def span(self) -> float:
        """Seconds from the trace start to the end of its last job (as the trace tells it)."""
        return max((j.submit + j.run for j in self.jobs), default=0.0)


class ShapeCache:
    """Interns shapes so a million jobs share a few hundred."""

    def __init__(self) -> None:
        self._shapes: dict[tuple, Shape] = {}

    def get(self, *args: Any) -> Shape:
        shape = self._shapes.get(args)
        if shape is None:
            shape = self._shapes[args] = Shape(*args)
        return shape


# ------------------------------------------------------------------ the native format

def _number(source: str, where: str, value: Any, expected: str, *, low: float = 0.0, strict: bool = False,
            high: float = math.inf, bound: str = "") -> float:
    """A number in [low, high]; else one TraceError saying ``expected`` (and ``at most
    bound`` when the value was a number, too large)."""
    try:
        return limits.number(value, low=low, high=high, strict=strict)
    except Refused as exc:
        if exc.range and bound and limits.to_float(value) > high:
            raise TraceError(source, where, value, f"{expected}, at most {bound}") from None
        raise TraceError(source, where, value, expected) from None


def _priority(source: str, where: str, value: Any) -> str | int:
    if isinstance(value, str):
        text = value.strip()
        if text in PRIORITY_NAMES or text.startswith("gpufleet-"):
            return text
        value = text
    try:
        return limits.whole(value, low=limits.MIN_PRIORITY, high=limits.MAX_PRIORITY)
    except Refused as exc:
        expected = f"one of {', '.join(PRIORITY_NAMES)}, a PriorityClass name or an integer priority"
        if exc.range:
            expected += f" from {limits.MIN_PRIORITY:,} to {limits.MAX_PRIORITY:,} (a pod's priority is an int32)"
        raise TraceError(source, where, value, expected) from None


def gpu_models(text: str | None) -> tuple[str, list[str]] | None:
    """A ``gpu_model`` value: None for any GPU, else (the canonical value, the models not in
    the catalog). ``a|b`` is any of these (``any`` among them: any GPU)."""
    text = (text or "").strip()
    if not text:
        return None
    parts = sorted({m.strip() for m in text.split("|")})
    if "any" in parts:
        return None
    known = catalog_gpu_models()
    return "|".join(parts), [m for m in parts if m not in known]


_MODELS: set[str] = set()


def catalog_gpu_models() -> set[str]:
    """The catalog's GPU model keys (``a100-40gb``, ...)."""
    if not _MODELS:
        from .. import catalog

        _MODELS.update(catalog.instance_type(n).gpu_model.key for n in catalog.instance_type_names()
                       if catalog.instance_type(n).has_gpu)
    return _MODELS


class _RowReader:
    """Parses one native row (a mapping column -> raw value) into a Job."""

    def __init__(self, source: str, time_scale: float, default_checkpoint_minutes: float,
                 teams: Sequence[str] | None = None, stack: str | None = None):
        self.source, self.scale = source, time_scale
        self.default_ckpt = default_checkpoint_minutes * 60
        self.shapes = ShapeCache()
        self._shape_rows: dict[tuple, Shape] = {}
        self.teams = None if teams is None else list(teams)
        self.stack = stack or "the stack"
        #: team -> where it first appears
        self.seen: dict[str, str] = {}

    def _submit(self, line: str, value: Any) -> float:
        scale = self.scale
        bound = TEN_YEARS + (f" once multiplied by --time-scale {scale:g}" if scale != 1 else "")
        x = _number(self.source, f"{line}: submit", value, "seconds from the trace start (a number >= 0)",
                    high=MAX_TRACE_S / scale, bound=bound)
        return min(x * scale, MAX_TRACE_S)

    def job(self, index: int, line: str, row: dict[str, Any]) -> Job | tuple[str, str]:
        src = self.source
        for col in REQUIRED:
            if row.get(col) in (None, ""):
                raise TraceError(src, f"{line}: {col}", None, f"a value in the required column {col}")
        submit = self._submit(line, row["submit"])
        run = _number(src, f"{line}: run", row["run"], "seconds of work (a number > 0)", strict=True,
                      high=MAX_TRACE_S, bound=TEN_YEARS)
        if submit + run > MAX_TRACE_S:
            raise TraceError(src, f"{line}: run", row["run"], f"seconds of work (a number > 0) ending within "
                             f"{TEN_YEARS} of the trace start (submitted at {submit:,.0f} s)")
        name = row.get("name") or None
        raw = tuple(row.get(c) for c in ("team", "priority", "gpus", "gpu_model", "gpu_memory_gib", "cpu",
                                         "memory_gib", "pods", "kind", "pool"))
        shape = self._shape_rows.get(raw)
        if shape is None:
            shape = self._shape_rows[raw] = self._shape(line, row)
        if shape.gpus == 0:
            return (name or f"job-{index + 1}", "CPU-only pod (gpus 0): not GPU work, not replayed")
        ck = row.get("checkpoint_minutes")
        if shape.service:
            checkpoint = None
        elif ck in (None, ""):
            checkpoint = self.default_ckpt
        else:
            checkpoint = _number(src, f"{line}: checkpoint_minutes", ck, "minutes between checkpoints (0: none)",
                                 high=MAX_TRACE_S / 60, bound=f"{MAX_TRACE_S / 60:,.0f} (10 years)") * 60
        return Job(index, name, submit, run, checkpoint, shape)

    def _shape(self, line: str, row: dict[str, Any]) -> Shape:
        src = self.source
        what = "GPUs per pod: a whole number, or a fraction below 1"
        gpus = _number(src, f"{line}: gpus", row["gpus"], what, high=limits.MAX_GPUS, bound=f"{limits.MAX_GPUS:,}")
        if gpus > 1 and gpus != int(gpus):
            raise TraceError(src, f"{line}: gpus", row["gpus"], what)
        pods = row.get("pods") or 1
        try:
            n_pods = limits.whole(pods, low=1, high=limits.MAX_PODS)
        except Refused as exc:
            raise TraceError(src, f"{line}: pods", pods, "a whole number of pods >= 1" + (
                f", at most {limits.MAX_PODS:,} (Kubernetes' largest supported cluster)" if exc.range else "")) from None
        kind = str(row.get("kind") or "batch").strip()
        if kind not in ("batch", "service"):
            raise TraceError(src, f"{line}: kind", kind, "batch or service")
        models = gpu_models(None if row.get("gpu_model") is None else str(row.get("gpu_model")))
        if models is not None and models[1]:
            known = catalog_gpu_models()
            raise TraceError(src, f"{line}: gpu_model", row["gpu_model"],
                             f"a catalog GPU model ({', '.join(sorted(known))}), several separated by | "
                             "(any of them), or any")
        team = str(row["team"]).strip()
        if self.teams is not None and team not in self.teams:
            raise TraceError(src, f"{line}: team", team, f"a team of {self.stack} ({', '.join(self.teams)}); "
                             f"--team-map {excerpt(team) or 'TEAM'}=TEAM sends its jobs to one")
        self.seen.setdefault(team, line)
        gmem = row.get("gpu_memory_gib")
        return self.shapes.get(
            team, _priority(src, f"{line}: priority", row.get("priority") or "training"), gpus,
            None if models is None else models[0],
            None if gmem in (None, "") else _number(src, f"{line}: gpu_memory_gib", gmem, "GiB (a number > 0)",
                                                    strict=True, high=limits.MAX_GPU_MEMORY_GIB,
                                                    bound=f"{limits.MAX_GPU_MEMORY_GIB:,}"),
            _number(src, f"{line}: cpu", row.get("cpu") or 1, "cores per pod (a number > 0)", strict=True,
                    high=limits.MAX_CPU, bound=f"{limits.MAX_CPU:,}"),
            _number(src, f"{line}: memory_gib", row.get("memory_gib") or 4, "GiB per pod (a number > 0)", strict=True,
                    high=limits.MAX_MEMORY_GIB, bound=f"{limits.MAX_MEMORY_GIB:,}"),
            n_pods, kind == "service", str(row.get("pool") or "").strip() or None)


def read_native(path: Path, source: str | None = None, *, time_scale: float = 1.0,
                checkpoint_minutes: float = 30.0, team_map: dict[str, str] | None = None,
                teams: Sequence[str] | None = None, stack: str | None = None) -> Trace:
    """A native trace (CSV with a header, or JSON Lines when the file ends in .jsonl/.json).
    With ``teams`` (the stack's, named ``stack``), a job of another team is an error."""
    source = source or str(path)
    scan(path, source)
    reader = _RowReader(source, time_scale, checkpoint_minutes, teams, stack)
    jobs: list[Job] = []
    skipped: list[tuple[str, str]] = []

    def slow(index: int, line: str, row: dict[str, Any]) -> Job | tuple[str, str]:
        if team_map:
            team = str(row.get("team", "")).strip()
            if team in team_map or "*" in team_map:
                row = {**row, "team": team_map.get(team, team_map.get("*"))}
        out = reader.job(index, line, row)
        (jobs if isinstance(out, Job) else skipped).append(out)
        return out

    if path.suffix in (".jsonl", ".json"):
        for index, (line, row) in enumerate(_jsonl_rows(path, source)):
            slow(index, line, row)
    else:
        _read_csv(path, source, slow, jobs, time_scale, checkpoint_minutes * 60)
    return finish(Trace(source, "native", jobs, skipped, teams=reader.seen))


_SHAPE_COLUMNS = ("team", "priority", "gpus", "gpu_model", "gpu_memory_gib", "cpu", "memory_gib", "pods", "kind", "pool")


def _read_csv(path: Path, source: str, slow: Any, jobs: list[Job], scale: float, default_ckpt: float) -> None:
    """CSV rows into ``jobs``; a row with a shape not seen yet, or anything unusual, takes the
    validating path (``slow``), which also raises the one-line errors."""
    rows = _csv_rows(path, source)
    header = rows.send(None)
    col = {h: i for i, h in enumerate(header)}
    shape_at = [col.get(c) for c in _SHAPE_COLUMNS]
    si, ri, ni, ci = col["submit"], col["run"], col.get("name"), col.get("checkpoint_minutes")
    known: dict[tuple, Shape | None] = {}
    ckpts: dict[str, float] = {}
    top = MAX_TRACE_S
    for n, cells in rows:
        key = tuple([None if i is None else cells[i] for i in shape_at])
        shape = known.get(key, False)
        try:
            submit, run = float(cells[si]) * scale, float(cells[ri])
            ok = 0 <= submit and 0 < run and submit + run <= top
            raw_ck = cells[ci] if ci is not None else ""
            ck = ckpts.get(raw_ck)
            if ck is None and raw_ck:
                ck = ckpts[raw_ck] = float(raw_ck) * 60
            if raw_ck and not 0 <= ck <= top:
                ok = False
        except ValueError:
            ok = False
        if shape is False or not ok or shape is None:
            out = slow(n - 2, f"line {n}", dict(zip(header, cells)))
            if shape is False:
                known[key] = out.shape if isinstance(out, Job) else None
            continue
        checkpoint = None if shape.service else (ck if raw_ck else default_ckpt)
        jobs.append(Job(n - 2, cells[ni] or None if ni is not None else None, submit, run, checkpoint, shape))


def from_rows(rows: Iterable[dict[str, Any]], source: str = "rows", *, time_scale: float = 1.0,
              checkpoint_minutes: float = 30.0) -> Trace:
    """A trace from job dicts in the native columns (tests, generated traces)."""
    reader = _RowReader(source, time_scale, checkpoint_minutes)
    jobs: list[Job] = []
    skipped: list[tuple[str, str]] = []
    for n, row in enumerate(rows, start=1):
        unknown = [k for k in row if k not in COLUMNS]
        if unknown:
            raise TraceError(source, f"row {n}: {key_shown(unknown[0])}", row[unknown[0]],
                             f"a native column ({', '.join(COLUMNS)})")
        out = reader.job(len(jobs) + len(skipped), f"row {n}", row)
        if isinstance(out, Job):
            jobs.append(out)
        else:
            skipped.append(out)
    return finish(Trace(source, "native", jobs, skipped, teams=reader.seen))


def finish(trace: Trace) -> Trace:
    """Jobs in submission order (stable: ties keep the trace's order), indexed."""
    trace.jobs.sort(key=lambda j: j.submit)
    return trace


def write_native(jobs: Iterable[dict[str, Any]], path: Path | str) -> Path:
    """Write job dicts (native columns) as a CSV trace, atomically
    (:func:`gpufleet.atomic_file.write_atomic`: a temporary file in the same folder renamed
    into place; never through a symbolic link; a failure leaves the old file, or none, and no
    temporary file, and is one :class:`~gpufleet.atomic_file.WriteError`)."""
    from gpufleet.atomic_file import write_atomic

    jobs = list(jobs)
    cols = [c for c in COLUMNS if any(c in j for j in jobs)]
    out = io.StringIO(newline="")
    w = csv.writer(out)
    w.writerow(cols)
    for j in jobs:
        w.writerow(["" if j.get(c) is None else j[c] for c in cols])
    return write_atomic(path, out.getvalue())
