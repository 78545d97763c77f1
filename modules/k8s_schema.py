"""Checks against the upstream's own schemas: chart default values and CRD schemas.

- :func:`unknown_value_keys`: value paths a chart does not have (a silent bug in Helm).
- :func:`validate_custom_resource`: a custom resource against its pinned CRD
  ``openAPIV3Schema`` (OpenAPI 3.0 semantics: ``nullable``, int-or-string).
- :func:`validate_builtin`: a built-in kind with ``kubernetes-validate`` (strict).
- :func:`manifest`: the Kubernetes object a recorded ``kubernetes:*`` resource sends.

CEL rules (``x-kubernetes-validations``) are not evaluated by these validators; the few
that matter are checked where the objects are built.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Iterator, Mapping

from .catalog import DATA_DIR

REFERENCE = DATA_DIR / "reference"


@cache
def chart_defaults(values_file: str) -> dict[str, Any]:
    doc = json.loads((REFERENCE / "helm-values" / values_file).read_text())
    return doc["defaults"]


def unknown_value_keys(values: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Paths in ``values`` that the chart's defaults do not have.

    A key is known when the defaults have it. Below a default that is an empty mapping,
    a list or null (free-form: nodeSelector, tolerations, extraArgs, resources), anything
    goes; below a non-empty mapping, keys are checked recursively.
    """
    unknown: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key not in defaults:
            unknown.append(path)
            continue
        default = defaults[key]
        if isinstance(value, Mapping) and isinstance(default, Mapping) and default:
            unknown.extend(unknown_value_keys(value, default, f"{path}."))
    return unknown


@cache
def _crd_index() -> dict[tuple[str, str], Path]:
    index = {}
    for path in (REFERENCE / "crds").glob("*/*.json"):
        doc = json.loads(path.read_text())
        index[(f"{doc['group']}/{doc['version']}", doc["kind"])] = path
    return index


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    path = _crd_index().get((api_version, kind))
    if path is None:
        raise KeyError(f"no pinned CRD schema for {api_version} {kind}")
    return json.loads(path.read_text())["openAPIV3Schema"]


def has_crd_schema(api_version: str, kind: str) -> bool:
    return (api_version, kind) in _crd_index()


def validate_custom_resource(obj: Mapping[str, Any]) -> list[str]:
    """Schema errors of a custom resource (empty when valid)."""
    from openapi_schema_validator import OAS30Validator

    schema = crd_schema(obj["apiVersion"], obj["kind"])
    validator = OAS30Validator(schema)
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(dict(obj)), key=lambda e: list(map(str, e.absolute_path)))]


def validate_builtin(obj: Mapping[str, Any], k8s_version: str) -> list[str]:
    """Schema errors of a built-in kind, strict (unknown fields are errors)."""
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

    try:
        kubernetes_validate.validate(dict(obj), k8s_version, strict=True)
    except ValidationError as exc:
        return [str(exc.message if hasattr(exc, "message") else exc)]
    except SchemaNotFoundError as exc:
        return [f"no schema: {exc}"]
    return []


def manifest(resource_type: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object a ``kubernetes:<group>/<version>:<Kind>`` resource sends to the API
    server (None for Helm releases, providers and other non-object types)."""
    if not resource_type.startswith("kubernetes:") or resource_type.startswith(("kubernetes:helm.sh", "pulumi:")):
        return None
    obj = {k: v for k, v in inputs.items() if v is not None}
    group_version, kind = resource_type.split(":", 1)[1].rsplit(":", 1)
    group, version = group_version.rsplit("/", 1)
    obj.setdefault("apiVersion", version if group == "core" else f"{group}/{version}")
    obj.setdefault("kind", kind)
    return obj


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, leaf) of a nested mapping."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    else:
        yield path, value
