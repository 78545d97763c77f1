"""Helpers for the ML stack tests: manifests of a plan, CEL evaluation of CRD rules and
admission policies (with cel-python, when installed)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from gpufleet.modules.k8s_schema import crd_schema, has_crd_schema, manifest

HELM = "kubernetes:helm.sh/v3:Release"


def manifests(plan, kind: str | None = None) -> list[dict[str, Any]]:
    out = []
    for r in plan.resources:
        obj = manifest(r.type, r.inputs)
        if obj is not None and (kind is None or obj["kind"] == kind):
            out.append(obj)
    return out


def by_name(objs, name: str) -> dict[str, Any]:
    return next(o for o in objs if o["metadata"]["name"] == name)


def release(plan, name: str):
    return plan.get(HELM, f"{name}-release")


def celpy():
    return pytest.importorskip("celpy", reason="cel-python evaluates CEL rules (pip install cel-python)")


def cel_eval(expression: str, activation: Mapping[str, Any]) -> Any:
    cel = celpy()
    env = cel.Environment()
    program = env.program(env.compile(expression))
    return program.evaluate({k: cel.json_to_cel(v) for k, v in activation.items()})


def _rules(schema: Mapping[str, Any], value: Any, path: str) -> Iterator[tuple[str, str, str, Any]]:
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" not in rule["rule"]:
            yield path, rule["rule"], rule.get("message", ""), value
    if isinstance(value, Mapping):
        props = schema.get("properties", {})
        for key, sub in value.items():
            if key in props:
                yield from _rules(props[key], sub, f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), Mapping):
                yield from _rules(schema["additionalProperties"], sub, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            yield from _rules(schema["items"], item, f"{path}[{i}]")


def cel_violations(obj: Mapping[str, Any]) -> list[str]:
    """The CRD's ``x-kubernetes-validations`` rules (except transition rules) that ``obj`` breaks."""
    assert has_crd_schema(obj["apiVersion"], obj["kind"])
    bad = []
    for path, rule, message, value in _rules(crd_schema(obj["apiVersion"], obj["kind"]), obj, obj["kind"]):
        if not bool(cel_eval(rule, {"self": value})):
            bad.append(f"{path}: {message or rule}")
    return bad


def cel_rule_count(obj: Mapping[str, Any]) -> int:
    return sum(1 for _ in _rules(crd_schema(obj["apiVersion"], obj["kind"]), obj, obj["kind"]))


def plain(value: Any) -> Any:
    """A cel-python value as plain Python (to bind it again in another activation)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or type(value).__name__ == "BoolType":  # celpy's BoolType is an int
        return bool(value)
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def evaluate_policy(spec: Mapping[str, Any], obj: Mapping[str, Any], namespace: Mapping[str, Any],
                    params: Mapping[str, Any] | None = None) -> list[str] | None:
    """What one ValidatingAdmissionPolicy ``spec`` says to ``obj``, in the API server's order:
    None when a match condition is false (the policy does not apply), else the messages of
    the failed validations. Match conditions are evaluated first, without ``variables``
    (the API server compiles them without); then the variables, in order; then the
    validations."""
    base: dict[str, Any] = {"object": obj, "oldObject": None, "namespaceObject": namespace}
    if spec.get("paramKind"):
        base["params"] = params
    for cond in spec.get("matchConditions") or ():
        if not bool(cel_eval(cond["expression"], base)):
            return None
    variables: dict[str, Any] = {}
    for var in spec.get("variables") or ():
        variables[var["name"]] = plain(cel_eval(var["expression"], {**base, "variables": variables}))
    activation = {**base, "variables": variables} if spec.get("variables") else base
    failed = []
    for check in spec["validations"]:
        if not bool(cel_eval(check["expression"], activation)):
            failed.append(check.get("message") or str(cel_eval(check["messageExpression"], activation)))
    return failed
