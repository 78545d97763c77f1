"""The policy report's fix hints name what a user can change.

Offline, the pack config is derived from the stack file and the environment
(``gpufleet.reports.policy.pack_config``): a threshold edited by hand in
``policies/config/<stack>.json`` changes no verdict and ``gpufleet check`` calls the file
stale. So a hint names a key of the stack file (that exists), a suppression with its reason,
or the platform team's files, never a pack-config threshold.
"""

from __future__ import annotations

import re
import typing

import pytest
from pydantic import BaseModel

from gpufleet.modules.schema.stack import StackConfig
from gpufleet.reports import policy as report_mod

HINTS = sorted(report_mod.FIX_HINTS.items())
#: the sections of a stack file (``gpufleet:<section>``)
TOP = sorted((f.alias or name) for name, f in StackConfig.model_fields.items())
#: ``gpufleet:<key path>``, or a key path of a section written without the prefix
#: (``pools.gpu[].max``, ``cost.budget_usd``)
PREFIXED = re.compile(r"gpufleet:([A-Za-z_][\w-]*(?:\.[\w-]+|\[\])*)")
BARE = re.compile(r"(?<![\w:./-])((?:" + "|".join(map(re.escape, TOP)) + r")(?:\.[\w-]+|\[\])+)")


def _models(annotation: typing.Any, suffix: str = "") -> list[tuple[type[BaseModel], str]]:
    """The models inside a field's type, with the key-path suffix each sits under (``[]`` in a
    list, ``.<key>`` in a mapping)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, suffix)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    name = getattr(origin, "__name__", "")
    if name in ("list", "tuple", "Sequence", "set", "frozenset"):
        return [m for a in args if a is not Ellipsis for m in _models(a, suffix + "[]")]
    if name in ("dict", "Mapping"):
        return _models(args[1], suffix + ".<key>") if len(args) == 2 else []
    return [m for a in args for m in _models(a, suffix)]


def key_paths(model: type[BaseModel] = StackConfig, prefix: str = "",
              seen: frozenset[type] = frozenset()) -> set[str]:
    """Every key path of the stack file's models: ``pools.gpu[].max``, ``tags.cost-center``."""
    out: set[str] = set()
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        out.add(path)
        for sub, suffix in _models(field.annotation):
            if sub not in seen:
                out |= key_paths(sub, f"{path}{suffix}.", seen | {sub})
    return out


KEYS = key_paths()


def stack_keys(hint: str) -> list[str]:
    return PREFIXED.findall(hint) + BARE.findall(PREFIXED.sub(" ", hint))


def test_the_key_paths_are_the_stack_files():
    assert {"pools.gpu[].max", "pools.system.instance_types", "cost.budget_usd", "tags.cost-center",
            "teams[].shares", "network.nat", "cluster.endpoint.public_cidrs"} <= KEYS
    assert stack_keys("set gpufleet:pools.gpu[].capacity: spot and cost.budget_usd, not policies/config/x.json") \
        == ["pools.gpu[].capacity", "cost.budget_usd"]


@pytest.mark.parametrize(("policy", "hint"), HINTS)
def test_every_stack_key_a_hint_names_exists(policy, hint):
    for key in stack_keys(hint):
        assert key in KEYS, f"{policy}: the hint names gpufleet:{key}, no key of StackConfig"


def pack_properties() -> dict[str, set[str]]:
    """Every property of the pack's config schemas, with the policies that declare it."""
    out: dict[str, set[str]] = {}
    for policy in report_mod.load_pack().POLICIES:
        for prop in (policy.config_schema.properties if policy.config_schema else {}):
            out.setdefault(prop, set()).add(policy.name)
    return out


@pytest.mark.parametrize(("policy", "hint"), HINTS)
def test_no_hint_tells_the_user_to_edit_a_pack_config_threshold(policy, hint):
    props = pack_properties()
    assert {"maxNodes", "allowedInstanceTypes", "minReplicas", "budgetUsd"} <= set(props)
    for prop in props:
        if prop != prop.lower():  # camelCase: a config property, whatever the sentence
            assert not re.search(rf"\b{prop}\b", hint), f"{policy}: the hint names the pack config's {prop}"
        else:  # a plain word (environment, charts): only as a key
            assert not re.search(rf"""["'`]?\b{prop}\b["'`]?\s*[:=]""", hint), f"{policy}: {prop} as a key"
    # the stack's policy config is named only for its one user-written entry: a suppression with a reason
    if re.search(r"policies/config|policy config|--policy-pack-config", hint):
        assert "suppress" in hint and "with a reason" in hint, f"{policy}: {hint}"
    for verb in ("widen", "raise", "lower", "set", "edit", "change"):
        assert not re.search(rf"\b{verb}\b[^;,]*\b(?:policy config|policies/config)", hint), f"{policy}: {hint}"


@pytest.mark.parametrize(("policy", "hint"), HINTS)
def test_every_hint_names_something_the_user_can_change(policy, hint):
    """A key of the stack file, a suppression, what a program of the user's own must set, or
    the platform team to ask."""
    assert (stack_keys(hint) or "suppress" in hint or "your own program" in hint
            or "ask the platform team" in hint), f"{policy}: {hint}"


def test_the_platform_teams_files_a_hint_names_exist():
    from .helpers import ROOT

    for policy, hint in HINTS:
        for path in re.findall(r"(?<![\w/<>-])((?:modules|policies)/[\w./-]+\.(?:json|py))", hint):
            assert (ROOT / path).is_file(), f"{policy}: {path}"
