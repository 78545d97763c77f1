"""The VPC range of a new stack: one that overlaps no other stack of the project (peering,
Transit Gateway and VPN need distinct ranges), of the source's size, the next free block
after it (:func:`free_cidr`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from ruamel.yaml.comments import CommentedMap

from gpufleet.modules import config as stack_config
from gpufleet.modules.schema.foundation import NetworkConfig

from .project import Project
from .replicate_input import BadInput
from .replicate_yaml import styled

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


def free_vpc_range(raw: CommentedMap, cidr: ipaddress.IPv4Network,
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
        network["cidr"] = styled(network["cidr"], str(free))
    else:
        network.insert(0, "cidr", str(free))
    return [(f"{key}.cidr", str(cidr), str(free))]


def check_distinct(cidr: ipaddress.IPv4Network, taken: dict[str, ipaddress.IPv4Network], shown: str) -> None:
    """The written stack's range (``--set`` may have changed it) overlaps no other stack's."""
    clash = overlapping(cidr, taken)
    if clash:
        raise BadInput(f"{shown}: gpufleet:network.cidr {cidr} overlaps {', '.join(clash)}: the VPCs "
                       f"of one project need distinct ranges (peering, Transit Gateway, VPN); a free one: "
                       f"{free_cidr(cidr, taken.values())}")
