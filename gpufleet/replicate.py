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

The parts, one concern each: :mod:`gpufleet.replicate_input` (what the command is given:
names, files, ``--set``; :class:`BadInput`), :mod:`gpufleet.replicate_yaml` (the round-trip
document), :mod:`gpufleet.replicate_cidr` (a free VPC range), :mod:`gpufleet.replicate_aws`
(the AWS checks); this module rewrites the region and AZs and puts them together
(:func:`derive`), then writes the stack file and its policy config (:func:`write_stack`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from gpufleet.modules import catalog, clock
from gpufleet.modules import config as stack_config
from gpufleet.modules.eks_support import default_version
from gpufleet.modules.platform import cluster_name
from gpufleet.modules.schema.stack import StackConfig

from . import aws_checks
from .project import Project
from .replicate_aws import check_region, clients_for, offered_azs
from .replicate_cidr import check_distinct, free_vpc_range, project_cidrs
from .replicate_input import BadInput, check_new_file, check_new_name, parse_set, project_for, set_path, source_file
from .replicate_yaml import dump_document, load_document, styled

#: the public names, some defined in the modules above (``gpufleet init``, ``fleet``, ``preflight`` and
#: ``simulate --set`` import them from here)
__all__ = ["BadInput", "Replica", "check_new_file", "check_new_name", "choose_azs", "derive", "dump_document",
           "load_document", "parse_set", "project_cidrs", "project_for", "replicate", "rewrite", "set_path",
           "write_stack"]

#: ``gpufleet init``'s edit hook imports the style helper under its old name
_styled = styled


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
                return styled(node, new_value)
        return node

    walk(raw, "")
    return changes


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
              f"{clock.today().isoformat()}.\n")
    return derive(src_path, source, new, region, proj, sets=sets, offline=offline, azs=azs, write=write,
                  header=header)


def derive(src_path: Path, source: str, new: str, region: str, proj: Project, *, sets: list[str] | None = None,
           offline: bool = False, azs: list[str] | None = None, write: bool = True, header: str = "",
           edit: Callable[[CommentedMap, StackConfig], list[tuple[str, Any, Any]]] | None = None) -> Replica:
    """The stack ``new`` from the stack file ``src_path`` (stack ``source``): region, AZs and a
    free VPC range rewritten, ``edit`` (``gpufleet init``'s placeholders) and ``sets`` applied,
    validated, checked against AWS unless ``offline``, then written with its policy config."""
    target = proj.stack_file(new)
    shown = proj.shown(target)
    src_shown = proj.shown(src_path)
    stack_config.read_stack_file(src_path, src_shown)  # the one hardened reader judges the file first
    doc = load_document(stack_config.read_text_file(src_path, "stack file", shown=src_shown))
    raw = doc["config"]
    # the version first: a source (or an init template) on a version EKS no longer offers still
    # makes a new stack, which starts on the newest version in standard support
    renewed = newest_version(raw)
    src_cfg = stack_config.validate(
        stack_config.parse_yaml(dump_document(doc), src_shown, "stack file", key_root="config")["config"], src_shown)
    new_azs = choose_azs(list(src_cfg.network.azs), region, azs)
    clients, skipped = clients_for(region, offline)
    azs_from = "--azs" if azs else "the first AZs of the region (modules/data/regions.json)"
    if clients is not None and not azs:
        ranked, skipped = offered_azs(clients, src_cfg, region)
        if ranked is None:
            clients = None
        else:
            new_azs = ranked[: len(new_azs)]
            azs_from = "the AZs where the account is offered the pools' instance types"
    az_map = dict(zip(src_cfg.network.azs, new_azs))
    changes = rewrite(raw, source, new, src_cfg.region, region, az_map)
    if raw.get(stack_config.REGION_KEY) != region:
        changes.append((stack_config.REGION_KEY, raw.get(stack_config.REGION_KEY), region))
        raw[stack_config.REGION_KEY] = styled(raw.get(stack_config.REGION_KEY), region)
    taken = project_cidrs(proj, exclude={new})
    changes += free_vpc_range(raw, src_cfg.network.cidr, taken)
    if edit is not None:
        changes += edit(raw, src_cfg)
    changes += renewed
    for expr in sets or []:
        path, value = parse_set(expr)
        old = set_path(raw, path, value)
        changes.append((f"{path} (--set)", old, value))
    text = dump_document(doc)
    plain = stack_config.parse_yaml(text, shown, "stack file", key_root="config")["config"]
    cfg = stack_config.validate(plain, shown)
    stack_config.check_environment(new, cfg, shown)
    check_distinct(cfg.network.cidr, taken, shown)
    replica = Replica(source, new, target, plain, cfg, az_map, changes, azs_from=azs_from, skipped=skipped,
                      project=proj, text=header + text)
    if clients is not None:
        replica.findings, replica.skipped = check_region(cfg, source, clients)
    if write:
        write_stack(replica)
    return replica


def newest_version(raw: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """A new stack starts its cluster on the newest Kubernetes version in EKS standard support
    (``modules/eks_support.py``), whatever the stack it comes from runs; ``--set
    cluster.version=...`` (applied after this) keeps another one."""
    cluster = raw.get("gpufleet:cluster")
    newest = default_version()
    if not isinstance(cluster, dict) or newest is None or str(cluster.get("version")) == newest:
        return []
    old = cluster.get("version")
    cluster["version"] = styled(old, newest)
    return [("gpufleet:cluster.version (newest in EKS standard support)", old, newest)]


def write_stack(replica: Replica) -> None:
    """Write the stack file (never over an existing one), then its policy config: both or
    neither (:mod:`gpufleet.atomic_file`; a failure is one WriteError, nothing left behind)."""
    from .atomic_file import all_or_nothing, write_atomic
    from .reports import policy

    replica.path.parent.mkdir(parents=True, exist_ok=True)
    with all_or_nothing():
        write_atomic(replica.path, replica.text, exclusive=True, shown=replica.project.shown(replica.path))
        replica.policy_config = policy.write_config(replica.config, replica.stack, replica.project)
