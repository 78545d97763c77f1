"""Checks against the upstream's own schemas: chart default values and CRD schemas.

- :func:`unknown_value_keys`: value paths a chart does not have (a silent bug in Helm).
- :func:`validate_custom_resource`: a custom resource against its pinned CRD
  ``openAPIV3Schema`` (OpenAPI 3.0 semantics: ``nullable``, int-or-string), strictly:
  a field the API server would prune (:func:`pruned_fields`) is an error.
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
    """Schema errors of a custom resource (empty when valid), strict.

    Besides the OpenAPI checks (types, formats, enums, required, ``nullable``,
    ``x-kubernetes-int-or-string``), every field the API server would prune is an error
    (:func:`pruned_fields`): the API server drops unknown fields of a custom resource
    silently, so a typo'd field is a setting that never arrives.
    """
    key = (obj["apiVersion"], obj["kind"])
    return _schema_errors(obj, crd_schema(*key), _crd_oas30(*key))


def validate_against_schema(obj: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """:func:`validate_custom_resource` against a given ``openAPIV3Schema`` (the object is
    a resource root: ``apiVersion``, ``kind`` and ``metadata`` are the API server's)."""
    return _schema_errors(obj, schema, _oas30(schema))


@cache
def _crd_oas30(api_version: str, kind: str) -> dict[str, Any]:
    return _oas30(crd_schema(api_version, kind))


def _schema_errors(obj: Mapping[str, Any], schema: Mapping[str, Any], oas30: Mapping[str, Any]) -> list[str]:
    from openapi_schema_validator import OAS30Validator

    validator = OAS30Validator(oas30)
    errors = [(tuple(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(dict(obj))]
    errors += _strict_errors(obj, schema)
    return [f"{'.'.join(path) or '(root)'}: {message}" for path, message in sorted(errors)]


#: ``metav1.ObjectMeta`` fields (JSON names). The API server drops any other key of a
#: resource's ``metadata``, at the root and in ``x-kubernetes-embedded-resource`` objects.
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
})
_TYPE_AND_OBJECT_META = ("apiVersion", "kind", "metadata")
PRUNED = "unknown field: not in the CRD schema, the API server would drop it silently"


def pruned_fields(obj: Any, schema: Mapping[str, Any] | None) -> list[tuple[str, ...]]:
    """Paths of the fields of a resource root ``obj`` that the API server prunes.

    The decision is the one of the API server's structural pruning (kubernetes
    ``staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning/algorithm.go``):

    - a key of an object is known when the schema's ``properties`` has it; otherwise the
      value is kept when the schema has ``additionalProperties`` (a map: a schema is
      applied to the value; ``true`` keeps it as is), and pruned otherwise;
    - below ``x-kubernetes-preserve-unknown-fields: true`` unknown keys are kept (with
      their whole subtree), known ones are checked against their own schema again;
    - at the root and in ``x-kubernetes-embedded-resource`` objects, ``apiVersion``,
      ``kind`` and ``metadata`` are the API server's (metadata keys: :data:`OBJECT_META_FIELDS`).
    """
    out: list[tuple[str, ...]] = []
    _prune(obj, {**schema, "x-kubernetes-embedded-resource": True} if schema is not None else
           {"x-kubernetes-embedded-resource": True}, (), out)
    return out


def _prune(x: Any, s: Mapping[str, Any] | None, path: tuple[str, ...], out: list[tuple[str, ...]]) -> None:
    if s is not None and s.get("x-kubernetes-preserve-unknown-fields"):
        _skip_prune(x, s, path, out)
        return
    if isinstance(x, Mapping):
        if s is None:  # below a schema-less list or map value: every key goes
            out.extend(path + (str(k),) for k in x)
            return
        embedded = bool(s.get("x-kubernetes-embedded-resource"))
        props = s.get("properties") or {}
        for k, v in x.items():
            if embedded and k in _TYPE_AND_OBJECT_META:
                if k == "metadata" and isinstance(v, Mapping):
                    out.extend(path + (k, str(m)) for m in v if m not in OBJECT_META_FIELDS)
                continue
            if k in props:
                _prune(v, props[k], path + (str(k),), out)
            elif "additionalProperties" in s and s["additionalProperties"] is not False:
                extra = s["additionalProperties"]
                if isinstance(extra, Mapping):
                    _prune(v, extra, path + (str(k),), out)
            else:
                out.append(path + (str(k),))
    elif isinstance(x, list):
        items = s.get("items") if s is not None else None
        for i, v in enumerate(x):
            _prune(v, items if isinstance(items, Mapping) else None, path + (str(i),), out)


def _skip_prune(x: Any, s: Mapping[str, Any] | None, path: tuple[str, ...], out: list[tuple[str, ...]]) -> None:
    if s is None:
        return
    if isinstance(x, Mapping):
        embedded = bool(s.get("x-kubernetes-embedded-resource"))
        props = s.get("properties") or {}
        for k, v in x.items():
            if embedded and k in _TYPE_AND_OBJECT_META:
                continue
            if k in props:
                _prune(v, props[k], path + (str(k),), out)
            elif isinstance(s.get("additionalProperties"), Mapping):
                _prune(v, s["additionalProperties"], path + (str(k),), out)
    elif isinstance(x, list):
        items = s.get("items")
        for i, v in enumerate(x):
            _skip_prune(v, items if isinstance(items, Mapping) else None, path + (str(i),), out)


def _embedded_errors(x: Any, s: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """``x-kubernetes-embedded-resource`` objects need ``apiVersion`` and ``kind`` (kubernetes
    ``apiextensions-apiserver/pkg/apiserver/schema/objectmeta/validation.go``)."""
    if s.get("x-kubernetes-embedded-resource") and isinstance(x, Mapping):
        for key in ("apiVersion", "kind"):
            if not x.get(key):
                yield path + (key,), "required: an embedded resource needs apiVersion and kind"
    if isinstance(x, Mapping):
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        for k, v in x.items():
            sub = props.get(k, extra if isinstance(extra, Mapping) else None)
            if isinstance(sub, Mapping):
                yield from _embedded_errors(v, sub, path + (str(k),))
    elif isinstance(x, list) and isinstance(s.get("items"), Mapping):
        for i, v in enumerate(x):
            yield from _embedded_errors(v, s["items"], path + (str(i),))


def _strict_errors(obj: Mapping[str, Any], schema: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    errors = [(path, PRUNED) for path in pruned_fields(obj, schema)]
    return errors + list(_embedded_errors(obj, schema, ()))


def _oas30(schema: Any) -> Any:
    """The schema as OpenAPI 3.0 says what the API server checks: ``x-kubernetes-int-or-string``
    is an integer or a string (whatever ``type`` says)."""
    if isinstance(schema, list):
        return [_oas30(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: _oas30(v) for k, v in schema.items()}
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return out


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
