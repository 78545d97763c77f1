"""Run the pack without the Pulumi engine: the pack's own policy objects, called on
recorded resources the way CrossGuard calls them.

A recorded resource is anything with ``type``, ``name``, ``urn``, ``parent`` (URN),
``inputs`` (wire props, camelCase) and optionally ``custom``, ``provider`` (``urn::id``),
``depends_on`` (URNs), ``protect``, ``ignore_changes``, ``aliases``: e.g.
``gpufleet.engine.Recorded``. Each becomes a ``PolicyResource`` (with its parent and
dependencies linked) and each custom resource gets one ``ResourceValidationArgs`` per
resource policy; stack policies get the whole list.

Config has the ``--policy-pack-config`` file's shape: ``{"all": level, "<policy>": {...,
"enforcementLevel": level}}``. As in direct CrossGuard calls, schema defaults are not
applied: every rule falls back to :mod:`gpufleet_policies.defaults` itself.
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from pulumi_policy import (EnforcementLevel, Policy, PolicyCustomTimeouts, PolicyProviderResource, PolicyResource,
                           PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)
from pulumi_policy.proxy import UnknownValueError

from . import PACK_NAME, POLICIES


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    #: URN of the resource in violation (None: the stack as a whole)
    resource: str | None
    message: str
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "level": self.level, "resource": self.resource, "message": self.message}


def level_of(policy: Policy, config: Mapping[str, Any]) -> str:
    """The enforcement level in force: the policy's config, the config's ``all``, the policy's own, advisory."""
    own = config.get(policy.name)
    if isinstance(own, str):
        return own
    if isinstance(own, Mapping) and own.get("enforcementLevel"):
        return str(own["enforcementLevel"])
    if isinstance(config.get("all"), str):
        return str(config["all"])
    return (policy.enforcement_level or EnforcementLevel.ADVISORY).value


def policy_config(policy: Policy, config: Mapping[str, Any]) -> dict[str, Any]:
    own = config.get(policy.name)
    return {k: v for k, v in own.items() if k != "enforcementLevel"} if isinstance(own, Mapping) else {}


def _options(r: Any) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        bool(getattr(r, "protect", False)), list(getattr(r, "ignore_changes", []) or []), None,
        list(getattr(r, "aliases", []) or []), PolicyCustomTimeouts(0, 0, 0), [], getattr(r, "parent", None))


def policy_resources(records: Sequence[Any]) -> list[PolicyResource]:
    """The records as CrossGuard's ``PolicyResource`` objects, parents and dependencies linked."""
    by_urn: dict[str, PolicyResource] = {}
    for r in records:
        by_urn[r.urn] = PolicyResource(r.type, r.inputs, r.urn, r.name, _options(r), None, None, [], {})
    for r in records:
        res = by_urn[r.urn]
        res.parent = by_urn.get(r.parent) if r.parent else None
        res.dependencies = [by_urn[u] for u in getattr(r, "depends_on", []) or [] if u in by_urn]
        res.provider = _provider(r, by_urn)
    return list(by_urn.values())


def _provider(r: Any, by_urn: Mapping[str, PolicyResource]) -> PolicyProviderResource | None:
    ref = getattr(r, "provider", None)
    target = by_urn.get(ref.rsplit("::", 1)[0]) if ref else None
    if target is None:
        return None
    return PolicyProviderResource(target.resource_type, target.props, target.urn, target.name)


def _call(fn: Any, *args: Any) -> None:
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            asyncio.run(_await(result))
    except UnknownValueError:
        pass  # CrossGuard, too, skips a rule that reads a value unknown before deployment


async def _await(result: Any) -> None:
    await result


def run(records: Iterable[Any], config: Mapping[str, Any] | None = None,
        policies: Sequence[Policy] = POLICIES) -> list[Violation]:
    """Every violation the pack reports on ``records``, in pack order."""
    config = config or {}
    records = list(records)
    resources = policy_resources(records)
    by_urn = {r.urn: r for r in resources}
    violations: list[Violation] = []
    for policy in policies:
        level = level_of(policy, config)
        if level == EnforcementLevel.DISABLED.value:
            continue
        cfg = policy_config(policy, config)

        def reporter(default_urn: str | None):
            def report(message: str, urn: str | None = None) -> None:
                target = urn or default_urn
                name = by_urn[target].name if target in by_urn else None
                violations.append(Violation(policy.name, level, target, message, name))
            return report

        if isinstance(policy, ResourceValidationPolicy):
            for rec, res in zip(records, resources):
                if not getattr(rec, "custom", True) and not rec.type.startswith("pulumi:providers:"):
                    continue
                args = ResourceValidationArgs(res.resource_type, res.props, res.urn, res.name, res.opts,
                                              res.provider, cfg)
                _call(policy.validate, args, reporter(res.urn))
        elif isinstance(policy, StackValidationPolicy):
            _call(policy.validate, StackValidationArgs(resources, cfg), reporter(None))
    return violations


__all__ = ["PACK_NAME", "Violation", "run", "policy_resources", "level_of"]
