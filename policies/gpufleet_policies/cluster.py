"""The EKS control plane: supported version, private-ish endpoint, encrypted secrets."""

from __future__ import annotations

import ipaddress
from datetime import date
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from gpufleet.modules import catalog, clock

from ._policy import mandatory
from ._props import CLUSTER, environment, get, known, plain


def _as_of(config) -> date:
    value = config.get("asOf")
    return date.fromisoformat(value) if value else clock.today()


def version_in_standard_support(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    version = get(args.props, "version")
    today = _as_of(args.get_config())
    versions = catalog.eks_versions()
    supported = [v for v, info in versions.items() if info.in_standard_support(today)]
    if known(version) and version is not None:
        info = versions.get(str(version))
        if info is None:
            report(f"EKS cluster '{args.name}' asks for Kubernetes {version}, unknown to the EKS release "
                   f"calendar (modules/data/eks_versions.json); use one in standard support: {', '.join(supported)}")
        elif not info.in_standard_support(today):
            when = (f"ended {info.end_of_standard_support}" if today > info.end_of_standard_support
                    else f"starts {info.released}")
            report(f"EKS cluster '{args.name}' runs Kubernetes {version}, whose standard support {when} "
                   f"(extended support bills 6x the control-plane price); use one of: {', '.join(supported)}")
    support = get(args.props, "upgradePolicy.supportType")
    if support == "EXTENDED":
        report(f"EKS cluster '{args.name}' has upgradePolicy.supportType EXTENDED: it would bill extended "
               f"support after standard support ends; use STANDARD")


def endpoint_not_open(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    public = get(args.props, "vpcConfig.endpointPublicAccess", True)  # AWS's default is public
    if public is not True:
        return
    cidrs = plain(get(args.props, "vpcConfig.publicAccessCidrs", []))
    if not known(cidrs):
        return
    open_to_all = [c for c in cidrs if isinstance(c, str) and _is_world(c)]
    if not cidrs or open_to_all:
        shown = ", ".join(open_to_all) or "no publicAccessCidrs (AWS default 0.0.0.0/0)"
        report(f"EKS cluster '{args.name}' exposes its API endpoint to the whole internet ({shown}): "
               f"keep it private (cluster.endpoint.public: false) or list the CIDRs that may reach it")
        return
    # an allowlist of halves (0.0.0.0/1 + 128.0.0.0/1) is the internet too: judge the breadth
    from gpufleet.modules.environments import ceilings

    env = environment(args.get_config(), args.props, urn=args.urn) or "prod"
    c = ceilings(env)
    nets = [n for n in (_network(x) for x in cidrs) if n is not None]
    wide = [str(n) for n in nets if n.prefixlen < c.min_public_prefix]
    total = sum(n.num_addresses for n in ipaddress.collapse_addresses(n for n in nets if n.version == 4))
    if wide or total > c.max_public_addresses:
        report(f"EKS cluster '{args.name}' admits {total:,} addresses to its API endpoint"
               f"{' (' + ', '.join(wide) + ' broader than /' + str(c.min_public_prefix) + ')' if wide else ''}; "
               f"{env} allows at most {c.max_public_addresses:,} in ranges of /{c.min_public_prefix} or narrower")


def _network(cidr: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return None


def _is_world(cidr: str) -> bool:
    net = _network(cidr)
    return net is not None and net.prefixlen == 0


def secrets_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    configs = plain(get(args.props, "encryptionConfig", None))
    if not known(configs):
        return
    configs = configs if isinstance(configs, list) else [configs] if configs else []
    encrypted = any(isinstance(c, dict) and "secrets" in (c.get("resources") or [])
                    and (c.get("provider") or {}).get("keyArn") for c in configs)
    if not encrypted:
        report(f"EKS cluster '{args.name}' does not envelope-encrypt Kubernetes secrets: set encryptionConfig "
               f"with resources [secrets] and a KMS key")


POLICIES = [
    mandatory(ResourceValidationPolicy, "eks-version-standard-support",
              "The EKS cluster runs a Kubernetes version in standard support (no extended-support billing).",
              version_in_standard_support, {
                  "asOf": {"type": "string", "description": "ISO date to judge support on (default: today)"},
              }),
    mandatory(ResourceValidationPolicy, "eks-endpoint-not-public",
              "The EKS API endpoint is not open to the internet: no 0.0.0.0/0, and an allowlist no "
              "broader than the environment's ceiling (ranges of /16 or narrower, 65,536 addresses in all).",
              endpoint_not_open),
    mandatory(ResourceValidationPolicy, "eks-secrets-encryption",
              "Kubernetes secrets are envelope-encrypted with a KMS key.",
              secrets_encryption),
]
