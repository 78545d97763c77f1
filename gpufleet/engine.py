"""Run the real Pulumi program in-process under Pulumi's mock engine and record it.

``RecordingMonitor`` sits where the Pulumi engine would: it sees every registration with
its type, name, inputs (wire form: camelCase keys, as the provider would receive them),
parent and options. ``RecordingMocks`` answers like a provider would for the computed
fields the program reads (ARNs, the cluster endpoint, a node group's Auto Scaling group).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

ACCOUNT = "123456789012"
UNKNOWN = "<computed>"


@dataclass
class Recorded:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    provider: str | None = None
    aliases: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    #: an existing resource read (StackReference, ``.get()``), not one the stack creates
    read: bool = False

    @property
    def options(self) -> dict[str, Any]:
        return {
            "protect": self.protect,
            "retain_on_delete": self.retain_on_delete,
            "ignore_changes": self.ignore_changes,
            "depends_on": self.depends_on,
            "provider": self.provider,
            "aliases": self.aliases,
            "read": self.read,
        }


class DuplicateUrnError(Exception):
    pass


def _plain(value: Any) -> Any:
    """Wire values made JSON-friendly: unknowns shown as ``<computed>``, floats that are
    integers as ints (the wire carries every number as a float)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return UNKNOWN


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers with what a provider computes; echoes inputs for everything else."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        name = state.get("name") or args.name
        token = args.typ.split(":")
        service = token[1].split("/")[0] if len(token) > 1 else "mock"
        region = "" if service == "iam" else self.region  # IAM ARNs are global
        state.setdefault("arn", f"arn:aws:{service}:{region}:{ACCOUNT}:{args.name}")
        rid = f"{args.name}-id"
        if args.typ == "aws:eks/cluster:Cluster":
            state.update(
                endpoint=f"https://{name}.gr7.{self.region}.eks.amazonaws.com",
                certificateAuthority={"data": "bW9jay1jYQ=="},
                identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/MOCK{zlib.crc32(name.encode()):08X}"}]}],
                vpcConfig={**state.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{args.name}"},
                name=name,
            )
        elif args.typ == "aws:eks/nodeGroup:NodeGroup":
            state["resources"] = [{"autoscalingGroups": [{"name": f"eks-{state.get('nodeGroupName', args.name)}-asg"}]}]
        elif args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            state["latestVersion"] = 1
            rid = f"lt-{zlib.crc32(args.name.encode()):012d}"  # stable across processes
        elif args.typ == "aws:kms/key:Key":
            state["keyId"] = f"key-{args.name}"
        elif args.typ in ("aws:iam/role:Role", "aws:ec2/placementGroup:PlacementGroup"):
            state.setdefault("name", args.name)
        elif args.typ == "pulumi:pulumi:StackReference":
            state["outputs"] = {}  # offline: the referenced stack's outputs are unknown
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        """Invokes: (result, failures). Pulumi iterates the failures, so never None."""
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/mock", "userId": "mock"}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region}, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock engine that remembers every registration, in order, and refuses duplicate URNs."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.records: dict[str, Recorded] = {}

    def ReadResource(self, request):  # noqa: N802 (gRPC method name)
        """Reads of existing resources (``pulumi.StackReference``, ``.get()``) are recorded too."""
        response = super().ReadResource(request)
        urn = response.urn
        if urn in self.records:
            raise DuplicateUrnError(f"two resources share the URN {urn}")
        self.records[urn] = Recorded(
            urn=urn, type=request.type, name=request.name, custom=True, parent=request.parent or None,
            inputs=_plain(rpc.deserialize_properties(request.properties, keep_unknowns=True)),
            depends_on=list(request.dependencies), provider=request.provider or None, read=True,
            outputs=_plain(self.resources[urn].state if urn in self.resources else {}),
        )
        return response

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        urn = response.urn
        if urn in self.records:
            raise DuplicateUrnError(f"two resources share the URN {urn}")
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        self.records[urn] = Recorded(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            inputs=_plain(inputs),
            protect=bool(getattr(request, "protect", False)),
            retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
            ignore_changes=list(request.ignoreChanges),
            depends_on=list(request.dependencies),
            provider=request.provider or None,
            aliases=[u for a in getattr(request, "aliases", []) if (u := _alias_urn(a, urn, request))],
            outputs=_plain(self.resources[urn].state if urn in self.resources else {}),
        )
        return response


def _alias_urn(alias: Any, urn: str, request: Any) -> str:
    """The URN an alias stands for: given as a URN, or as a spec (name, type, parent) that
    differs from the resource's own; the same ``urn:pulumi:<stack>::<project>::`` prefix."""
    if getattr(alias, "urn", ""):
        return alias.urn
    spec = getattr(alias, "spec", None)
    if spec is None or not any((spec.name, spec.type, spec.parentUrn, spec.noParent)):
        return ""
    head, qualified_type, _name = urn.rsplit("::", 2)
    own_type = spec.type or request.type
    if spec.noParent:
        chain = own_type
    elif spec.parentUrn:
        parent_type = spec.parentUrn.rsplit("::", 2)[1]
        chain = f"{parent_type}${own_type}" if not parent_type.startswith("pulumi:pulumi:Stack") else own_type
    else:
        chain = qualified_type.rsplit("$", 1)[0] + f"${own_type}" if "$" in qualified_type else own_type
    return f"{head}::{chain}::{spec.name or request.name}"


def install(project: str, stack: str, config: dict[str, Any], region: str) -> RecordingMonitor:
    """Point the Pulumi runtime at a fresh recording mock engine with ``config`` set: the
    keys the program reads (``gpufleet:*``, ``aws:region``), as Pulumi passes them (strings).
    Other namespaces are not serialised (the program never reads them; a stack file's are
    checked by ``modules.config.validate``)."""
    from modules.config import program_config

    pulumi.runtime.set_all_config(program_config(config), [])
    mocks = RecordingMocks(region)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    return monitor
