"""A fleet: several gpufleet stacks (clusters, usually in several regions) managed together.

The project's fleet file (``fleet.yaml`` in its stacks dir: ``stacks/fleet.yaml`` here)
names the clusters::

    global:                                  # optional: account-level resources
      stack: acme/gpufleet-global/global     # fully qualified stack name (StackReference)
      outputs: [model_bucket_arn]            # the outputs the clusters read
    clusters:
      - {stack: prod, region: us-east-1, role: primary}
      - {stack: prod-west, region: us-west-2, role: replica}

``plan_fleet`` renders every cluster offline in worker processes (the Pulumi mock
runtime is per process) and summarises each; ``gpufleet.fleet_deploy`` drives
``pulumi preview|up`` for every cluster through the Automation API.
``global_outputs`` is the cross-stack pattern: the program reads the global stack's
outputs through one ``pulumi.StackReference``.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gpufleet.modules import config as stack_config

from .project import Project, coerce
from .replicate import BadInput

Role = Literal["primary", "replica", "standalone"]
QUALIFIED_STACK = re.compile(r"^[\w.-]+/[\w.-]+/[\w.-]+$")
STACK_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class GlobalStack(_Strict):
    """The stack holding account-level resources shared by the clusters (e.g. a model bucket)."""

    #: fully qualified: ``<organization>/<project>/<stack>`` (what ``pulumi.StackReference`` takes)
    stack: str
    #: the outputs of that stack the clusters read
    outputs: list[str] = []

    @field_validator("stack")
    @classmethod
    def _qualified(cls, v: str) -> str:
        if not QUALIFIED_STACK.match(v):
            raise ValueError("a fully qualified stack name <organization>/<project>/<stack>")
        return v


class ClusterEntry(_Strict):
    stack: str
    region: str
    role: Role = "replica"

    @field_validator("stack")
    @classmethod
    def _stack_name(cls, v: str) -> str:
        if not STACK_NAME.match(v):
            raise ValueError("a stack name: lowercase letters, digits and '-', alphanumeric at both ends "
                             "(its file is Pulumi.<stack>.yaml next to the fleet file)")
        return v


class FleetFile(_Strict):
    global_: GlobalStack | None = Field(default=None, alias="global")
    clusters: list[ClusterEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Cluster:
    stack: str
    region: str
    role: str
    path: Path


@dataclass(frozen=True)
class Fleet:
    source: Path
    clusters: tuple[Cluster, ...]
    global_stack: GlobalStack | None = None

    @property
    def directory(self) -> Path:
        return self.source.parent


def default_file(project: Project | Path | None = None) -> Path:
    """The project's fleet file (default: the current directory's project)."""
    return coerce(project).fleet_file


def load(path: Path | None = None, project: Project | Path | None = None) -> Fleet:
    """Read and check a fleet file (default: the project's): every named stack exists,
    validates and is in its region."""
    proj = coerce(project) if path is None or project is not None else None
    path = Path(path) if path is not None else proj.fleet_file
    source = proj.shown(path) if proj is not None else str(path)

    def shown(file: Path) -> str:
        return proj.shown(file) if proj is not None else str(file)

    def error(key_path: str, given: Any, expected: str) -> BadInput:
        return BadInput(str(stack_config.ConfigError(source, key_path, given, expected)))

    try:
        doc = stack_config.read_yaml_file(path, "fleet file (fleet.yaml in the project's stacks dir)", shown=source)
    except stack_config.ConfigError as exc:
        raise BadInput(str(exc)) from None
    try:
        spec = FleetFile.model_validate(doc if doc is not None else {})
    except ValidationError as exc:
        raise BadInput(str(stack_config.error_from_validation(exc, source, FleetFile))) from None
    clusters: list[Cluster] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(spec.clusters):
        key = f"clusters[{i}]"
        if entry.stack in seen:
            raise error(f"{key}.stack", entry.stack, f"each stack listed once (it is clusters[{seen[entry.stack]}] too)")
        seen[entry.stack] = i
        file = path.parent / f"Pulumi.{entry.stack}.yaml"
        if not file.exists():  # a directory or an unreadable file: from_file names the problem
            raise error(f"{key}.stack", entry.stack, f"a stack with a file next to the fleet file ({file} does not exist)")
        cfg, _ = stack_config.from_file(file, shown(file))
        if cfg.region != entry.region:
            raise error(f"{key}.region", entry.region, f"the region {shown(file)} deploys to "
                                                       f"(aws:region {cfg.region})")
        clusters.append(Cluster(entry.stack, entry.region, entry.role, file))
    primaries = [c.stack for c in clusters if c.role == "primary"]
    if len(primaries) > 1:
        raise error("clusters", stack_config.Shown(f"{len(primaries)} primaries ({', '.join(primaries)})"),
                    "at most one cluster with role: primary")
    return Fleet(path, tuple(clusters), spec.global_)


# ---------------------------------------------------------------- fleet plan

@dataclass
class Summary:
    stack: str
    region: str
    role: str
    resources: int = 0
    idle: float | None = None
    max: float | None = None
    violations: int | None = None
    failed: bool = False
    error: str | None = None
    seconds: float = 0.0
    #: the process that rendered it
    pid: int = 0

    @property
    def status(self) -> str:
        return "error" if self.error else ("FAILED" if self.failed else "ok")


def summarize(cluster: Cluster) -> Summary:
    """Render one cluster's stack and summarise it (runs in a worker process)."""
    from . import plan as planner

    start = time.perf_counter()
    out = Summary(cluster.stack, cluster.region, cluster.role, pid=os.getpid())
    try:
        result = planner.render(str(cluster.path))
    except Exception as exc:  # noqa: BLE001 - one broken cluster is a row, not a crash
        out.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    else:
        out.resources = len(result.resources)
        out.failed = result.failed
        reports = {r.key: r.data for r in result.reports}
        out.idle, out.max = cost_figures(reports.get("cost"))
        out.violations = violation_count(reports["policy"]) if "policy" in reports else None
    out.seconds = time.perf_counter() - start
    return out


def cost_figures(data: Any) -> tuple[float | None, float | None]:
    """(idle, max) monthly USD from the plan's ``cost`` report (``{"monthly": {"idle", "max"}}``)."""
    if not isinstance(data, dict):
        return None, None
    monthly = data.get("monthly") if isinstance(data.get("monthly"), dict) else data
    idle, top = monthly.get("idle"), monthly.get("max")
    num = (int, float)
    return (idle if isinstance(idle, num) else None, top if isinstance(top, num) else None)


def violation_count(data: Any) -> int:
    """How many violations the plan's ``policy`` report lists."""
    if isinstance(data, dict):
        for key in ("violations", "results"):
            if isinstance(data.get(key), list):
                return len(data[key])
        return sum(len(v) for v in data.values() if isinstance(v, list))
    return len(data) if isinstance(data, list) else 0


def _warm() -> None:
    """Worker start: import the program once so the first render isn't charged for it."""
    import gpufleet.plan  # noqa: F401
    import gpufleet.modules.platform  # noqa: F401


def plan_fleet(fleet: Fleet, jobs: int | None = None, progress: Progress | None = None) -> list[Summary]:
    """Render every cluster in worker processes, at most ``jobs`` of them (``jobs=1``: in this
    process, one after the other; default: one worker per CPU)."""
    clusters = list(fleet.clusters)
    jobs = max(1, jobs or os.cpu_count() or 1)
    progress = progress or Progress(len(clusters), stream=None)
    done: dict[str, Summary] = {}
    if jobs == 1:
        for c in clusters:
            done[c.stack] = summarize(c)
            progress.step(done[c.stack])
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(clusters)), mp_context=ctx, initializer=_warm) as pool:
            futures = {pool.submit(summarize, c): c for c in clusters}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    c = futures[fut]
                    try:
                        done[c.stack] = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a dead worker: report the cluster
                        done[c.stack] = Summary(c.stack, c.region, c.role, error=f"{type(exc).__name__}: {exc}")
                    progress.step(done[c.stack])
                if not finished:
                    progress.tick()
    progress.close()
    return [done[c.stack] for c in clusters]


class Progress:
    """A progress bar on a terminal; one plain line per finished cluster otherwise."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO | None = sys.stderr, label: str = "fleet plan"):
        self.total, self.stream, self.label = total, stream, label
        self.count = 0
        self.start = time.perf_counter()
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def step(self, summary: Summary) -> None:
        self.count += 1
        if self.stream is None:
            return
        if self.tty:
            self._bar(f"{summary.stack} {summary.status}")
        else:
            self.stream.write(f"{self.label}: [{self.count}/{self.total}] {summary.stack} {summary.status} "
                              f"({summary.seconds:.1f}s)\n")
            self.stream.flush()

    def tick(self) -> None:
        if self.tty:
            self._bar("")

    def _bar(self, last: str) -> None:
        filled = self.WIDTH * self.count // max(self.total, 1)
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                          f"{self.count}/{self.total} {elapsed:5.1f}s {last:<30.30}")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _money(x: float | None) -> str:
    return "-" if x is None else f"${x:,.0f}"


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def summary_table(summaries: Sequence[Summary]) -> str:
    rows = [("cluster", "region", "role", "resources", "idle/mo", "max/mo", "violations", "status")]
    for s in summaries:
        rows.append((s.stack, s.region, s.role, str(s.resources) if not s.error else "-", _money(s.idle),
                     _money(s.max), "-" if s.violations is None else str(s.violations), s.status))
    idle = [s.idle for s in summaries if s.idle is not None]
    top = [s.max for s in summaries if s.max is not None]
    rows.append(("total", "", "", str(sum(s.resources for s in summaries)), _money(sum(idle)) if idle else "-",
                 _money(sum(top)) if top else "-", "", ""))
    text = table(rows)
    errors = [f"{s.stack}: {s.error}" for s in summaries if s.error]
    return text + ("\n" + "\n".join(errors) if errors else "")


# ---------------------------------------------------------------- cross-stack values

def global_outputs(spec: GlobalStack, name: str = "global") -> dict[str, Any]:
    """Inside the Pulumi program: the global stack's outputs, one ``pulumi.StackReference``.

    Returns ``{output name: pulumi.Output}`` for ``spec.outputs`` (e.g. the shared model
    bucket's ARN to grant teams read access). Under the offline mock engine the reference
    is recorded like any resource and its outputs are unknown.
    """
    import pulumi

    ref = pulumi.StackReference(name, stack_name=spec.stack)
    return {key: ref.get_output(key) for key in spec.outputs}
