"""The EKS control plane: supported version, private-ish endpoint, encrypted secrets."""

from __future__ import annotations

import ipaddress
from datetime import date
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from gpufleet.modules import clock, eks_support

from ._policy import advisory, mandatory
from ._props import CLUSTER, environment, get, known, plain


def _as_of(config) -> date:
    value = config.get("asOf")
    return date.fromisoformat(value) if value else clock.today()


def _cluster_version(args: ResourceValidationArgs) -> str | None:
    if args.resource_type != CLUSTER:
        return None
    version = get(args.props, "version")
    return str(version) if known(version) and version is not None else None


def version_offered(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Mandatory: EKS offers the version on the day (``modules/eks_support.py``: in the calendar,
    released, not past extended support)."""
    version = _cluster_version(args)
    if version is None:
        if args.resource_type == CLUSTER and not known(get(args.props, "version")):
            report(f"EKS cluster '{args.name}': cannot verify its Kubernetes version, which is not known "
                   f"at preview; set cluster.version to a literal version")
        return
    problem = eks_support.refusal(version, _as_of(args.get_config()))
    if problem:
        report(f"EKS cluster '{args.name}' asks for Kubernetes {version}; use {problem} "
               f"(modules/data/eks_versions.json)")


def version_in_standard_support(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Advisory: the version is in standard support; in extended support the cluster still runs
    but bills the extended price, and from 90 days before the end the pack says so too."""
    version = _cluster_version(args)
    if version is None:
        return
    warning = eks_support.support(version, _as_of(args.get_config())).warning()
    if warning:
        report(f"EKS cluster '{args.name}': {warning}")


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
    mandatory(ResourceValidationPolicy, "eks-version-offered",
              "The EKS cluster runs a Kubernetes version EKS offers: in its calendar, released, and not past "
              "extended support.",
              version_offered, {
                  "asOf": {"type": "string", "description": "ISO date to judge support on (default: today)"},
              }),
    advisory(ResourceValidationPolicy, "eks-version-standard-support",
             "The EKS cluster's Kubernetes version is in standard support (extended support bills 6x the "
             "control-plane price), with more than 90 days of it left.",
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
