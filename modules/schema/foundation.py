"""Config models for the foundation: cost-allocation tags, network, EKS cluster."""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .. import catalog
from .base import NonEmpty, StrictModel, fail

Environment = Literal["dev", "staging", "prod"]
ControlPlaneLog = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
REQUIRED_LOGS: tuple[ControlPlaneLog, ...] = ("api", "audit", "authenticator")
IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}$")


class CostTags(StrictModel):
    """The cost-allocation tags every taggable resource carries (and the provider's default_tags)."""

    team: NonEmpty
    """Team that owns the stack (tag ``team``)."""
    cost_center: NonEmpty = Field(alias="cost-center")
    """Cost center billed (tag ``cost-center``)."""
    env: Environment
    """Must equal ``gpufleet:environment`` (tag ``env``)."""
    project: NonEmpty
    """Project (tag ``project``)."""

    @field_validator("team", "cost_center", "project")
    @classmethod
    def _tag_value(cls, v: str) -> str:
        if not TAG_VALUE.match(v):
            raise ValueError("an AWS tag value: 1-256 letters, digits, spaces and _.:/=+-@")
        return v

    def as_tags(self) -> dict[str, str]:
        return {"team": self.team, "cost-center": self.cost_center, "env": self.env, "project": self.project}


class SharedStack(StrictModel):
    """Account-level values from the fleet's global stack (e.g. a shared model bucket)."""

    stack: str = Field(pattern=r"^[\w.-]+/[\w.-]+/[\w.-]+$")
    """Fully qualified name of the global stack: ``<organization>/<project>/<stack>``."""
    outputs: list[str] = []
    """The outputs of that stack this stack reads (e.g. ``model_bucket_arn``); ``ctx.shared[name]``."""


class NetworkConfig(StrictModel):
    """VPC layout: one private and one public subnet per availability zone."""

    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.0.0.0/16")
    """VPC range, /16 to /20, private (RFC 1918)."""
    azs: list[str] = Field(min_length=2, max_length=6)
    """Availability zones of ``aws:region`` (2-6; prod needs 3)."""
    nat: Literal["single", "per_az"] | None = None
    """``single``: one NAT gateway for the VPC (cheap); ``per_az``: one per AZ (no cross-AZ dependency). Default: ``single`` outside prod, ``per_az`` in prod (set by StackConfig)."""

    @field_validator("cidr")
    @classmethod
    def _cidr_size(cls, v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= v.prefixlen <= 20:
            raise ValueError("a VPC CIDR between /16 and /20 (pods take VPC addresses with the VPC CNI)")
        if not v.is_private:
            raise ValueError("a private (RFC 1918) range")
        return v

    @field_validator("azs")
    @classmethod
    def _unique_azs(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("distinct availability zones")
        return v


class EndpointConfig(StrictModel):
    """Who can reach the Kubernetes API. The private endpoint is always on."""

    public: bool = False
    """Also expose the API publicly (never in prod), restricted to ``public_cidrs``."""
    public_cidrs: list[ipaddress.IPv4Network] = []
    """CIDRs allowed to reach a public endpoint (never 0.0.0.0/0)."""

    @model_validator(mode="after")
    def _allowlist(self) -> "EndpointConfig":
        if self.public and not self.public_cidrs:
            fail("public_cidrs", [], "a public endpoint needs a CIDR allowlist (e.g. your office or VPN range)")
        for i, cidr in enumerate(self.public_cidrs):
            if cidr.prefixlen == 0:
                fail(f"public_cidrs[{i}]", str(cidr), "never 0.0.0.0/0: list the CIDRs that may reach the API")
            if not self.public:
                fail("public_cidrs", [str(c) for c in self.public_cidrs], "only with public: true")
        return self


class ClusterConfig(StrictModel):
    """The EKS control plane."""

    version: str
    """Kubernetes minor version, in EKS standard support (``modules/data/eks_versions.json``)."""
    endpoint: EndpointConfig = EndpointConfig()
    """API endpoint access: private always, public only with an allowlist."""
    admin_arns: list[str] = Field(min_length=1)
    """IAM roles/users given cluster-admin through EKS access entries."""
    logs: list[ControlPlaneLog] = list(REQUIRED_LOGS)
    """Control-plane log types (must include api, audit, authenticator)."""
    addon_versions: dict[Literal["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"], str] = {}
    """Pin core add-on versions (``vpc-cni: v1.20.0-eksbuild.1``); unpinned ones get EKS's default."""

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: object) -> str:
        v = str(v)
        versions = catalog.eks_versions()
        today = date.today()
        supported = [k for k, ver in versions.items() if ver.in_standard_support(today)]
        if v not in versions:
            raise ValueError(f"one of the EKS versions in standard support: {', '.join(supported)}")
        if not versions[v].in_standard_support(today):
            raise ValueError(
                f"a version in EKS standard support (this one ended {versions[v].end_of_standard_support}); "
                f"supported: {', '.join(supported)}")
        return v

    @field_validator("admin_arns")
    @classmethod
    def _arns(cls, v: list[str]) -> list[str]:
        for i, arn in enumerate(v):
            if not IAM_PRINCIPAL_ARN.match(arn):
                fail(f"[{i}]", arn, "an IAM role or user ARN (arn:aws:iam::<12-digit account>:role/<name>)")
        return v

    @field_validator("logs")
    @classmethod
    def _logs(cls, v: list[ControlPlaneLog]) -> list[ControlPlaneLog]:
        missing = [log for log in REQUIRED_LOGS if log not in v]
        if missing:
            raise ValueError(f"a list that includes {', '.join(REQUIRED_LOGS)} (missing {', '.join(missing)})")
        return list(dict.fromkeys(v))
