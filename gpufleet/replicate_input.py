"""What ``gpufleet replicate`` (and ``gpufleet init``) are given, checked before anything is
written: the project, the source stack, the new stack's name and file, and ``--set
key.path=value`` edits. :class:`BadInput` is the one-line user error of these commands (and
of ``fleet``, ``preflight`` and ``simulate --set``, which share it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gpufleet.modules import config as stack_config
from gpufleet.modules import physical_names

from .exit_codes import BadInputError
from .project import Project, coerce
from .replicate_yaml import styled

STACK_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


class BadInput(BadInputError):
    """A user error: the command prints it and exits 2."""


# ---------------------------------------------------------------- the project and its stacks

def project_for(project: Project | Path | None = None, directory: Path | None = None) -> Project:
    """The project to act on: ``directory`` (a stacks dir: the hidden ``--stacks-dir``) first,
    then ``project``, else the current directory's project."""
    if directory is not None:
        return Project.for_stacks_dir(directory)
    return coerce(project)


def known_stacks(directory: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))


def source_file(stack: str, directory: Path) -> Path:
    path = directory / f"Pulumi.{stack}.yaml"
    if not path.exists():  # a directory or an unreadable file is the reader's one-line error
        known = ", ".join(known_stacks(directory)) or "none"
        raise BadInput(f"unknown source stack {stack!r}: no file {path} (stacks there: {known})")
    return path


def check_new_name(new: str, region: str, proj: Project) -> None:
    """The new stack's name makes valid physical names in ``region`` (before anything is written)."""
    physical_names.check_stack(new, region, proj.shown(proj.stack_file(new)))
    if not STACK_NAME.match(new):
        raise BadInput(f"new stack name {new!r}: expected 1-40 lowercase letters, digits and '-' "
                       "(it becomes the cluster name gpufleet-<stack>)")


def check_new_file(new: str, proj: Project, command: str = "replicate") -> Path:
    """The new stack's file, not there yet (its name's environment is checked against the
    file's once read: :func:`gpufleet.replicate.derive`)."""
    target = proj.stack_file(new)
    if target.exists():
        raise BadInput(f"{target} already exists: gpufleet {command} never overwrites a stack "
                       "(remove it first or pick another name)")
    return target


# ---------------------------------------------------------------- --set key.path=value

def parse_set(expr: str) -> tuple[str, Any]:
    """``pools.gpu[0].max=4`` -> (``gpufleet:pools.gpu[0].max``, 4). Values are YAML (``true``, ``4``, ``[a, b]``)."""
    path, sep, text = expr.partition("=")
    path = path.strip()
    if not sep or not path:
        raise BadInput(f"--set {expr!r}: expected key.path=value, e.g. gpufleet:pools.gpu[0].max=4")
    head = path.split(".")[0].split("[")[0]
    if ":" not in head:
        path = stack_config.NS + path
    try:
        value = stack_config.parse_yaml(text, f"--set {path}", "value") if text.strip() else ""
    except stack_config.ConfigError as exc:
        raise BadInput(str(exc)) from None
    return path, value


def set_path(raw: dict[str, Any], path: str, value: Any) -> Any:
    """Set an existing ``path`` (``gpufleet:pools.gpu[0].max``; a list item by index or by its
    ``name``: ``gpu[train-a100]``) and return the old value. A missing key is a BadInput.
    The new value takes the old one's style (a round-trip document keeps its layout)."""
    head, _, rest = path.partition(".")
    if "[" in head:
        head, rest = head[: head.index("[")], head[head.index("["):] + ("." + rest if rest else "")
    parts: list[str] = [head] + [key or idx for key, idx in _SEGMENT.findall(rest)]
    node: Any = raw
    where = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if part not in node:
                keys = ", ".join(map(str, node)) or "(none)"
                raise BadInput(f"--set {path}: no key {part!r} at {where or 'config'} (keys there: {keys})")
            key: Any = part
        elif isinstance(node, list):
            key = _list_index(node, part, path, where)
        else:
            raise BadInput(f"--set {path}: {where} is a value ({node!r}), not a mapping or list")
        where = f"{where}[{part}]" if isinstance(node, list) else (f"{where}.{part}" if where else part)
        if last:
            old = node[key]
            node[key] = styled(old, value)
            return old
        node = node[key]
    raise BadInput(f"--set {path}: empty path")  # pragma: no cover - partition always yields a head


def _list_index(node: list[Any], part: str, path: str, where: str) -> int:
    if part.isdigit():
        if int(part) < len(node):
            return int(part)
        raise BadInput(f"--set {path}: {where} has {len(node)} item(s), no index {part}")
    for j, item in enumerate(node):
        if isinstance(item, dict) and item.get("name") == part:
            return j
    names = [str(item.get("name")) for item in node if isinstance(item, dict) and "name" in item]
    raise BadInput(f"--set {path}: no item named {part!r} in {where} (names: {', '.join(names) or 'none'})")
