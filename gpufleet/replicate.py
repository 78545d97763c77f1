"""Replicate a stack into another region: ``Pulumi.<new>.yaml`` from ``Pulumi.<source>.yaml``,
in the stacks dir of the project the command acts on (:mod:`gpufleet.project`).

What changes: ``aws:region``; the AZs (same count: ``--azs`` when given; with AWS
credentials the region's AZs that best offer the pools' instance types, best first; else
the region's first ones from ``modules/data/regions.json``); every value that is one of the
source AZs (e.g. an EFA pool's ``efa_az``, mapped by position); every string that contains
the source region (ARNs, endpoints) or the source cluster name ``gpufleet-<source>``
(physical names that must not collide); the VPC CIDR becomes one that overlaps no other
stack of the project (same size, the next free block). Pools, teams, quotas and everything
else stay. Then ``--set`` edits are applied (the path must exist; values are parsed as
YAML), the result is validated like any stack file (its name must say the source's
environment), and only then written (never over an existing file), with the project's
``policies/config/<new>.json``. The file is edited round trip (``ruamel.yaml``): the
source's comments, order, quoting and layout stay, so its diff against the source is the
changed lines only.

With AWS credentials (and without ``offline``) the new region is checked first:
the AZs exist, every pool's instance types are offered there (a gap is an error, nothing
is written), and the GPU vCPU quotas cover the pools' max (a shortfall is a warning).
"""

from __future__ import annotations

import io
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import ScalarString

from gpufleet.modules import catalog
from gpufleet.modules import config as stack_config
from gpufleet.modules import physical_names
from gpufleet.modules.platform import cluster_name
from gpufleet.modules.schema.foundation import NetworkConfig
from gpufleet.modules.schema.stack import StackConfig

from . import aws_checks
from .exit_codes import BadInputError
from .project import Project, coerce

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
    #: the project it is written into
    project: Project | None = None
    #: the stack file's text (comments and layout of the source kept)
    text: str = ""
    #: ``policies/config/<new>.json`` once written
    policy_config: Path | None = None


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
            node[key] = _styled(old, value)
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
                changes.append((path, str(node), new_value))
                return _styled(node, new_value)
        return node

    walk(raw, "")
    return changes


# ---------------------------------------------------------------- VPC ranges

PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
DEFAULT_CIDR = ipaddress.IPv4Network(NetworkConfig.model_fields["cidr"].default)


def project_cidrs(project: Project, exclude: Iterable[str] = ()) -> dict[str, ipaddress.IPv4Network]:
    """The VPC range of every stack of the project (``gpufleet:network.cidr``, the schema's
    default when unset). A file that cannot be read is skipped: it is its own error."""
    out: dict[str, ipaddress.IPv4Network] = {}
    skip = set(exclude)
    for stack in project.stacks():
        if stack in skip:
            continue
        path = project.stack_file(stack)
        try:
            raw = stack_config.read_stack_file(path, project.shown(path))
        except stack_config.ConfigError:
            continue
        network = raw.get(f"{stack_config.NS}network")
        value = network.get("cidr", str(DEFAULT_CIDR)) if isinstance(network, dict) else str(DEFAULT_CIDR)
        try:
            out[stack] = ipaddress.IPv4Network(str(value))
        except ValueError:
            continue
    return out


def overlapping(cidr: ipaddress.IPv4Network, taken: dict[str, ipaddress.IPv4Network]) -> list[str]:
    return [f"{stack}'s {net}" for stack, net in sorted(taken.items()) if net.overlaps(cidr)]


def free_cidr(like: ipaddress.IPv4Network, taken: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """A private block of ``like``'s size that overlaps none of ``taken``: ``like`` itself when
    free, else the next free one after it in its RFC 1918 range (then the other ranges)."""
    taken = list(taken)
    ranges = sorted(PRIVATE_RANGES, key=lambda r: not like.subnet_of(r))
    for block in ranges:
        if like.prefixlen < block.prefixlen:
            continue
        count = 1 << (like.prefixlen - block.prefixlen)
        start = (int(like.network_address) - int(block.network_address)) // like.num_addresses \
            if like.subnet_of(block) else 0
        for i in range(count):
            index = (start + i) % count
            candidate = ipaddress.IPv4Network((int(block.network_address) + index * like.num_addresses,
                                               like.prefixlen))
            if not any(candidate.overlaps(t) for t in taken):
                return candidate
    raise BadInput(f"no free private /{like.prefixlen} left for the VPC: every one overlaps a stack of the project")


# ---------------------------------------------------------------- round-trip YAML

def _yaml() -> YAML:
    """Round-trip YAML in the shipped stacks' layout (2-space maps, ``- `` items indented 2)."""
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a line
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def load_document(text: str) -> CommentedMap:
    """A stack file's text as a round-trip document (comments, order and quoting kept). The
    text has passed :func:`modules.config.read_stack_file` already (bounded, no duplicate keys,
    no tags)."""
    return _yaml().load(text)


def dump_document(doc: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def _styled(old: Any, new: Any) -> Any:
    """``new`` in ``old``'s style: a string's quoting, a list's flow (``[a, b]``) or block
    style; a new list of plain values in flow style, as the shipped stacks write them."""
    if isinstance(old, ScalarString) and isinstance(new, str) and not isinstance(new, ScalarString):
        return type(old)(new)
    value = _round_trip(new)
    if isinstance(old, CommentedSeq) and isinstance(value, CommentedSeq):  # a list keeps its flow/block style
        if old.fa.flow_style():
            value.fa.set_flow_style()
        else:
            value.fa.set_block_style()
    return value


def _round_trip(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, CommentedMap):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _round_trip(v)
        return out
    if isinstance(value, list) and not isinstance(value, CommentedSeq):
        seq = CommentedSeq(_round_trip(v) for v in value)
        if value and all(isinstance(v, (str, int, float, bool)) or v is None for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


# ---------------------------------------------------------------- the command's logic

def replicate(source: str, new: str, region: str, sets: list[str] | None = None, *,
              project: Project | Path | None = None, directory: Path | None = None, offline: bool = False,
              azs: list[str] | None = None, write: bool = True) -> Replica:
    """Write ``Pulumi.<new>.yaml`` (a copy of ``source`` in ``region``) and its policy config
    into the project (default: the current directory's; ``directory``: a stacks dir)."""
    proj = project_for(project, directory)
    check_new_name(new, region, proj)
    src_path = source_file(source, proj.stacks_dir)
    check_new_file(new, proj)
    header = (f"# {new}: replica of stack {source} in {region}, written by `gpufleet replicate` on "
              f"{date.today().isoformat()}.\n")
    return derive(src_path, source, new, region, proj, sets=sets, offline=offline, azs=azs, write=write,
                  header=header)


def check_new_name(new: str, region: str, proj: Project) -> None:
    """The new stack's name makes valid physical names in ``region`` (before anything is written)."""
    physical_names.check_stack(new, region, proj.shown(proj.stack_file(new)))
    if not STACK_NAME.match(new):
        raise BadInput(f"new stack name {new!r}: expected 1-40 lowercase letters, digits and '-' "
                       "(it becomes the cluster name gpufleet-<stack>)")


def check_new_file(new: str, proj: Project, command: str = "replicate") -> Path:
    """The new stack's file, not there yet (its name's environment is checked against the
    file's once read: :func:`derive`)."""
    target = proj.stack_file(new)
    if target.exists():
        raise BadInput(f"{target} already exists: gpufleet {command} never overwrites a stack "
                       "(remove it first or pick another name)")
    return target


def derive(src_path: Path, source: str, new: str, region: str, proj: Project, *, sets: list[str] | None = None,
           offline: bool = False, azs: list[str] | None = None, write: bool = True, header: str = "",
           edit: Callable[[CommentedMap, StackConfig], list[tuple[str, Any, Any]]] | None = None) -> Replica:
    """The stack ``new`` from the stack file ``src_path`` (stack ``source``): region, AZs and a
    free VPC range rewritten, ``edit`` (``gpufleet init``'s placeholders) and ``sets`` applied,
    validated, checked against AWS unless ``offline``, then written with its policy config."""
    target = proj.stack_file(new)
    shown = proj.shown(target)
    src_shown = proj.shown(src_path)
    src_cfg, _ = stack_config.from_file(src_path, src_shown)
    doc = load_document(stack_config.read_text_file(src_path, "stack file", shown=src_shown))
    raw = doc["config"]
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
        raw[stack_config.REGION_KEY] = _styled(raw.get(stack_config.REGION_KEY), region)
    taken = project_cidrs(proj, exclude={new})
    changes += _free_vpc_range(raw, src_cfg.network.cidr, taken)
    if edit is not None:
        changes += edit(raw, src_cfg)
    for expr in sets or []:
        path, value = parse_set(expr)
        old = set_path(raw, path, value)
        changes.append((f"{path} (--set)", old, value))
    text = dump_document(doc)
    plain = stack_config.parse_yaml(text, shown, "stack file", key_root="config")["config"]
    cfg = stack_config.validate(plain, shown)
    stack_config.check_environment(new, cfg, shown)
    clash = overlapping(cfg.network.cidr, taken)
    if clash:
        raise BadInput(f"{shown}: gpufleet:network.cidr {cfg.network.cidr} overlaps {', '.join(clash)}: the VPCs "
                       f"of one project need distinct ranges (peering, Transit Gateway, VPN); a free one: "
                       f"{free_cidr(cfg.network.cidr, taken.values())}")
    replica = Replica(source, new, target, plain, cfg, az_map, changes, azs_from=azs_from, skipped=skipped,
                      project=proj, text=header + text)
    if clients is not None:
        run_checks(replica, clients)
    if write:
        write_stack(replica)
    return replica


def _free_vpc_range(raw: CommentedMap, cidr: ipaddress.IPv4Network,
                    taken: dict[str, ipaddress.IPv4Network]) -> list[tuple[str, Any, Any]]:
    """Give the new stack a VPC range no other stack of the project has (same size)."""
    if not overlapping(cidr, taken):
        return []
    free = free_cidr(cidr, taken.values())
    key = f"{stack_config.NS}network"
    network = raw.get(key)
    if not isinstance(network, dict):  # pragma: no cover - a valid stack has network.azs
        return []
    if "cidr" in network:
        network["cidr"] = _styled(network["cidr"], str(free))
    else:
        network.insert(0, "cidr", str(free))
    return [(f"{key}.cidr", str(cidr), str(free))]


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
    """Write the stack file (never over an existing one), then its policy config."""
    from .reports import policy

    replica.path.parent.mkdir(parents=True, exist_ok=True)
    with open(replica.path, "x", encoding="utf-8") as fh:
        fh.write(replica.text)
    replica.policy_config = policy.write_config(replica.config, replica.stack, replica.project)
