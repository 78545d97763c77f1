"""Reading resource properties the same way in both paths.

CrossGuard hands a policy ``args.props`` (wire form, camelCase) through a proxy that raises
``UnknownValueError`` on a value not known during preview; the offline plan records the
same props with ``"<computed>"`` in place of unknowns. :func:`get` returns :data:`UNKNOWN`
for both, so a rule can skip what it cannot see instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Iterable, Mapping

from pulumi_policy.proxy import UnknownValueError

from gpufleet.modules.k8s_quantity import parse_quantity

#: How the offline plan shows a value not known before deployment (``gpufleet.engine.UNKNOWN``).
OFFLINE_UNKNOWN = "<computed>"


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()
_MISSING = object()

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CLUSTER = "aws:eks/cluster:Cluster"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EFS_FILE_SYSTEM = "aws:efs/fileSystem:FileSystem"
ASG_TAG = "aws:autoscaling/tag:Tag"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
POOL_LABEL = "gpufleet.io/pool"
PURPOSE_LABEL = "gpufleet.io/purpose"
ALWAYS_ON_LABEL = "gpufleet.io/always-on"
ENVIRONMENTS = ("dev", "staging", "prod")


def get(props: Any, path: str, default: Any = None) -> Any:
    """``get(props, "scalingConfig.maxSize")``: the value, ``default`` when absent, ``UNKNOWN`` when not known yet."""
    node = props
    try:
        for part in path.split("."):
            if isinstance(node, Mapping):
                node = node.get(part, _MISSING)
            elif is_list(node) and part.isdigit():
                node = node[int(part)] if int(part) < len(node) else _MISSING
            else:
                node = _MISSING
            if node is _MISSING or node is None:
                return default
            if node == OFFLINE_UNKNOWN:
                return UNKNOWN
    except UnknownValueError:
        return UNKNOWN
    return node


def is_list(value: Any) -> bool:
    """A list, tuple or CrossGuard's list proxy (a ``Sequence``, not a ``list``)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def known(value: Any) -> bool:
    return value is not UNKNOWN


def plain(value: Any) -> Any:
    """A proxied value as plain dicts/lists (unknown leaves become ``UNKNOWN``)."""
    try:
        if isinstance(value, Mapping):
            return {k: plain(_item(value, k)) for k in list(value.keys())}
        if is_list(value):
            return [plain(_index(value, i)) for i in range(len(value))]
    except UnknownValueError:
        return UNKNOWN
    return UNKNOWN if value == OFFLINE_UNKNOWN else value


def _item(m: Mapping, k: str) -> Any:
    try:
        return m[k]
    except UnknownValueError:
        return UNKNOWN


def _index(seq: Any, i: int) -> Any:
    try:
        return seq[i]
    except UnknownValueError:
        return UNKNOWN


def number(value: Any) -> float | None:
    """A wire number (every number travels as a float) or a numeric string; None otherwise."""
    if isinstance(value, bool) or value is UNKNOWN or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def tags_of(props: Any, key: str = "tags") -> dict[str, str]:
    """A resource's tags as a dict: a map (most resources) or a list of ``{key, value}`` (Auto Scaling groups)."""
    raw = plain(get(props, key, {}))
    if isinstance(raw, list):
        return {t.get("key"): t.get("value") for t in raw if isinstance(t, Mapping) and isinstance(t.get("key"), str)}
    return {k: v for k, v in raw.items() if known(v)} if isinstance(raw, Mapping) else {}


def environment(config: Mapping[str, Any], *props: Any, urn: Any = None) -> str | None:
    """The stack's environment: what the stack's name says (from ``urn``) when it says one;
    else the policy config's ``environment``; else the ``env`` cost-allocation tag of the
    resource(s) at hand (every taggable gpufleet resource carries it)."""
    return _resolve_environment((urn,), config, props, tag_must_name_one=False)


def urn_stack(urn: Any) -> str | None:
    """The stack segment of a URN (``urn:pulumi:<stack>::<project>::...``)."""
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:"):
        return None
    return urn.removeprefix("urn:pulumi:").split("::", 1)[0] or None


def urn_environment(urn: Any) -> str | None:
    """The environment the stack's *name* says (``modules.environments``): a stack file or a
    pack config that claims another cannot change it."""
    from gpufleet.modules.environments import environment_of

    stack = urn_stack(urn)
    return environment_of(stack) if stack else None


def stack_environment(config: Mapping[str, Any], resources: Iterable[Any]) -> str | None:
    """The stack's environment: from its name (any resource's URN) first; else the pack
    config's ``environment``; else the resources' ``env`` tag (only one of :data:`ENVIRONMENTS`)."""
    resources = list(resources)
    return _resolve_environment((getattr(r, "urn", None) for r in resources), config,
                                (r.props for r in resources), tag_must_name_one=True)


def _resolve_environment(urns: Iterable[Any], config: Mapping[str, Any], tagged: Iterable[Any], *,
                         tag_must_name_one: bool) -> str | None:
    """The order both rules above follow: the first URN whose stack name says an environment;
    else the config's ``environment``; else the first ``env`` tag of ``tagged`` (props), which
    with ``tag_must_name_one`` counts only when it is one of :data:`ENVIRONMENTS`."""
    for urn in urns:
        env = urn_environment(urn)
        if env:
            return env
    env = config.get("environment")
    if env:
        return str(env)
    for props in tagged:
        value = tags_of(props).get("env")
        if value and (not tag_must_name_one or value in ENVIRONMENTS):
            return str(value)
    return None


def chart_name(props: Any) -> str:
    """A Helm release's chart without its repository (``oci://.../gpu-operator`` -> ``gpu-operator``)."""
    return str(get(props, "chart", "")).rsplit("/", 1)[-1]


def short(resource: Any) -> str:
    """How a message names a resource: its logical name."""
    return getattr(resource, "name", None) or str(getattr(resource, "urn", "?"))


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (``8``, ``"500m"``, ``"16Gi"``) as a number; None when not one."""
    if isinstance(value, bool) or value is None or not known(value):
        return None
    try:
        return parse_quantity(value)
    except ValueError:
        return None
