"""Run the real Pulumi program in-process under Pulumi's mock engine and record it.

``RecordingMonitor`` sits where the Pulumi engine would: it sees every registration with
its type, name, inputs (wire form: camelCase keys, as the provider would receive them),
parent and options. ``RecordingMocks`` answers like a provider would for the computed
fields the program reads (ARNs, the cluster endpoint, a node group's Auto Scaling group).

Two things differ from Pulumi's own ``MockMonitor`` so that a plan can be pasted into and
compared with real Pulumi:

- URNs are the ones the Pulumi engine assigns: ``urn:pulumi:<stack>::<project>::<qualified
  type>::<name>``, where the qualified type is the parent's *whole* qualified type, ``$``,
  the resource's type; a resource whose parent is the stack (``pulumi:pulumi:Stack``) has
  its own type only (Pulumi's ``generateURN``). The SDK's mock keeps only the parent's last
  type and puts ``pulumi:pulumi:Stack$`` in front of top-level resources.
- The records come out in one stable order, whatever order the SDK's asynchronous
  registrations arrived in (:func:`stable_order`); ``depends_on`` is sorted. Mock ids and
  ARNs are derived from names only (never ``hash()``), so two runs in two processes give
  byte-identical plans.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings

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


LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def mock_id(typ: str, name: str) -> str:
    """The id the mock engine gives a resource: derived from its name only (stable across
    processes; ``zlib.crc32``, never ``hash()``, which changes with ``PYTHONHASHSEED``)."""
    if typ == LAUNCH_TEMPLATE:
        return f"lt-{zlib.crc32(name.encode()):012d}"
    return f"{name}-id"


def placeholders(typ: str, name: str) -> dict[str, str]:
    """The stand-in values the mock engine computes for a resource (its id, key id, cluster
    security group), each with how output names it instead (``<id of NAME>``). ARNs are
    ``arn:aws:<service>:<region>:<ACCOUNT>:<name>`` (see :data:`MOCK_ARN`)."""
    out = {mock_id(typ, name): f"<id of {name}>"}
    if typ == "aws:kms/key:Key":
        out[f"key-{name}"] = f"<key id of {name}>"
    elif typ == "aws:eks/cluster:Cluster":
        out[f"sg-{name}"] = f"<security group of {name}>"
    return out


#: A mock ARN: ``arn:aws:<service>:<region>:<ACCOUNT>:<logical name>``.
MOCK_ARN = re.compile(rf"^arn:aws:[a-z0-9-]+:[a-z0-9-]*:{ACCOUNT}:(?P<name>[^:/]+)$")


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
        rid = mock_id(args.typ, args.name)
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
        if args.token == "aws:ssm/getParameter:getParameter":
            # a public parameter such as Amazon Linux's latest AMI: a stable, AMI-shaped stand-in
            name = str(args.args.get("name", ""))
            value = f"ami-0{zlib.crc32(name.encode()):08x}{zlib.crc32(name[::-1].encode()):08x}"
            return {"arn": f"arn:aws:ssm:{self.region}::parameter{name}", "id": name, "name": name, "type": "String",
                    "value": value, "insecureValue": value, "version": 1, "withDecryption": True}, []
        if args.token == "aws:eks/getAddonVersion:getAddonVersion":
            # EKS's default version of an add-on for a Kubernetes version (DescribeAddonVersions):
            # a stand-in that names both, so a plan shows the add-on following cluster.version
            addon, k8s = str(args.args.get("addonName", "")), str(args.args.get("kubernetesVersion", ""))
            version = f"{addon}-default-for-{k8s}"
            return {"addonName": addon, "id": addon, "kubernetesVersion": k8s,
                    "mostRecent": bool(args.args.get("mostRecent", False)), "version": version}, []
        return {}, []


STACK_TYPE = "pulumi:pulumi:Stack"


def qualified_type(urn: str) -> str:
    """The qualified type of a URN (``parent types$type``; a name may contain ``::``)."""
    return urn.split("::", 3)[2]


def make_urn(stack: str, project: str, parent: str | None, type_: str, name: str) -> str:
    """The URN the Pulumi engine gives a resource (``deployment.generateURN``): the parent's
    whole qualified type, unless the parent is the stack itself."""
    chain = type_
    if parent and (parent_type := qualified_type(parent)) != STACK_TYPE:
        chain = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{chain}::{name}"


def sort_key(r: Recorded) -> tuple[str, str, str]:
    return (r.name, r.type, r.urn)


def stable_order(records: Iterable[Recorded]) -> list[Recorded]:
    """Tree order, independent of registration order: each resource right before its
    children, siblings by name then type (the URN breaks any tie). Top-level resources are
    those whose parent is not recorded (the stack)."""
    records = list(records)
    urns = {r.urn for r in records}
    kids: dict[str | None, list[Recorded]] = {}
    for r in records:
        kids.setdefault(r.parent if r.parent in urns else None, []).append(r)
    out: list[Recorded] = []
    stack = sorted(kids.get(None, []), key=sort_key, reverse=True)
    while stack:
        node = stack.pop()
        out.append(node)
        stack += sorted(kids.get(node.urn, []), key=sort_key, reverse=True)
    return out


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock engine that remembers every registration and refuses duplicate URNs.

    ``records`` lists them in :func:`stable_order` (a fresh dict on each access: read it
    once the program has run)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self._records: dict[str, Recorded] = {}

    @property
    def records(self) -> dict[str, Recorded]:
        return {r.urn: r for r in stable_order(self._records.values())}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return make_urn(pulumi.get_stack(), pulumi.get_project(), parent, type_, name)

    def ReadResource(self, request):  # noqa: N802 (gRPC method name)
        """Reads of existing resources (``pulumi.StackReference``, ``.get()``) are recorded too."""
        response = super().ReadResource(request)
        urn = response.urn
        if urn in self._records:
            raise DuplicateUrnError(f"two resources share the URN {urn}")
        self._records[urn] = Recorded(
            urn=urn, type=request.type, name=request.name, custom=True, parent=request.parent or None,
            inputs=_plain(rpc.deserialize_properties(request.properties, keep_unknowns=True)),
            depends_on=sorted(request.dependencies), provider=request.provider or None, read=True,
            outputs=_plain(self.resources[urn].state if urn in self.resources else {}),
        )
        return response

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        urn = response.urn
        if urn in self._records:
            raise DuplicateUrnError(f"two resources share the URN {urn}")
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        self._records[urn] = Recorded(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            inputs=_plain(inputs),
            protect=bool(getattr(request, "protect", False)),
            retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
            ignore_changes=list(request.ignoreChanges),
            depends_on=sorted(request.dependencies),
            provider=request.provider or None,
            aliases=sorted({u for a in getattr(request, "aliases", []) if (u := _alias_urn(a, urn, request))}),
            outputs=_plain(self.resources[urn].state if urn in self.resources else {}),
        )
        return response


def _alias_urn(alias: Any, urn: str, request: Any) -> str:
    """The URN an alias stands for: given as a URN, or as a spec (name, type, parent, stack,
    project) that differs from the resource's own, built by the engine's rule
    (:func:`make_urn`); an unset parent in a spec means the resource's own parent."""
    if getattr(alias, "urn", ""):
        return alias.urn
    spec = getattr(alias, "spec", None)
    if spec is None or not any((spec.name, spec.type, spec.parentUrn, spec.noParent, spec.stack, spec.project)):
        return ""
    stack, project = urn.removeprefix("urn:pulumi:").split("::", 2)[:2]
    parent = None if spec.noParent else (spec.parentUrn or request.parent or None)
    return make_urn(spec.stack or stack, spec.project or project, parent, spec.type or request.type,
                    spec.name or request.name)


#: the SDK's own stack walk (kept for tests/test_engine_source_positions.py)
SDK_STACK_WALK = getattr(pulumi_resource, "_get_stack_trace", None)


def _no_stack_trace() -> Any:
    from pulumi.runtime.proto import source_pb2

    return source_pb2.StackTrace()


def _skip_source_positions() -> None:
    """The SDK walks the whole Python stack at each registration (``traceback.extract_stack``,
    a file URI per frame: pulumi/runtime/resource.py ``_get_stack_trace``, pulumi 3.272.0) to
    send the engine the resource's source position, which real Pulumi shows in its
    diagnostics. The mock engine never reads it (RegisterResourceRequest.sourcePosition and
    stackTrace): without it a render takes ~10% less time, ~20% under a deep caller such as
    a test. Only here, in a process that plans offline; ``pulumi up`` runs the SDK as it is.
    An SDK without the function is left alone (it is only slower)."""
    if callable(getattr(pulumi_resource, "_get_stack_trace", None)):
        pulumi_resource._get_stack_trace = _no_stack_trace


def install(project: str, stack: str, config: dict[str, Any], region: str) -> RecordingMonitor:
    """Point the Pulumi runtime at a fresh recording mock engine with ``config`` set: the
    keys the program reads (``gpufleet:*``, ``aws:region``), as Pulumi passes them (strings).
    Other namespaces are not serialised (the program never reads them; a stack file's are
    checked by ``modules.config.validate``)."""
    from gpufleet.modules.config import program_config

    _skip_source_positions()
    pulumi.runtime.set_all_config(program_config(config), [])
    mocks = RecordingMocks(region)
    monitor = RecordingMonitor(mocks)
    # a new root stack resource for this stack: set_mocks keeps the previous render's one (its
    # URN names the previous stack, and would be every top-level resource's parent)
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    return monitor
