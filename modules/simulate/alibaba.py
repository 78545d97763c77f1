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
  by ``--gpu-map SPEC=MODEL``;
- team: ``--team-map QOS=TEAM,...`` (``*`` for the rest); without it, the stack's teams in
  turn by a stable hash of the pod name (``crc32(name) mod teams``).
"""

from __future__ import annotations

import csv
import math
import zlib
from pathlib import Path
from typing import Mapping, Sequence

from .. import catalog
from .trace import Job, ShapeCache, Trace, TraceError, finish

COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase",
           "creation_time", "deletion_time", "scheduled_time")


def defaults() -> dict:
    return catalog.load("simulate_defaults.json")["alibaba"]


def is_alibaba(path: Path) -> bool:
    """A CSV whose header is the pod list's."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return False
    return [h.strip() for h in header] == list(COLUMNS)


def _lookup(table: Mapping[str, str], key: str) -> str:
    return table.get(key, table.get("*", ""))


def read(path: Path, source: str | None = None, *, teams: Sequence[str], time_scale: float = 1.0,
         checkpoint_minutes: float = 30.0, team_map: Mapping[str, str] | None = None,
         gpu_map: Mapping[str, str] | None = None) -> Trace:
    """The pod list at ``path`` as a :class:`Trace` for a stack with ``teams``."""
    source = source or str(path)
    d = defaults()
    spec_map = {**d["gpu_spec"], **(gpu_map or {})}
    team_map = dict(team_map or {})
    teams = list(teams) or ["default"]
    shapes = ShapeCache()
    jobs: list[Job] = []
    skipped: list[tuple[str, str]] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        try:
            _rows(csv.reader(fh), source, spec_map, team_map, teams, d, time_scale, checkpoint_minutes * 60, shapes,
                  jobs, skipped)
        except csv.Error as exc:
            raise TraceError(source, "(file)", str(exc), "comma-separated values") from None
    return finish(Trace(source, "alibaba", jobs, skipped))


def _rows(reader, source, spec_map, team_map, teams, d, time_scale, ckpt, shapes, jobs, skipped) -> None:
    header = [h.strip() for h in next(reader, [])]
    if header != list(COLUMNS):
        raise TraceError(source, "line 1", ",".join(header), f"the pod list header {','.join(COLUMNS)}")
    for row in reader:
        n = reader.line_num
        if not row:
            continue
        if len(row) != len(COLUMNS):
            raise TraceError(source, f"line {n}", ",".join(row), f"{len(COLUMNS)} comma-separated values")
        name, cpu, mem, num_gpu, milli, spec, qos, _phase, created, deleted, scheduled = row
        try:
            gpus_whole, gpu_milli, cpu_m, mem_mib = int(num_gpu), int(milli or 0), int(cpu), int(mem)
            t_created, t_deleted = float(created), float(deleted)
            t_start = float(scheduled) if scheduled else t_created
            ok = min(gpus_whole, gpu_milli, cpu_m, mem_mib) >= 0 and all(
                0 <= t < math.inf for t in (t_created, t_deleted, t_start))
        except ValueError:
            ok = False
        if not ok:
            raise TraceError(source, f"line {n}", ",".join(row), "whole numbers >= 0 for cpu_milli, memory_mib, "
                             "num_gpu, gpu_milli and seconds >= 0 for the times")
        if gpus_whole == 0:
            skipped.append((name, "CPU-only pod (num_gpu 0): not GPU work, not replayed"))
            continue
        gpus = gpu_milli / 1000 if gpus_whole == 1 and 0 < gpu_milli < 1000 else float(gpus_whole)
        model = _lookup(spec_map, spec) if spec else ""
        if model and model != "any" and model not in _known_models():
            raise TraceError(source, f"line {n}: gpu_spec", spec,
                             f"a gpu_spec mapped to a catalog GPU model (--gpu-map {spec}=MODEL or any)")
        team = team_map.get(qos) or team_map.get("*") or teams[zlib.crc32(name.encode()) % len(teams)]
        service = _lookup(d["qos_kind"], qos) == "service"
        shape = shapes.get(team, _lookup(d["qos_priority"], qos), gpus, model if model and model != "any" else None,
                           None, max(cpu_m / 1000, 0.001), max(mem_mib / 1024, 0.001), 1, service)
        jobs.append(Job(len(jobs) + len(skipped), name, t_created * time_scale, max(t_deleted - t_start, 1.0),
                        None if service else ckpt, shape))


_MODELS: set[str] = set()


def _known_models() -> set[str]:
    if not _MODELS:
        _MODELS.update(catalog.instance_type(n).gpu_model.key for n in catalog.instance_type_names()
                       if catalog.instance_type(n).has_gpu)
    return _MODELS
