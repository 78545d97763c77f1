"""Render every Helm release of a plan from its real chart, then check what it would install.

The plan's ``kubernetes:helm.sh/v3:Release`` resources name a chart, a version, values, a
release name and a namespace. Each is rendered in-process from the pinned chart archive in
``modules/data/reference/charts/`` (copied from ``shared/reference/charts``; see its
README) with Helm's own Go engine, through the optional ``helm-python-sdk`` package
(``pip install -e '.[render]'``; imported lazily, so ``gpufleet plan`` never needs it).

Sources, followed exactly:

- rendering: ``helm_python.Chart.render(values, name=, namespace=, is_install=True)``,
  Kubernetes v1.36 capabilities, ``lookup`` returns nothing (README of the archives);
- splitting a template's text: Helm's separator regex ``(?:^|\\s*\\n)---\\s*`` on the text
  and each document with leading blanks trimmed (``pkg/release/v1/util/manifest.go``, ``SplitManifests``);
  ``NOTES.txt`` is not a manifest. Documents are parsed by Helm's own YAML-to-JSON (the
  Kubernetes client's: YAML 1.1, so an unquoted ``n``/``on`` is a boolean);
- subcharts: a ``Chart.yaml`` dependency is enabled unless a ``tags.<tag>`` is false (and none
  true) or its ``condition`` (comma-separated paths, the first that holds a boolean wins)
  says false, evaluated on the coalesced values (``pkg/chart/v2/util/dependencies.go``,
  ``processDependencyTags`` / ``processDependencyConditions``). A missing enabled subchart
  renders silently, so it is checked here;
- ``values.schema.json``: the coalesced values against the chart's schema and each
  subchart's schema against its own subtree, as ``ValidateAgainstSchema`` does;
- built-in objects: ``kubernetes-validate`` (strict) at the plan's ``cluster.version`` (1.37.0
  knows Kubernetes 1.25 to 1.37; another version raises ``VersionNotSupportedError``). Its
  schema lookup is the library's own (``kubernetes_validate.utils``), with the compiled
  validator cached per kind: the library re-reads 1.5 MB of definitions on every call;
- custom resources: the pinned CRD schemas (``modules.k8s_schema.validate_custom_resource``);
  a kind only a chart of the plan ships a CRD for is checked against that chart's CRD.

Outputs the engine cannot know offline (``"<computed>"``) are sent to Helm as the string
:data:`PLACEHOLDER`, a valid DNS label and label value, so templates that quote, name or
label with them render as they would with the real value.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from gpufleet.modules.catalog import DATA_DIR
from gpufleet.modules.k8s_schema import has_crd_schema, validate_custom_resource

from .engine import UNKNOWN

if TYPE_CHECKING:
    from .plan import Plan

CHARTS_DIR = DATA_DIR / "reference" / "charts"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
#: what the engine's unknown placeholder becomes in the values Helm sees
PLACEHOLDER = "computed-placeholder"
#: Helm's manifest separator (``pkg/release/v1/util/manifest.go``)
SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")
#: API groups the API server itself serves (everything else needs a CRD or an APIService)
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "autoscaling", "policy", "admissionregistration.k8s.io", "apiextensions.k8s.io",
    "apiregistration.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "certificates.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io", "node.k8s.io", "rbac.authorization.k8s.io", "resource.k8s.io",
    "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io", "internal.apiserver.k8s.io",
})


class ChartArchiveMissing(FileNotFoundError):
    """No pinned archive for a chart the plan installs."""


@dataclass(frozen=True)
class Manifest:
    #: file in the chart: ``kueue/templates/...``, ``gpu-operator/crds/...``
    source: str
    obj: dict[str, Any]

    kind = property(lambda self: self.obj.get("kind", ""))
    name = property(lambda self: (self.obj.get("metadata") or {}).get("name", ""))

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name} ({self.source})"


@dataclass(frozen=True)
class RenderedRelease:
    #: the plan's logical resource name (``kueue-release``)
    resource: str
    #: Helm release name, namespace, chart name and version
    name: str
    namespace: str
    chart: str
    version: str
    archive: Path
    #: the values sent to Helm (placeholders substituted)
    values: dict[str, Any]
    #: template output, parsed, empty documents dropped
    manifests: tuple[Manifest, ...]
    #: the chart's (and its subcharts') ``crds/`` objects; Helm installs them unless skipCrds
    crds: tuple[Manifest, ...]
    skip_crds: bool
    #: Helm's error when the chart does not render (then ``manifests`` is empty)
    error: str | None
    schema_errors: tuple[str, ...]
    missing_subcharts: tuple[str, ...]
    seconds: float

    @property
    def installed(self) -> tuple[Manifest, ...]:
        """Every object the release would create: crds/ first, as Helm installs them."""
        return self.manifests if self.skip_crds else self.crds + self.manifests

    def find(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        return [m.obj for m in self.installed if m.kind == kind and (name is None or m.name == name)]


def archive_for(chart: str, version: str, charts_dir: Path = CHARTS_DIR) -> Path:
    """The pinned archive of a chart reference (``oci://ghcr.io/kserve/charts/kserve-resources``
    at ``v0.20.0`` is ``kserve-resources-v0.20.0.tgz``)."""
    path = charts_dir / f"{chart.rsplit('/', 1)[-1]}-{version}.tgz"
    if not path.is_file():
        raise ChartArchiveMissing(f"no chart archive {path.name} in {charts_dir} for {chart} {version}")
    return path


def substitute_unknowns(value: Any) -> Any:
    """``value`` with every ``"<computed>"`` (whole or inside a string) as :data:`PLACEHOLDER`."""
    if isinstance(value, Mapping):
        return {k: substitute_unknowns(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [substitute_unknowns(v) for v in value]
    if isinstance(value, str) and UNKNOWN in value:
        return value.replace(UNKNOWN, PLACEHOLDER)
    return value


def split_manifests(files: Mapping[str, str]) -> list[Manifest]:
    """Parsed documents of ``{path: text}`` (sorted by path), NOTES.txt and empty documents dropped."""
    out = []
    for path in sorted(files):
        if path.endswith("NOTES.txt"):
            continue
        for doc in SEPARATOR.split(files[path].lstrip()):
            if not doc.strip():
                continue
            obj = _parse(doc.lstrip())
            if obj:
                out.append(Manifest(path, obj))
    return out


def render_plan(plan: "Plan", charts_dir: Path = CHARTS_DIR) -> list[RenderedRelease]:
    """Every Helm release of ``plan``, rendered from its archive (each once per process)."""
    return [render_release(i["chart"], i["version"], i.get("values") or {}, i.get("name") or res.name,
                           i.get("namespace") or "default", resource=res.name, skip_crds=bool(i.get("skipCrds")),
                           charts_dir=charts_dir)
            for res in plan.by_type(RELEASE_TYPE) for i in [res.inputs]]


def render_release(chart: str, version: str, values: Mapping[str, Any], name: str, namespace: str, *,
                   resource: str | None = None, skip_crds: bool = False,
                   charts_dir: Path = CHARTS_DIR) -> RenderedRelease:
    """One release (``chart`` as :mod:`modules.charts` names it), rendered once per process."""
    values = substitute_unknowns(values)
    archive = archive_for(chart, version, charts_dir)
    rendered = _render(str(archive), json.dumps(values, sort_keys=True), name, namespace)
    return RenderedRelease(resource=resource or name, name=name, namespace=namespace, chart=chart.rsplit("/", 1)[-1],
                           version=version, archive=archive, values=values, skip_crds=skip_crds, **rendered)


@cache
def _parse(doc: str) -> dict[str, Any]:
    """One YAML document as JSON, by Helm's own parser (sigs.k8s.io/yaml: YAML to JSON, as the
    Kubernetes client sends it; 3-4x faster than PyYAML's C loader on multi-MB CRDs). Cached
    by text, so a CRD that renders identically for several releases is parsed once: treat
    the result as read-only."""
    import helm_python as hp

    return hp.values_from_yaml(doc)


@cache
def _render(archive: str, values_json: str, name: str, namespace: str) -> dict[str, Any]:
    try:
        import helm_python as hp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("rendering charts needs the optional extra: pip install -e '.[render]'") from exc
    values = json.loads(values_json)
    start = time.perf_counter()
    error = None
    files: dict[str, str] = {}
    with hp.Chart.load(archive) as chart:
        merged = chart.merge_values(values)
        meta = chart.metadata
        loaded = {d["name"]: d.get("version", "") for d in chart.dependencies}
        try:
            files = chart.render(values, name=name, namespace=namespace, is_install=True)
        except hp.HelmError as exc:  # a template ``fail``, a schema violation, bad YAML
            error = f"{type(exc).__name__}: {exc}"
        crd_files = {c["filename"]: c["data"] for c in chart.crds}
    # like Helm, a disabled subchart's crds/ are not installed
    disabled = {d.get("alias") or d["name"] for d in meta.get("dependencies") or ()
                if not dependency_enabled(d, merged)}
    crd_files = {f: t for f, t in crd_files.items()
                 if not (f.split("/")[1:2] == ["charts"] and f.split("/")[2] in disabled)}
    manifests: list[Manifest] = []
    crds: list[Manifest] = []
    try:
        manifests, crds = split_manifests(files), split_manifests(crd_files)
    except hp.HelmError as exc:  # a document that is not YAML: Helm's install fails on it too
        error = error or f"{type(exc).__name__}: {exc}"
    # a subchart's values are under its alias; a disabled one's schema is not checked
    alias = {d["name"]: d.get("alias") or d["name"] for d in meta.get("dependencies") or ()}
    schemas = {(alias.get(p[0], p[0]), *p[1:]) if p else p: s for p, s in values_schemas(archive).items()}
    schemas = {p: s for p, s in schemas.items() if not (p and p[0] in disabled)}
    return dict(manifests=tuple(manifests), crds=tuple(crds), error=error,
                schema_errors=tuple(schema_errors(merged, schemas)),
                missing_subcharts=tuple(missing_subcharts(meta, loaded, merged)),
                seconds=time.perf_counter() - start)


@cache
def values_schemas(archive: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """``values.schema.json`` of the chart (key ``()``) and of each vendored subchart (key: the
    path of chart names below the top one), read straight from the archive."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}

    def scan(tar: tarfile.TarFile, base: tuple[str, ...]) -> None:
        for member in tar.getmembers():
            parts = member.name.split("/")[1:]  # below the top-level folder
            if not parts:
                continue
            if parts[-1] == "values.schema.json" and len(parts) % 2 == 1 and all(
                    p == "charts" for p in parts[:-1:2]):
                out[base + tuple(parts[1:-1:2])] = json.load(tar.extractfile(member))
            elif member.name.endswith(".tgz") and len(parts) == 2 and parts[0] == "charts":
                with tarfile.open(fileobj=io.BytesIO(tar.extractfile(member).read())) as sub:
                    top = sub.getnames()[0].split("/")[0]
                    scan(sub, base + (top,))

    with tarfile.open(archive) as tar:
        scan(tar, ())
    return out


def schema_errors(merged: Mapping[str, Any], schemas: Mapping[tuple[str, ...], Mapping[str, Any]]) -> list[str]:
    """Errors of the coalesced values against each ``values.schema.json`` (a subchart's schema
    against the values under its name), ``<chart path>: <value path>: <message>``."""
    import jsonschema

    errors = []
    for path, schema in sorted(schemas.items()):
        node: Any = merged
        for part in path:
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        for err in sorted(cls(schema).iter_errors(node), key=lambda e: list(map(str, e.absolute_path))):
            where = ".".join(str(p) for p in err.absolute_path) or "(root)"
            errors.append(f"{'/'.join(path) or 'values'}: {where}: {err.message}")
    return errors


def _path_value(values: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def dependency_enabled(dep: Mapping[str, Any], merged: Mapping[str, Any]) -> bool:
    """Helm's rule: tags first (any true enables, else any false disables), then the first
    condition path that holds a boolean."""
    tags = merged.get("tags") if isinstance(merged.get("tags"), Mapping) else {}
    tag_values = [tags[t] for t in dep.get("tags") or () if isinstance(tags.get(t), bool)]
    enabled = any(tag_values) or not tag_values
    for cond in (dep.get("condition") or "").strip().split(","):
        found, value = _path_value(merged, cond) if cond else (False, None)
        if found and isinstance(value, bool):
            return value
    return enabled


def missing_subcharts(meta: Mapping[str, Any], loaded: Mapping[str, str], merged: Mapping[str, Any]) -> list[str]:
    """Enabled ``Chart.yaml`` dependencies with no subchart (of that version) under ``charts/``."""
    missing = []
    for dep in meta.get("dependencies") or ():
        if not dependency_enabled(dep, merged):
            continue
        want = str(dep.get("version", ""))
        have = loaded.get(dep["name"])
        if have is None:
            missing.append(f"{dep.get('alias') or dep['name']} {want} (condition {dep.get('condition') or '-'}): "
                           f"not under charts/")
        elif re.fullmatch(r"v?\d+\.\d+\.\d+", want) and have.lstrip("v") != want.lstrip("v"):
            missing.append(f"{dep['name']} {want}: charts/ has {have}")
    return missing


# --- validation of the rendered objects ------------------------------------------------------


def group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def is_builtin(obj: Mapping[str, Any]) -> bool:
    return group_of(obj.get("apiVersion", "")) in BUILTIN_GROUPS


@cache
def _builtin_validator(version: str, api_version: str, kind: str) -> Any:
    """The validator ``kubernetes_validate.validate(obj, version, strict=True)`` builds, built once."""
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    supported = sorted({utils.major_minor(v) for v in utils.all_versions()})
    wanted = utils.major_minor(version.lstrip("v"))
    if not supported[0] <= wanted <= supported[-1]:
        raise utils.VersionNotSupportedError(version=wanted)
    schema_version = [v for v in utils.all_versions() if utils.major_minor(v) <= wanted][-1]
    schema_dir = f"v{schema_version}-local-strict"
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{api}.json", version)
    except FileNotFoundError:
        return None
    registry = Resource.from_contents(schema) @ (_definitions(schema_dir, version) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@cache
def _definitions(schema_dir: str, version: str) -> Any:
    from kubernetes_validate import utils
    from referencing import Resource

    return Resource.from_contents(utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json",
                                                        version))


def builtin_errors(obj: Mapping[str, Any], version: str) -> list[str]:
    """Strict ``kubernetes-validate`` errors of a built-in object at ``version`` (``1.35``)."""
    validator = _builtin_validator(version, obj.get("apiVersion", ""), obj.get("kind", ""))
    if validator is None:
        return [f"no schema for {obj.get('apiVersion')} {obj.get('kind')} in Kubernetes {version}"]
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in validator.iter_errors(dict(obj))]


def chart_crds(releases: Iterable[RenderedRelease]) -> dict[tuple[str, str], dict[str, Any]]:
    """``(group/version, kind) -> openAPIV3Schema`` of every CRD the releases install."""
    out = {}
    for rel in releases:
        for m in rel.installed:
            if m.kind != "CustomResourceDefinition" or group_of(m.obj.get("apiVersion", "")) != "apiextensions.k8s.io":
                continue
            spec = m.obj.get("spec") or {}
            for ver in spec.get("versions") or ():
                schema = (ver.get("schema") or {}).get("openAPIV3Schema")
                if schema:
                    out[(f"{spec['group']}/{ver['name']}", spec["names"]["kind"])] = schema
    return out


def custom_resource_errors(obj: Mapping[str, Any], crds: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[str]:
    """Errors of a custom resource against the pinned CRD, else against a chart's own CRD."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    if has_crd_schema(*key):
        return validate_custom_resource(obj)
    if key in crds:
        from openapi_schema_validator import OAS30Validator

        errs = OAS30Validator(crds[key]).iter_errors(dict(obj))
        return [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errs]
    return [f"no CRD for {key[0]} {key[1]}: neither pinned in modules/data/reference/crds nor shipped by a chart "
            f"of this plan"]


def validate_releases(releases: list[RenderedRelease], version: str) -> dict[str, list[str]]:
    """``{release resource: [error, ...]}`` for every object every release installs: built-in
    kinds strictly at ``version``, custom resources against their CRD. CRDs shipped by the
    charts are checked as built-in objects, not against themselves."""
    crds = chart_crds(releases)
    out: dict[str, list[str]] = {}
    for rel in releases:
        errors = []
        for m in rel.installed:
            errs = builtin_errors(m.obj, version) if is_builtin(m.obj) else custom_resource_errors(m.obj, crds)
            errors.extend(f"{m.label}: {e}" for e in errs)
        out[rel.resource] = errors
    return out
