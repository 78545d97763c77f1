"""Calling the policy pack the way CrossGuard does, on recorded or fixture resources (test support)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from gpufleet.reports.policy import load_pack

pack = load_pack()
from gpufleet.policies import offline  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
NG = "aws:eks/nodeGroup:NodeGroup"


#: the stack the fixture's URNs name: one whose name says no environment, so a test sets the
#: environment through the pack config or the ``env`` tag (``foundation(stack="prod")`` keeps
#: the recorded name, whose environment then wins over both)
FIXTURE_STACK = "fixture"


def foundation(stack: str = FIXTURE_STACK) -> list[SimpleNamespace]:
    """The trimmed prod plan as recorded resources (fresh copies), its URNs naming ``stack``."""
    doc = json.loads((FIXTURES / "prod-foundation.json").read_text().replace("urn:pulumi:prod::", f"urn:pulumi:{stack}::"))
    return [record(r["type"], r["name"], r["inputs"], urn=r["urn"], parent=r["parent"], **r["options"])
            for r in doc["resources"]]


def record(typ: str, name: str, inputs: dict, *, urn: str | None = None, parent: str | None = None,
           provider: str | None = None, depends_on: list[str] | None = None, **_: Any) -> SimpleNamespace:
    return SimpleNamespace(type=typ, name=name, inputs=copy.deepcopy(inputs),
                           urn=urn or f"urn:pulumi:t::p::{typ}::{name}",
                           parent=parent, custom=not typ.startswith("gpufleet:"), provider=provider,
                           depends_on=depends_on or [], protect=False, ignore_changes=[], aliases=[])


def find(records, name: str) -> SimpleNamespace:
    return next(r for r in records if r.name == name)


def opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def check(policy_name: str, rec: SimpleNamespace, config: dict | None = None,
          provider: PolicyProviderResource | None = None) -> list[str]:
    """Messages a resource policy reports for one resource (CrossGuard's direct-call form)."""
    policy = pack.policy(policy_name)
    assert isinstance(policy, ResourceValidationPolicy)
    args = ResourceValidationArgs(rec.type, rec.inputs, rec.urn, rec.name, opts(), provider, config or {})
    messages: list[str] = []
    policy.validate(args, lambda msg, urn=None: messages.append(msg))
    return messages


def check_stack(policy_name: str, records, config: dict | None = None) -> list[str]:
    policy = pack.policy(policy_name)
    assert isinstance(policy, StackValidationPolicy)
    messages: list[str] = []
    policy.validate(StackValidationArgs(offline.policy_resources(records), config or {}),
                    lambda msg, urn=None: messages.append(msg))
    return messages


def with_env(rec: SimpleNamespace, env: str) -> SimpleNamespace:
    rec.inputs["tags"]["env"] = env
    return rec
