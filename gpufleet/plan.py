"""``gpufleet plan``: render every resource a stack would create, offline.

The stack file is validated first (a bad file stops here, before any resource is
declared); then the real program (``modules.platform.build``) runs under the recording
mock engine and the result is a :class:`Plan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from modules import config as stack_config
from modules.outputs import StackOutputs
from modules.schema.stack import StackConfig

from . import engine

PROJECT_ROOT = Path(stack_config.__file__).resolve().parents[1]
SECRET = "[secret]"


@dataclass
class Plan:
    project: str
    stack: str
    source: str
    config: StackConfig
    resources: list[engine.Recorded]
    outputs: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)

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
        doc.update(self.extras)
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
    return run_program(cfg, raw, stack, shown)


def run_program(cfg: StackConfig, raw: dict[str, Any], stack: str, shown: str) -> Plan:
    from modules.platform import build

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
