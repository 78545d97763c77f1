"""Every Helm release of every fixture stack, rendered from its real chart (issue #10, section 1).

The chart-defaults check (``HelmAddon``) proves each value key exists; this proves what the
values do: each release is rendered by Helm's own engine from the pinned archive
(``modules/data/reference/charts``) with exactly the values, name and namespace the plan
sends, and what it would install is checked: built-in objects strictly against the
cluster's Kubernetes version, custom resources against their CRD, values against
``values.schema.json``, enabled subcharts vendored, no object owned twice, every image pinned.
"""
# ruff: noqa: F811  (the rendered fixture, imported from chart_render_support, is a test parameter)

from __future__ import annotations

import json
from pathlib import Path

from gpufleet import chart_render as cr

from .chart_render_support import rendered  # noqa: F401 (fixture)


def _failures(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{rel}: {err}" for rel, errs in found.items() for err in errs)


# --- every release of every shipped stack ----------------------------------------------------


def test_every_release_renders_from_its_pinned_archive(rendered):
    releases = rendered.plan.by_type(cr.RELEASE_TYPE)
    assert [r.resource for r in rendered.releases] == [r.name for r in releases]
    for rel in rendered.releases:
        assert rel.error is None, f"{rel.resource}: {rel.error}"
        assert rel.manifests, f"{rel.resource} renders nothing"
        # the release's workloads land in the namespace the plan gives it (Helm puts one that
        # names none there too)
        for m in rel.manifests:
            if m.kind in ("Deployment", "DaemonSet", "StatefulSet"):
                assert m.obj["metadata"].get("namespace", rel.namespace) == rel.namespace, (rel.resource, m.label)


def test_every_builtin_object_validates_strictly_at_the_cluster_version(rendered):
    errors: dict[str, list[str]] = {}
    checked = 0
    for rel in rendered.releases:
        for m in rel.installed:
            if cr.is_builtin(m.obj):
                checked += 1
                errors.setdefault(rel.resource, []).extend(
                    f"{m.label}: {e}" for e in cr.builtin_errors(m.obj, rendered.version))
    assert checked > 100  # workloads, RBAC, webhooks, the CRDs themselves
    assert not any(errors.values()), _failures(errors)


def test_every_custom_resource_validates_against_its_crd(rendered):
    crds = cr.chart_crds(rendered.releases)
    errors: dict[str, list[str]] = {}
    kinds = set()
    for rel in rendered.releases:
        for m in rel.installed:
            if not cr.is_builtin(m.obj):
                kinds.add(m.kind)
                errors.setdefault(rel.resource, []).extend(
                    f"{m.label}: {e}" for e in cr.custom_resource_errors(m.obj, crds))
    assert "ClusterPolicy" in kinds  # the GPU Operator's, against the pinned CRD
    assert not any(errors.values()), _failures(errors)


#: built-in kinds without a namespace (the rest of the built-ins the charts render are namespaced)
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "APIService",
                  "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "PriorityClass", "StorageClass",
                  "PersistentVolume", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "CSIDriver",
                  "RuntimeClass", "IngressClass"}


def test_no_object_is_owned_twice(rendered):
    """Two releases, or a release and the program, creating the same object: the second
    install fails (Helm refuses an object another owner manages)."""
    from gpufleet.modules.k8s_schema import REFERENCE, manifest

    cluster_kinds = set(CLUSTER_SCOPED)
    cluster_kinds |= {d["kind"] for d in map(json.loads, map(Path.read_text, (REFERENCE / "crds").glob("*/*.json")))
                      if d["scope"] == "Cluster"}
    cluster_kinds |= {o["spec"]["names"]["kind"] for o in rendered.objects("CustomResourceDefinition")
                      if o["spec"]["scope"] == "Cluster"}

    def key(obj, default_ns):
        ns = None if obj["kind"] in cluster_kinds else obj["metadata"].get("namespace") or default_ns
        return cr.group_of(obj["apiVersion"]), obj["kind"], ns, obj["metadata"]["name"]

    owners: dict[tuple, list[str]] = {}
    for rel in rendered.releases:
        for m in rel.installed:
            owners.setdefault(key(m.obj, rel.namespace), []).append(rel.resource)
    for res in rendered.plan.resources:
        obj = manifest(res.type, res.inputs)
        if obj and isinstance(obj.get("metadata"), dict) and obj["metadata"].get("name"):
            owners.setdefault(key(obj, "default"), []).append(f"program:{res.name}")
    twice = {k: v for k, v in owners.items() if len(v) > 1}
    assert not twice, twice


def test_values_pass_each_values_schema(rendered):
    with_schema = [r for r in rendered.releases if cr.values_schemas(str(r.archive))]
    assert {r.chart for r in with_schema} >= {"cert-manager", "gpu-operator"}  # gpu-operator: NFD's schema
    errors = {r.resource: list(r.schema_errors) for r in with_schema}
    assert not any(errors.values()), _failures(errors)


def test_enabled_subcharts_are_vendored_and_render(rendered):
    errors = {r.resource: list(r.missing_subcharts) for r in rendered.releases}
    assert not any(errors.values()), _failures(errors)
    sources = {m.source.split("/templates/")[0] for r in rendered.releases for m in r.manifests}
    assert "gpu-operator/charts/node-feature-discovery" in sources
    if rendered.plan.config.ml.training == "trainer":
        assert "kubeflow-trainer/charts/jobset" in sources


def _pod_specs(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        return []
    if obj.get("kind") == "Pod":
        return [spec]
    if obj.get("kind") == "CronJob":
        return [spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})]
    template = spec.get("template")
    return [template.get("spec", {})] if isinstance(template, dict) else []


def test_every_rendered_image_is_a_pinned_release(rendered):
    """No container of any release runs a moving tag (latest, main, master, none) or an image
    from a staging registry (the JobSet subchart's default did both)."""
    moving = {"", "latest", "main", "master", "nightly"}
    for release in rendered.releases:
        for manifest in release.manifests:
            for pod in _pod_specs(manifest.obj):
                for c in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
                    image = c.get("image", "")
                    tag = "digest" if "@" in image else image.rsplit("/", 1)[-1].partition(":")[2]
                    assert tag not in moving, (release.name, manifest.obj["kind"], image)
                    assert "k8s-staging" not in image, (release.name, manifest.obj["kind"], image)
