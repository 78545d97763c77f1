"""Config models for the foundation: cost-allocation tags, network, EKS cluster."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .. import catalog
from ..eks_support import refusal
from .base import NonEmpty, StrictModel, fail

Environment = Literal["dev", "staging", "prod"]
ControlPlaneLog = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
REQUIRED_LOGS: tuple[ControlPlaneLog, ...] = ("api", "audit", "authenticator")
#: environments that may choose their control-plane log types (any subset, none included);
#: every other environment keeps REQUIRED_LOGS (audit stays on in staging and prod)
LOG_CHOICE_ENVIRONMENTS: tuple[str, ...] = ("dev",)
MAX_NAT_INSTANCE_VCPU = 8
IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")


def principal_slug(arn: str) -> str:
    """The logical-name part of an admin's access entry (``modules/cluster.py``):
    ``role-PlatformAdmin``. Stable across releases, so two admin ARNs that differ only in
    account, path or punctuation would get the same name: config refuses that pair."""
    kind, _, path = arn.split(":", 5)[-1].partition("/")
    return re.sub(r"[^A-Za-z0-9-]", "-", f"{kind}-{path.rsplit('/', 1)[-1]}")
#: a service-linked role (``role/aws-service-role/...``): EKS creates no access entry for one
SERVICE_LINKED_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/aws-service-role/")
TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}$")
#: AWS and Kubernetes limits on what the program sends, with their sources (``modules/data/service_limits.json``)
LIMITS = catalog.load("service_limits.json")["limits"]
#: EKS: "Public endpoint access CIDR ranges per cluster", 40, not adjustable
MAX_PUBLIC_CIDRS: int = LIMITS["eks_public_access_cidrs"]["value"]
#: EKS: "Access entries per cluster", 3,000, not adjustable; EKS itself adds one for the pools' node role
MAX_ACCESS_ENTRIES: int = LIMITS["eks_access_entries"]["value"]
NODE_ROLE_ACCESS_ENTRIES: int = LIMITS["eks_node_role_access_entries"]["value"]


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
    nat: Literal["single", "per_az", "instance"] | None = None
    """``single``: one NAT gateway for the VPC (cheap); ``per_az``: one per AZ (no cross-AZ dependency); ``instance``: one small NAT instance (Amazon Linux 2023, iptables) in an Auto Scaling group of one, outside prod only (a few dollars a month, but its bandwidth is the instance's: image pulls on GPU scale-up get slow). Default: ``single`` outside prod, ``per_az`` in prod (set by StackConfig)."""
    nat_instance_type: str = "t4g.nano"
    """``nat: instance``: the NAT instance's type (a CPU type of the catalog with 1-8 vCPUs; its network baseline bounds egress: t4g.nano 32 Mbit/s, bursting while credits last)."""

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

    @model_validator(mode="after")
    def _nat_instance(self) -> "NetworkConfig":
        if "nat_instance_type" in self.model_fields_set and self.nat != "instance":
            fail("nat_instance_type", self.nat_instance_type, "only with nat: instance")
        it = catalog.instance_type(self.nat_instance_type)
        if it is None or it.has_gpu or not 1 <= it.vcpu <= MAX_NAT_INSTANCE_VCPU:
            fail("nat_instance_type", self.nat_instance_type,
                 f"a CPU instance type of the catalog with 1-{MAX_NAT_INSTANCE_VCPU} vCPUs (t4g.nano, t4g.micro, "
                 "c7gn.medium, ...; modules/data/instance_types.json)")
        return self


class EndpointConfig(StrictModel):
    """Who can reach the Kubernetes API. The private endpoint is always on."""

    public: bool = False
    """Also expose the API publicly (never in prod), restricted to ``public_cidrs``."""
    public_cidrs: list[ipaddress.IPv4Network] = []
    """CIDRs allowed to reach a public endpoint (never 0.0.0.0/0), at most 40 (EKS's quota per cluster, not adjustable)."""

    @field_validator("public_cidrs")
    @classmethod
    def _most_cidrs(cls, v: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        if len(v) > MAX_PUBLIC_CIDRS:
            fail("", len(v), f"at most {MAX_PUBLIC_CIDRS} CIDR blocks, not {len(v)} (EKS's quota of public endpoint "
                             "access CIDR ranges per cluster, not adjustable: merge neighbouring ranges)")
        return v

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


class CiRunner(StrictModel):
    """Where the CI jobs that talk to this cluster's API (``pulumi preview``, ``pulumi up``) run.

    A GitHub-hosted runner reaches only a public endpoint whose ``public_cidrs`` admit the
    runner's egress addresses (GitHub larger runners with static IP ranges, or your own NAT);
    a private endpoint needs a runner inside the VPC (or a network peered with it).
    """

    kind: Literal["github-hosted", "self-hosted", "codebuild"] = "github-hosted"
    """``github-hosted``, ``self-hosted`` (your runners, found by ``labels``) or ``codebuild`` (an AWS CodeBuild-hosted runner project in the VPC)."""
    labels: list[str] = []
    """``github-hosted``: the image label (default ``ubuntu-latest``); ``self-hosted``: the runner labels (``self-hosted`` is added)."""
    project: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$")
    """``codebuild``: the CodeBuild project that hosts the runner (its webhook must be set up for this repository)."""

    @model_validator(mode="after")
    def _shape(self) -> "CiRunner":
        for i, label in enumerate(self.labels):
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", label):
                fail(f"labels[{i}]", label, "a runner label of letters, digits, '.', '_' and '-'")
        if self.kind == "codebuild":
            if self.project is None:
                fail("project", None, "the CodeBuild project name of the runner (kind: codebuild)")
            if self.labels:
                fail("labels", self.labels, "no labels with kind: codebuild (the label is derived from the project)")
        elif self.project is not None:
            fail("project", self.project, "only with kind: codebuild")
        if self.kind == "github-hosted" and len(self.labels) > 1:
            fail("labels", self.labels, "one image label for a GitHub-hosted runner (e.g. ubuntu-24.04)")
        return self

    def runs_on(self, run_id: str = "${{ github.run_id }}", attempt: str = "${{ github.run_attempt }}") -> list[str]:
        """The job's ``runs-on`` labels (the CodeBuild label names this workflow run)."""
        if self.kind == "codebuild":
            return [f"codebuild-{self.project}-{run_id}-{attempt}"]
        if self.kind == "self-hosted":
            return ["self-hosted", *(label for label in self.labels if label != "self-hosted")]
        return list(self.labels) or ["ubuntu-latest"]


class ClusterConfig(StrictModel):
    """The EKS control plane."""

    version: str
    """Kubernetes minor version that EKS offers (``modules/data/eks_versions.json``): in standard support, or in extended support (billed at the extended price; ``plan`` and ``check`` warn and name the version to move to). A new stack starts on the newest version in standard support; a control-plane upgrade moves one minor version at a time and rolls every node group onto it."""
    endpoint: EndpointConfig = EndpointConfig()
    """API endpoint access: private always, public only with an allowlist."""
    admin_arns: list[str] = Field(min_length=1)
    """IAM roles/users given cluster-admin through EKS access entries: distinct, no service-linked role, at most 2,998 with a ``deployer_arn`` of its own (EKS allows 3,000 access entries per cluster, one of them for the nodes' role)."""
    deployer_arn: str
    """The IAM role (or user) that runs ``pulumi up`` (the CI deploy role): it gets a cluster-admin access entry, and no Kubernetes call is made before that grant exists. Bootstrap admin for the cluster creator is off, so without it every Kubernetes resource fails with Unauthorized."""
    ci_runner: CiRunner = CiRunner()
    """Where CI jobs that reach the API run (``kind: github-hosted | self-hosted | codebuild``); a private endpoint needs a runner inside the VPC."""
    irsa: bool = False
    """Create the cluster's IAM OIDC provider, for tools that only support IRSA (everything the platform installs uses EKS Pod Identity)."""
    logs: list[ControlPlaneLog] = list(REQUIRED_LOGS)
    """Control-plane log types. Staging and prod must include api, audit and authenticator; dev may keep any of them (``[]``: none): without ``audit`` nobody can tell afterwards who changed what in the cluster."""
    addon_versions: dict[Literal["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"], str] = {}
    """Pin core add-on versions (``vpc-cni: v1.20.0-eksbuild.1``); unpinned ones get EKS's default."""

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: object) -> str:
        v = str(v)
        problem = refusal(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("admin_arns")
    @classmethod
    def _arns(cls, v: list[str]) -> list[str]:
        seen: dict[str, int] = {}
        slugs: dict[str, int] = {}
        for i, arn in enumerate(v):
            if not IAM_PRINCIPAL_ARN.match(arn):
                fail(f"[{i}]", arn, "an IAM role or user ARN (arn:aws:iam::<12-digit account>:role/<name>)")
            _not_service_linked(f"[{i}]", arn)
            if arn in seen:
                fail(f"[{i}]", arn, f"an ARN not already listed as admin_arns[{seen[arn]}] (EKS takes one access "
                                    "entry per IAM principal)")
            seen[arn] = i
            slug = principal_slug(arn)
            twin = slugs.setdefault(slug, i)
            if twin != i:
                fail(f"[{i}]", arn, f"an admin whose role or user name differs from admin_arns[{twin}] ({v[twin]}) in "
                                    f"more than account, path or punctuation: both would be the access entry "
                                    f"admin-{slug}")
        return v

    @field_validator("deployer_arn")
    @classmethod
    def _deployer(cls, v: str) -> str:
        if not IAM_PRINCIPAL_ARN.match(v):
            fail("", v, "the IAM role ARN that runs pulumi up (arn:aws:iam::<12-digit account>:role/<name>), "
                        "not an assumed-role session ARN")
        _not_service_linked("", v)
        return v

    @model_validator(mode="after")
    def _access_entries(self) -> "ClusterConfig":
        """One access entry per admin and for the deployer (modules/cluster.py), and the one EKS
        adds for the pools' node role: at most EKS's quota per cluster."""
        entries = len(set(self.admin_arns) | {self.deployer_arn}) + NODE_ROLE_ACCESS_ENTRIES
        if entries > MAX_ACCESS_ENTRIES:
            most = MAX_ACCESS_ENTRIES - NODE_ROLE_ACCESS_ENTRIES - (self.deployer_arn not in self.admin_arns)
            fail("admin_arns", len(self.admin_arns),
                 f"at most {most} admin ARNs, not {len(self.admin_arns)}: EKS allows {MAX_ACCESS_ENTRIES} access "
                 f"entries per cluster (not adjustable), and the deployer and the nodes' role take the others "
                 "(grant a group role instead of each person)")
        return self

    @model_validator(mode="after")
    def _runner_reaches_endpoint(self) -> "ClusterConfig":
        if not self.endpoint.public and self.ci_runner.kind == "github-hosted":
            fail("ci_runner.kind", "github-hosted",
                 "self-hosted or codebuild: a private endpoint is reachable only from inside the VPC, "
                 "so the preview and deploy jobs need a runner there")
        return self

    @field_validator("logs")
    @classmethod
    def _logs(cls, v: list[ControlPlaneLog]) -> list[ControlPlaneLog]:
        return list(dict.fromkeys(v))


def _not_service_linked(subpath: str, arn: str) -> None:
    if SERVICE_LINKED_ROLE.match(arn):
        fail(subpath, arn, "an IAM role or user that is not a service-linked role (role/aws-service-role/...): "
                           "EKS creates no access entry for a service-linked role")


def check_logs(environment: str, logs: list[ControlPlaneLog]) -> None:
    """Outside :data:`LOG_CHOICE_ENVIRONMENTS` the control plane logs at least
    :data:`REQUIRED_LOGS` (the audit trail stays on in staging and prod)."""
    missing = [log for log in REQUIRED_LOGS if log not in logs]
    if missing and environment not in LOG_CHOICE_ENVIRONMENTS:
        fail("cluster.logs", list(logs), f"a list that includes {', '.join(REQUIRED_LOGS)} in {environment} "
                                         f"(missing {', '.join(missing)}; only {', '.join(LOG_CHOICE_ENVIRONMENTS)} "
                                         "may choose its log types)")
