"""Replicate a stack into another region: ``stacks/Pulumi.<new>.yaml`` from ``stacks/Pulumi.<source>.yaml``.

What changes: ``aws:region``; the AZs (same count: ``--azs`` when given; with AWS
credentials the region's AZs that best offer the pools' instance types, best first; else
the region's first ones from ``modules/data/regions.json``); every value that is one of the
source AZs (e.g. an EFA pool's ``efa_az``, mapped by position); every string that contains
the source region (ARNs, endpoints) or the source cluster name ``gpufleet-<source>``
(physical names that must not collide). Pools, teams, quotas and everything else stay.
Then ``--set`` edits are applied (the path must exist; values are parsed as YAML), the
result is validated like any stack file, and only then written (never over an existing file).

With AWS credentials (and without ``offline``) the new region is checked first:
the AZs exist, every pool's instance types are offered there (a gap is an error, nothing
is written), and the GPU vCPU quotas cover the pools' max (a shortfall is a warning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from modules import catalog
from modules import config as stack_config
from modules import physical_names
from modules.platform import cluster_name
from modules.schema.stack import StackConfig

from . import aws_checks
from .exit_codes import BadInputError

STACK_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


class BadInput(BadInputError):
    """A user error: the command prints it and exits 2."""


@dataclass
class Replica:
    source: str
    stack: str
    path: Path
    raw: dict[str, Any]
    config: StackConfig
    azs: dict[str, str]
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    findings: list[aws_checks.Finding] = field(default_factory=list)
    #: how the AZs were chosen
    azs_from: str = ""
    #: Why the AWS checks did not run (None when they ran).
    skipped: str | None = None


def stacks_dir(root: Path | None = None) -> Path:
    from .plan import PROJECT_ROOT

    return root if root is not None else PROJECT_ROOT / stack_config.STACKS_DIR


def known_stacks(directory: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))


def source_file(stack: str, directory: Path) -> Path:
    path = directory / f"Pulumi.{stack}.yaml"
    if not path.exists():  # a directory or an unreadable file is the reader's one-line error
        known = ", ".join(known_stacks(directory)) or "none"
        raise BadInput(f"unknown source stack {stack!r}: no file {path} (stacks there: {known})")
    return path


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
    ``name``: ``gpu[train-a100]``) and return the old value. A missing key is a BadInput."""
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
            node[key] = value
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


# ---------------------------------------------------------------- region rewrite (pure)

def choose_azs(source_azs: list[str], region: str, explicit: list[str] | None = None) -> list[str]:
    """The AZs of ``region`` replacing ``source_azs`` (same count)."""
    regions = catalog.regions()
    if region not in regions:
        raise BadInput(f"--region {region!r}: not a region gpufleet knows ({', '.join(sorted(regions))})")
    available = regions[region]
    if explicit:
        unknown = [az for az in explicit if az not in available]
        if unknown:
            raise BadInput(f"--azs: {', '.join(unknown)} not in {region} ({', '.join(available)})")
        if len(explicit) != len(source_azs) or len(set(explicit)) != len(explicit):
            raise BadInput(f"--azs: give {len(source_azs)} distinct AZs (the source stack has {len(source_azs)})")
        return list(explicit)
    if len(available) < len(source_azs):
        raise BadInput(f"--region {region}: has {len(available)} AZs ({', '.join(available)}); "
                       f"the source stack uses {len(source_azs)}")
    return available[: len(source_azs)]


def rewrite(raw: dict[str, Any], source: str, new: str, src_region: str, dst_region: str,
            az_map: dict[str, str]) -> list[tuple[str, Any, Any]]:
    """Rewrite region-specific values in place; returns (key path, old, new) per change."""
    old_cluster = re.compile(rf"{re.escape(cluster_name(source))}(?![a-z0-9])")
    changes: list[tuple[str, Any, Any]] = []

    def fix(value: str) -> str:
        if value in az_map:
            return az_map[value]
        for old_az, new_az in az_map.items():
            value = re.sub(rf"{re.escape(old_az)}(?![a-z0-9])", new_az, value)
        value = value.replace(src_region, dst_region) if src_region != dst_region else value
        return old_cluster.sub(cluster_name(new), value)

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            for k in list(node):
                node[k] = walk(node[k], f"{path}.{k}" if path else str(k))
            return node
        if isinstance(node, list):
            for i, v in enumerate(node):
                node[i] = walk(v, f"{path}[{i}]")
            return node
        if isinstance(node, str):
            new_value = fix(node)
            if new_value != node:
                changes.append((path, node, new_value))
            return new_value
        return node

    walk(raw, "")
    return changes


# ---------------------------------------------------------------- the command's logic

def replicate(source: str, new: str, region: str, sets: list[str] | None = None, *,
              directory: Path | None = None, offline: bool = False, azs: list[str] | None = None,
              write: bool = True) -> Replica:
    directory = stacks_dir(directory)
    physical_names.check_stack(new, region, f"{stack_config.STACKS_DIR}/Pulumi.{new}.yaml")  # before any write
    if not STACK_NAME.match(new):
        raise BadInput(f"new stack name {new!r}: expected 1-40 lowercase letters, digits and '-' "
                       "(it becomes the cluster name gpufleet-<stack>)")
    src_path = source_file(source, directory)
    target = directory / f"Pulumi.{new}.yaml"
    if target.exists():
        raise BadInput(f"{target} already exists: gpufleet replicate never overwrites a stack "
                       "(remove it first or pick another name)")
    src_cfg, raw = stack_config.from_file(src_path, stack_config.shown_path(src_path))
    new_azs = choose_azs(list(src_cfg.network.azs), region, azs)
    clients, skipped = _aws_clients(region, offline)
    azs_from = "--azs" if azs else "the first AZs of the region (modules/data/regions.json)"
    if clients is not None and not azs:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pools = [p.instance_types for p in src_cfg.pools.gpu] + [src_cfg.pools.system.instance_types]
            ranked = aws_checks.rank_azs(clients, catalog.regions()[region], pools)
        except (ClientError, BotoCoreError) as exc:
            clients, skipped = None, f"the AWS checks could not run ({exc})"
        else:
            new_azs = ranked[: len(new_azs)]
            azs_from = "the AZs where the account is offered the pools' instance types"
    az_map = dict(zip(src_cfg.network.azs, new_azs))
    changes = rewrite(raw, source, new, src_cfg.region, region, az_map)
    if raw.get(stack_config.REGION_KEY) != region:
        changes.append((stack_config.REGION_KEY, raw.get(stack_config.REGION_KEY), region))
        raw[stack_config.REGION_KEY] = region
    for expr in sets or []:
        path, value = parse_set(expr)
        old = set_path(raw, path, value)
        changes.append((f"{path} (--set)", old, value))
    cfg = stack_config.validate(raw, stack_config.shown_path(target))
    replica = Replica(source, new, target, raw, cfg, az_map, changes, azs_from=azs_from, skipped=skipped)
    if clients is not None:
        run_checks(replica, clients)
    if write:
        write_stack(replica)
    return replica


def _aws_clients(region: str, offline: bool) -> tuple[aws_checks.Clients | None, str | None]:
    """(clients, None) when the AWS checks can run, else (None, why not)."""
    if offline:
        return None, "--offline"
    if not aws_checks.credentials_available():
        return None, "no AWS credentials found (boto3 default chain)"
    return aws_checks.make_clients(region), None


def run_checks(replica: Replica, clients: aws_checks.Clients) -> None:
    """AWS checks of the new region; a missing AZ or instance type is BadInput (nothing written)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        findings = aws_checks.check_azs(clients, replica.config)
        if all(f.level != "fail" for f in findings):
            findings += aws_checks.check_offerings(clients, replica.config)
        findings += aws_checks.check_quotas(clients, replica.config)
    except (ClientError, BotoCoreError) as exc:
        replica.skipped = f"the AWS checks could not run ({exc})"
        return
    replica.findings = findings
    failed = [f for f in findings if f.level == "fail"]
    if failed:
        lines = "\n  ".join(f.message for f in failed)
        raise BadInput(f"{replica.config.region} cannot host a replica of {replica.source} as is "
                       f"(nothing written):\n  {lines}\n"
                       "Pick another region, --azs, or change instance types with --set.")


def write_stack(replica: Replica) -> None:
    header = (f"# {replica.stack}: replica of stack {replica.source} in {replica.config.region}, "
              f"written by `gpufleet replicate` on {date.today().isoformat()}.\n")
    body = yaml.dump({"config": replica.raw}, Dumper=_StackDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=120)
    with open(replica.path, "x", encoding="utf-8") as fh:
        fh.write(header + body)


class _StackDumper(yaml.SafeDumper):
    """Block style, except lists of plain values (``azs: [a, b]``), as the shipped stacks are written."""


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, (str, int, float, bool)) or v is None for v in data) and bool(data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_StackDumper.add_representer(list, _list)
