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
applied: every rule falls back to :mod:`gpufleet.policies.defaults` itself.

Suppressions: ``"suppress": {"<policy>": "<reason>"}`` in the same file. A suppressed rule
still runs; what it finds is reported as *skipped*, with the reason, never dropped
silently (:func:`evaluate`). Pulumi passes the key through untouched (it is no policy's
config), so one file serves both paths; ``gpufleet policy --write-config`` writes a
suppressed rule as ``advisory``, so ``pulumi preview`` still prints its findings without
blocking on them.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
from dataclasses import dataclass, replace
from typing import Any, Iterable, Literal, Mapping, Sequence

from pulumi_policy import (EnforcementLevel, Policy, PolicyCustomTimeouts, PolicyProviderResource, PolicyResource,
                           PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy,
                           StackValidationArgs, StackValidationPolicy)
from pulumi_policy.proxy import UnknownValueError

from . import PACK_NAME, POLICIES


#: The config key of the suppressions: ``{"<policy>": "<reason>"}``.
SUPPRESS = "suppress"


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    #: URN of the resource in violation (None: the stack as a whole)
    resource: str | None
    message: str
    name: str | None = None
    #: the reason the stack's config gives for suppressing the rule (None: not suppressed)
    suppressed: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc = {"policy": self.policy, "level": self.level, "resource": self.resource, "message": self.message}
        if self.suppressed is not None:
            doc["suppressed"] = self.suppressed
        return doc


class SuppressionError(ValueError):
    """A ``suppress`` section that is not ``{"<policy of the pack>": "<non-empty reason>"}``."""

    def __init__(self, key_path: str, given: Any, expected: str) -> None:
        self.key_path, self.given, self.expected = key_path, given, expected
        super().__init__(f"{key_path}: got {given!r}; expected {expected}")


def suppressions(config: Mapping[str, Any], policies: Sequence[Policy] = POLICIES) -> dict[str, str]:
    """The config's suppressions, checked: each names a policy of the pack and gives a reason."""
    raw = config.get(SUPPRESS)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SuppressionError(SUPPRESS, raw, 'an object {"<policy>": "<why it does not apply to this stack>"}')
    names = [p.name for p in policies]
    out: dict[str, str] = {}
    for name, reason in raw.items():
        if name not in names:
            near = difflib.get_close_matches(str(name), names, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise SuppressionError(SUPPRESS, name, f"the name of a policy of the pack{hint}")
        if not isinstance(reason, str) or not reason.strip():
            raise SuppressionError(f"{SUPPRESS}.{name}", reason,
                                   "a reason: a non-empty string saying why the rule does not apply to this stack")
        out[name] = " ".join(reason.split())
    return out


Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class RuleResult:
    """One policy's outcome: ``failed`` when it reports a violation that is not suppressed,
    ``skipped`` when disabled or suppressed (``reason`` says which), else ``passed``."""

    policy: str
    level: str
    status: Status
    #: every violation found, suppressed ones marked (a disabled rule finds none: it does not run)
    violations: tuple[Violation, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Evaluation:
    rules: tuple[RuleResult, ...]

    @property
    def violations(self) -> list[Violation]:
        """The violations in force (not suppressed), in pack order."""
        return [v for r in self.rules for v in r.violations if v.suppressed is None]

    @property
    def suppressed(self) -> list[Violation]:
        return [v for r in self.rules for v in r.violations if v.suppressed is not None]

    def counts(self) -> dict[str, int]:
        out = {"rules": len(self.rules), "passed": 0, "failed": 0, "skipped": 0}
        for r in self.rules:
            out[r.status] += 1
        return out


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


def evaluate(records: Iterable[Any], config: Mapping[str, Any] | None = None,
             policies: Sequence[Policy] = POLICIES) -> Evaluation:
    """Every policy's outcome on ``records``, in pack order (suppressions applied, see the
    module doc). A bad ``suppress`` section raises :class:`SuppressionError`."""
    config = config or {}
    suppressed = suppressions(config, [*POLICIES, *policies])  # a rule of the pack, even when not run here
    records = list(records)
    resources = policy_resources(records)
    by_urn = {r.urn: r for r in resources}
    results: list[RuleResult] = []
    for policy in policies:
        level = level_of(policy, config)
        if level == EnforcementLevel.DISABLED.value:
            results.append(RuleResult(policy.name, level, "skipped", reason="enforcementLevel disabled in the policy config"))
            continue
        cfg = policy_config(policy, config)
        found: list[Violation] = []

        def reporter(default_urn: str | None, found: list[Violation] = found, policy: Policy = policy,
                     level: str = level):
            def report(message: str, urn: str | None = None) -> None:
                target = urn or default_urn
                name = by_urn[target].name if target in by_urn else None
                found.append(Violation(policy.name, level, target, message, name))
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
        reason = suppressed.get(policy.name)
        if reason is not None:
            results.append(RuleResult(policy.name, level, "skipped", tuple(replace(v, suppressed=reason) for v in found),
                                      f"suppressed in the stack's policy config: {reason}"))
        else:
            results.append(RuleResult(policy.name, level, "failed" if found else "passed", tuple(found)))
    return Evaluation(tuple(results))


def run(records: Iterable[Any], config: Mapping[str, Any] | None = None,
        policies: Sequence[Policy] = POLICIES) -> list[Violation]:
    """Every violation in force on ``records`` (suppressed ones left out: :func:`evaluate`
    reports them as skipped), in pack order."""
    return evaluate(records, config, policies).violations


__all__ = ["PACK_NAME", "Evaluation", "RuleResult", "SuppressionError", "Violation", "evaluate", "level_of",
           "policy_resources", "run", "suppressions"]
