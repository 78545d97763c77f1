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

from modules import config as stack_config
from modules import physical_names
from modules.outputs import StackOutputs
from modules.schema.stack import StackConfig

from . import engine

PROJECT_ROOT = Path(stack_config.__file__).resolve().parents[1]
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


def resolve(stack_or_path: str, root: Path | None = None) -> tuple[Path, str, str]:
    """(file, stack name, how to show the file) for a stack name or a stack file path."""
    root = root or PROJECT_ROOT
    candidate = Path(stack_or_path)
    if stack_or_path.endswith((".yaml", ".yml")) or candidate.is_file():
        stem = candidate.name.rsplit(".", 1)[0]
        return candidate, stem.removeprefix("Pulumi."), str(candidate)
    path = stack_config.stack_file(stack_or_path, root)
    return path, stack_or_path, f"{stack_config.STACKS_DIR}/{path.name}"


def render(stack_or_path: str, root: Path | None = None) -> Plan:
    """Validate the stack file, then run the program under the mock engine."""
    path, stack, shown = resolve(stack_or_path, root)
    if not path.is_file():
        raise stack_config.ConfigError(shown, "(file)", stack_or_path,
                                       f"a stack name with a file {stack_config.STACKS_DIR}/Pulumi.<stack>.yaml, or a path to one")
    cfg, raw = stack_config.from_file(path, shown)
    plan = run_program(cfg, raw, stack, shown)
    add_reports(plan)
    return plan


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
    from modules.platform import build

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
