"""``gpufleet plan``: render every resource a stack would create, offline.

The stack file is validated first (a bad file stops here, before any resource is
declared); then the real program (``modules.platform.build``) runs under the recording
mock engine and the result is a :class:`Plan`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pulumi

from gpufleet.modules import config as stack_config
from gpufleet.modules import physical_names
from gpufleet.modules.eks_support import support
from gpufleet.modules.outputs import StackOutputs
from gpufleet.modules.schema.stack import StackConfig

from . import engine
from .project import PACKAGE_ROOT, Project, coerce  # noqa: F401 - PACKAGE_ROOT: gpufleet's own files, never the user's

SECRET = "[secret]"
#: Reports added to every plan, in order: module ``gpufleet.reports.<name>`` with a
#: ``report(plan) -> Report`` function. A missing module is skipped.
REPORTS = ("cost", "policy")


@dataclass
class Report:
    """One section of a plan: a key in ``--json``, a block of text, and whether it fails the plan."""

    key: str
    data: Any
    text: str
    failed: bool = False


class ReportFn(Protocol):
    def __call__(self, plan: "Plan") -> Report: ...


@dataclass
class Plan:
    project: str
    stack: str
    source: str
    config: StackConfig
    resources: list[engine.Recorded]
    outputs: dict[str, Any]
    reports: list[Report] = field(default_factory=list)
    #: the project the stack was rendered from (:func:`render`): whose ``policies/config`` the
    #: policy report reads; None for a plan run from a config alone (:func:`run_program`)
    origin: Project | None = None

    @property
    def failed(self) -> bool:
        """A report (e.g. a mandatory policy violation) fails the plan: exit code 1."""
        return any(r.failed for r in self.reports)

    def by_type(self, typ: str) -> list[engine.Recorded]:
        return [r for r in self.resources if r.type == typ]

    def get(self, typ: str, name: str) -> engine.Recorded:
        for r in self.resources:
            if r.type == typ and r.name == name:
                return r
        raise KeyError(f"{typ} {name}")

    def children(self, urn: str | None) -> list[engine.Recorded]:
        return [r for r in self.resources if r.parent == urn]

    def to_json(self) -> dict[str, Any]:
        doc = {
            "project": self.project,
            "stack": self.stack,
            "resources": [
                {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent,
                 "inputs": r.inputs, "options": r.options}
                for r in self.resources
            ],
            "outputs": self.outputs,
        }
        doc.update({r.key: r.data for r in self.reports})
        return doc


def resolve(stack_or_path: str, project: Project | Path | None = None) -> tuple[Path, str, str]:
    """(file, stack name, how to show the file) for a stack name or a stack file path.

    A name is a file in the project's stacks dir (``project``: default the current
    directory's project, found like ``pulumi`` finds it); a path is that file, wherever it is."""
    candidate = Path(stack_or_path)
    if stack_or_path.endswith((".yaml", ".yml")) or candidate.is_file():
        stem = candidate.name.rsplit(".", 1)[0]
        return candidate, stem.removeprefix("Pulumi."), str(candidate)
    proj = coerce(project)
    path = stack_config.stack_file(stack_or_path, stacks_dir=proj.stacks_dir)
    return path, stack_or_path, proj.shown(path)


def missing_stack(stack_or_path: str, shown: str, project: Project | Path | None = None) -> stack_config.ConfigError:
    """The one-line error for a stack name without a file (naming the project's stacks)."""
    if stack_or_path.endswith((".yaml", ".yml")) or "/" in stack_or_path:
        where = ""
    else:
        proj = coerce(project)
        known = ", ".join(proj.stacks()) or "none"
        where = f" (stacks of project {proj.name} in {proj.shown(proj.stacks_dir)}/: {known})"
    return stack_config.ConfigError(shown, "(file)", stack_config.Verbatim(stack_or_path),  # an argument
                                    f"a stack name with a file Pulumi.<stack>.yaml in the project's stacks dir, "
                                    f"or a path to one{where}")


def render(stack_or_path: str, project: Project | Path | None = None) -> Plan:
    """Validate the stack file, then run the program under the mock engine."""
    path, stack, shown = resolve(stack_or_path, project)
    if not path.is_file():
        raise missing_stack(stack_or_path, shown, project)
    cfg, raw = stack_config.from_file(path, shown)
    plan = run_program(cfg, raw, stack, shown)
    plan.origin = origin(stack_or_path, path, project)
    add_reports(plan)
    return plan


def origin(stack_or_path: str, path: Path, project: Project | Path | None = None) -> Project | None:
    """The project a stack belongs to: for a stack name, the project it was looked up in; for a
    stack file path, the project holding the file (else the command's project)."""
    from .project import find_optional

    if stack_or_path.endswith((".yaml", ".yml")) or Path(stack_or_path).is_file():
        found = find_optional(path.absolute().parent)
        if found is not None:
            return found
        return coerce(project) if project is not None else find_optional()
    return coerce(project)


def storage_warnings(cfg: StackConfig, shown: str) -> list[str]:
    """What a valid stack probably did not mean: a team ``storage.buckets.grants`` leaves out
    gets no S3 access at all (the grants list is explicit; without it every team gets the
    defaults). One line each, for stderr (``plan``, ``check``)."""
    grants = cfg.storage.buckets.grants
    if grants is None:
        return []
    granted = {g.team for g in grants}
    missing = [t.name for t in cfg.teams if t.name not in granted]
    return [f"warning: {shown}: gpufleet:storage.buckets.grants lists {', '.join(sorted(granted)) or 'no team'} "
            f"but not team {team}: it gets no access to the datasets and models buckets (add "
            f"{{team: {team}, datasets: read, models: read-write}} to grant the defaults, or datasets: none, "
            f"models: none to say it is meant)" for team in missing]


def config_warnings(cfg: StackConfig, shown: str) -> list[tuple[str, str]]:
    """Every warning a valid stack gets, as (key path, one line for stderr): the storage grants
    above, and the EKS calendar (``modules/eks_support.py``: a version in extended support, or
    within its last days of standard support)."""
    found = [("gpufleet:storage.buckets.grants", w) for w in storage_warnings(cfg, shown)]
    eks = support(cfg.cluster.version).warning()
    if eks:
        found.append(("gpufleet:cluster.version", f"warning: {shown}: gpufleet:cluster.version: {eks}"))
    return found


def add_reports(plan: Plan) -> Plan:
    for name in REPORTS:
        try:
            module = importlib.import_module(f"{__package__}.reports.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.reports.{name}":
                raise
            continue
        plan.reports.append(module.report(plan))
    return plan


def run_program(cfg: StackConfig, raw: dict[str, Any], stack: str, shown: str) -> Plan:
    from gpufleet.modules.platform import build

    physical_names.check_stack(stack, cfg.region, shown, cfg)  # before any resource (issue #11)
    monitor = engine.install(stack_config.PROJECT, stack, raw, cfg.region)
    stack_config.forget()
    captured: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        outputs = build(stack_config.load())
        secret = StackOutputs.secret_names()
        values = {k: (SECRET if k in secret else v) for k, v in vars(outputs).items()}
        return pulumi.Output.from_input(values).apply(captured.update)

    program()
    return Plan(stack_config.PROJECT, stack, shown, cfg, list(monitor.records.values()), captured)
