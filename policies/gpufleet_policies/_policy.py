"""How the pack declares a rule: every policy is mandatory (but the few ``ADVISORY_POLICIES``) and has a config schema (an empty
one when it takes no settings; ``tests/test_policies.py`` holds the pack to both), and the
config properties several rules share are written once here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy

from ._props import ENVIRONMENTS

P = TypeVar("P", ResourceValidationPolicy, StackValidationPolicy)

#: the rules that warn instead of blocking: a version in extended support is a running cluster
#: that costs more, not one to stop deploying (the mandatory ``eks-version-offered`` refuses one
#: EKS no longer offers)
ADVISORY_POLICIES = ("eks-version-standard-support",)


def mandatory(kind: type[P], name: str, description: str, validate: Callable[..., Any],
              properties: Mapping[str, Any] | None = None) -> P:
    """A ``ResourceValidationPolicy`` or ``StackValidationPolicy`` of the pack."""
    return kind(name=name, description=description, validate=validate,
                enforcement_level=EnforcementLevel.MANDATORY,
                config_schema=PolicyConfigSchema(properties=dict(properties or {})))


def advisory(kind: type[P], name: str, description: str, validate: Callable[..., Any],
             properties: Mapping[str, Any] | None = None) -> P:
    """A rule of the pack that warns and never blocks (``ADVISORY_POLICIES`` lists them all)."""
    if name not in ADVISORY_POLICIES:
        raise ValueError(f"{name} is not in ADVISORY_POLICIES")
    return kind(name=name, description=description, validate=validate,
                enforcement_level=EnforcementLevel.ADVISORY,
                config_schema=PolicyConfigSchema(properties=dict(properties or {})))


def environment_property(description: str | None = None) -> dict[str, Any]:
    """The ``environment`` setting the environment-aware rules read (``_props.environment``)."""
    prop: dict[str, Any] = {"type": "string", "enum": list(ENVIRONMENTS)}
    if description is not None:
        prop["description"] = description
    return prop


def strings(description: str) -> dict[str, Any]:
    """A setting that is a list of names or patterns."""
    return {"type": "array", "items": {"type": "string"}, "description": description}
