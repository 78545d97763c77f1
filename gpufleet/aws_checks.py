"""Checks of a stack against a live AWS account (shared by ``replicate`` and ``preflight``).

Everything here calls AWS only when a check runs; nothing at import time. Clients come
from :func:`make_clients` (one place, so tests can hand in moto-backed or Stubber-wrapped
clients). Each check returns :class:`Finding` objects: ``ok``, ``warn`` (worth knowing,
does not block) or ``fail`` (``pulumi up`` would fail or do harm).

Checks:
- ``azs``: the stack's availability zones exist for this account in the region.
- ``offerings``: every pool's instance types are offered in the AZs the pool uses
  (``ec2.describe_instance_type_offerings``, location type ``availability-zone``): an AZ
  where none of a pool's types is offered fails; a type missing where another type of the
  pool covers is a warning.
- ``quotas``: the account's GPU vCPU quotas (Service Quotas, EC2) cover the pools' max
  (max nodes × vCPUs of the pool's largest type, summed per quota).
- ``cluster``: no EKS cluster named ``gpufleet-<stack>`` exists that this stack doesn't manage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from gpufleet.modules import catalog
from gpufleet.modules.schema.stack import StackConfig

Level = Literal["ok", "warn", "fail"]

#: Service Quotas codes (service ``ec2``) of the GPU vCPU limits: (family group, capacity) -> code.
QUOTA_CODES: dict[tuple[str, str], str] = {
    ("G/VT", "on-demand"): "L-DB2E81BA",
    ("P", "on-demand"): "L-417A185B",
    ("G/VT", "spot"): "L-3819A6DF",
    ("P", "spot"): "L-7212CCBC",
}
QUOTA_NAMES = {
    "L-DB2E81BA": "Running On-Demand G and VT instances",
    "L-417A185B": "Running On-Demand P instances",
    "L-3819A6DF": "All G and VT Spot Instance Requests",
    "L-7212CCBC": "All P Spot Instance Requests",
}


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    message: str


@dataclass
class Clients:
    """The boto3 clients one region's checks use (created lazily)."""

    region: str
    session: Any = None
    _made: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self.session.client(service, region_name=self.region)
        return self._made[service]

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    @property
    def quotas(self) -> Any:
        return self.client("service-quotas")

    @property
    def eks(self) -> Any:
        return self.client("eks")


def credentials_available() -> bool:
    """True when boto3's default credential chain finds credentials (env, profile, role)."""
    import boto3

    try:
        return boto3.Session().get_credentials() is not None
    except Exception:  # noqa: BLE001 - a broken profile means "no usable credentials"
        return False


def make_clients(region: str) -> Clients:
    import boto3

    return Clients(region, boto3.Session())


# ---------------------------------------------------------------- what a stack needs (pure)

def pool_placements(cfg: StackConfig) -> dict[str, tuple[list[str], list[str]]]:
    """Pool name -> (instance types, AZs the pool's nodes may run in). EFA pools use one AZ."""
    out = {"system": (list(cfg.pools.system.instance_types), list(cfg.network.azs))}
    for p in cfg.pools.gpu:
        azs = [p.efa_az or cfg.network.azs[0]] if p.efa else list(cfg.network.azs)
        out[p.name] = (list(p.instance_types), azs)
    return out


def quota_group(instance_type: str) -> str | None:
    """``G/VT`` or ``P`` for GPU instance families with a dedicated vCPU quota, else None."""
    family = instance_type.split(".")[0]
    if family.startswith("p"):
        return "P"
    if family.startswith(("g", "vt")):
        return "G/VT"
    return None


def vcpu_needs(cfg: StackConfig) -> dict[str, tuple[int, list[str]]]:
    """Quota code -> (vCPUs the pools may use at max size, pool names), for GPU pools."""
    needs: dict[str, tuple[int, list[str]]] = {}
    for p in cfg.pools.gpu:
        group = quota_group(p.instance_types[0])
        if group is None:
            continue
        code = QUOTA_CODES[(group, p.capacity)]
        vcpus = p.max * max(catalog.instance_type(t).vcpu for t in p.instance_types)
        total, pools = needs.get(code, (0, []))
        needs[code] = (total + vcpus, pools + [p.name])
    return needs


# ---------------------------------------------------------------- checks (call AWS)

def offered_types(ec2: Any, azs: Iterable[str], types: Iterable[str]) -> dict[str, set[str]]:
    """Instance type -> the AZs (of ``azs``) it is offered in."""
    azs, types = sorted(set(azs)), sorted(set(types))
    found: dict[str, set[str]] = {t: set() for t in types}
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone",
        Filters=[{"Name": "location", "Values": azs}, {"Name": "instance-type", "Values": types}],
    )
    for page in pages:
        for o in page["InstanceTypeOfferings"]:
            if o["InstanceType"] in found and o["Location"] in azs:
                found[o["InstanceType"]].add(o["Location"])
    return found


def account_azs(clients: Clients) -> set[str]:
    """The AZ names this account sees as available in the clients' region."""
    zones = clients.ec2.describe_availability_zones(
        Filters=[{"Name": "region-name", "Values": [clients.region]}])["AvailabilityZones"]
    return {z["ZoneName"] for z in zones if z.get("State", "available") == "available"}


def rank_azs(clients: Clients, azs: list[str], pools: Iterable[list[str]]) -> list[str]:
    """``azs`` best first for pools with these instance types: AZs the account has, then
    the most pools with every type offered, then the most types offered; ties keep the order."""
    pools = [list(types) for types in pools]
    have = account_azs(clients)
    offered = offered_types(clients.ec2, azs, [t for types in pools for t in types])

    def score(az: str) -> tuple[int, int, int]:
        full = sum(all(az in offered[t] for t in types) for types in pools)
        some = sum(az in offered[t] for types in pools for t in types)
        return (-(az in have), -full, -some)

    return sorted(azs, key=lambda az: (score(az), azs.index(az)))


def check_azs(clients: Clients, cfg: StackConfig) -> list[Finding]:
    names = account_azs(clients)
    missing = [az for az in cfg.network.azs if az not in names]
    if missing:
        return [Finding("azs", "fail", f"{', '.join(missing)} not available to this account in {cfg.region} "
                                        f"(available: {', '.join(sorted(names)) or 'none'})")]
    return [Finding("azs", "ok", f"{', '.join(cfg.network.azs)} available in {cfg.region}")]


def check_offerings(clients: Clients, cfg: StackConfig) -> list[Finding]:
    placements = pool_placements(cfg)
    offered = offered_types(clients.ec2, cfg.network.azs,
                            [t for types, _ in placements.values() for t in types])
    findings = []
    for pool, (types, azs) in placements.items():
        gaps = {t: [az for az in azs if az not in offered[t]] for t in types}
        gaps = {t: missing for t, missing in gaps.items() if missing}
        if not gaps:
            findings.append(Finding("offerings", "ok", f"pool {pool}: {', '.join(types)} offered in {', '.join(azs)}"))
            continue
        detail = "; ".join(f"{t} not offered in {', '.join(missing)}" for t, missing in gaps.items())
        bare = [az for az in azs if not any(az in offered[t] for t in types)]
        if bare:
            usable = [az for az in cfg.network.azs if all(az in offered[t] for t in types)]
            hint = f" (AZs of this stack that offer all of them: {', '.join(usable) or 'none'})"
            findings.append(Finding("offerings", "fail", f"pool {pool}: no instance type of the pool is offered in "
                                                         f"{', '.join(bare)}: {detail}{hint}"))
        else:
            findings.append(Finding("offerings", "warn", f"pool {pool}: {detail} (the pool's other types cover "
                                                         "those AZs, with less spot/capacity diversity there)"))
    return findings


def check_quotas(clients: Clients, cfg: StackConfig) -> list[Finding]:
    from botocore.exceptions import BotoCoreError, ClientError

    findings = []
    for code, (need, pools) in sorted(vcpu_needs(cfg).items()):
        label = f"{QUOTA_NAMES[code]} ({code})"
        try:
            value = clients.quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
        except (ClientError, BotoCoreError) as exc:
            findings.append(Finding("quotas", "warn", f"{label}: could not read the quota ({exc}); "
                                                      f"pools {', '.join(pools)} need {need} vCPUs at max"))
            continue
        if value < need:
            findings.append(Finding("quotas", "warn",
                                    f"{label} is {value:g} vCPUs in {cfg.region}, below the {need} vCPUs pools "
                                    f"{', '.join(pools)} reach at max size: request an increase in Service Quotas"))
        else:
            findings.append(Finding("quotas", "ok", f"{label}: {value:g} vCPUs ≥ {need} needed by {', '.join(pools)}"))
    return findings


def check_cluster_name(clients: Clients, cluster_name: str, stack: str) -> list[Finding]:
    from botocore.exceptions import ClientError

    try:
        cluster = clients.eks.describe_cluster(name=cluster_name)["cluster"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return [Finding("cluster", "ok", f"no EKS cluster named {cluster_name} yet: pulumi up creates it")]
        raise
    owner = (cluster.get("tags") or {}).get("gpufleet:stack")
    if owner == stack:
        return [Finding("cluster", "ok", f"EKS cluster {cluster_name} exists and belongs to stack {stack}: pulumi up updates it")]
    whose = f"stack {owner}" if owner else "nothing gpufleet knows (no gpufleet:stack tag)"
    return [Finding("cluster", "fail", f"an EKS cluster named {cluster_name} already exists in {clients.region}, "
                                       f"owned by {whose}: pick another stack name or remove/import that cluster")]
