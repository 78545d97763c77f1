"""The chart renderer's own rules (``gpufleet/chart_render.py``, issue #10, section 1): every
pinned chart vendored, Helm's manifest splitting and subchart conditions, the cached built-in
validator, values schemas and missing subcharts reported, and ``gpufleet plan`` without it."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet import chart_render as cr
from gpufleet.engine import UNKNOWN
from gpufleet.modules.charts import CHARTS

from .helpers import ROOT

SHARED_CHARTS = ROOT.parent / "shared" / "reference" / "charts"


def test_every_pinned_chart_has_its_archive_vendored():
    for ref in CHARTS.values():
        assert cr.archive_for(ref.chart, ref.version).is_file()
    assert cr.archive_for("oci://ghcr.io/kserve/charts/kserve-resources", "v0.20.0").name == \
        "kserve-resources-v0.20.0.tgz"
    with pytest.raises(cr.ChartArchiveMissing, match="kueue-9.9.9.tgz"):
        cr.archive_for("oci://registry.k8s.io/kueue/charts/kueue", "9.9.9")


@pytest.mark.skipif(not SHARED_CHARTS.is_dir(), reason="no ../shared/reference/charts beside the clone")
def test_vendored_archives_match_the_shared_reference():
    shared = {p.name: p.read_bytes() for p in SHARED_CHARTS.glob("*.tgz")}
    vendored = {p.name: p.read_bytes() for p in cr.CHARTS_DIR.glob("*.tgz")}
    assert vendored == shared


def test_helm_separator_splits_like_helm():
    text = ("  \n ---\n# Source: a.yaml\napiVersion: v1\nkind: A\n--- # trailing\nkind: B\n  \n---\n\n---\n"
            "kind: C\n---kind: D\n---")
    docs = cr.split_manifests({"t/templates/a.yaml": text, "t/templates/NOTES.txt": "kind: Ignored"})
    assert [d.obj["kind"] for d in docs] == ["A", "B", "C", "D"]  # ``---kind`` splits too, as in Helm
    assert all(d.source == "t/templates/a.yaml" for d in docs)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                                st.one_of(st.integers(-2**53, 2**53), st.booleans(),
                                          st.text(st.characters(blacklist_categories=("Cs", "Cc", "Co", "Cn"))
                                                  | st.sampled_from("-\n :#"), max_size=20)),
                                min_size=1, max_size=4), max_size=5))
def test_split_manifests_recovers_every_document(docs):
    # JSON is YAML without YAML 1.1's surprises (Helm's parser, like the Kubernetes client's,
    # reads an unquoted ``n`` or ``on`` as a boolean); integers within float64 precision, as Helm's
    # values parser goes through JSON
    text = "\n".join(f"---\n{json.dumps(d, indent=1, ensure_ascii=False)}" for d in docs)
    assert [m.obj for m in cr.split_manifests({"x.yaml": text})] == docs


@given(st.recursive(st.one_of(st.sampled_from([UNKNOWN, f"arn:{UNKNOWN}", "x"]), st.integers(), st.none()),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                    max_leaves=12))
def test_unknowns_become_a_plain_placeholder(values):
    out = cr.substitute_unknowns(values)
    assert UNKNOWN not in json.dumps(out)
    assert json.dumps(out).count(cr.PLACEHOLDER) == json.dumps(values).count(UNKNOWN)


def test_dependency_conditions_follow_helm():
    dep = {"name": "lws", "version": "0.8.0", "condition": "dataCache.enabled,dataCache.lws.install", "tags": ["cache"]}
    assert cr.dependency_enabled(dep, {}) is True  # no path resolves: enabled
    assert cr.dependency_enabled(dep, {"dataCache": {"enabled": False, "lws": {"install": True}}}) is False
    assert cr.dependency_enabled(dep, {"dataCache": {"enabled": "yes", "lws": {"install": False}}}) is False
    assert cr.dependency_enabled(dep, {"tags": {"cache": False}}) is False
    assert cr.dependency_enabled(dep, {"tags": {"cache": False}, "dataCache": {"enabled": True}}) is True
    meta = {"dependencies": [dep, {"name": "jobset", "version": "0.12.0", "condition": "jobset.install"}]}
    assert cr.missing_subcharts(meta, {"jobset": "0.12.0"}, {"dataCache": {"enabled": False}}) == []
    assert cr.missing_subcharts(meta, {"jobset": "0.11.0"}, {"dataCache": {"enabled": True}}) == [
        "lws 0.8.0 (condition dataCache.enabled,dataCache.lws.install): not under charts/",
        "jobset 0.12.0: charts/ has 0.11.0"]


@pytest.mark.parametrize("obj", [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}, "data": {"a": "b"}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
     "spec": {"selector": {}, "template": {}, "bogus": 1}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": "http"}]}},
])
def test_cached_builtin_validator_agrees_with_kubernetes_validate(obj):
    try:
        kubernetes_validate.validate(obj, "1.35", strict=True)
        expected = True
    except kubernetes_validate.ValidationError:
        expected = False
    assert (cr.builtin_errors(obj, "1.35") == []) is expected


def test_an_unsupported_cluster_version_is_refused():
    with pytest.raises(kubernetes_validate.utils.VersionNotSupportedError):
        cr.builtin_errors({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, "1.99")


def test_a_custom_resource_without_any_crd_is_an_error():
    obj = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"}}
    assert not cr.is_builtin(obj)
    assert cr.custom_resource_errors(obj, {}) == [
        "no CRD for monitoring.coreos.com/v1 ServiceMonitor: neither pinned in modules/data/reference/crds "
        "nor shipped by a chart of this plan"]


def test_plan_and_the_cli_do_not_import_the_renderer():
    """``gpufleet plan`` runs without the optional ``render`` extra."""
    import subprocess
    import sys

    code = ("import importlib, pkgutil, sys\n"
            "import gpufleet.cli, gpufleet.commands, gpufleet.plan, gpufleet.reports\n"
            "for pkg in (gpufleet.commands, gpufleet.reports):\n"
            "    for m in pkgutil.iter_modules(pkg.__path__):\n"
            "        importlib.import_module(f'{pkg.__name__}.{m.name}')\n"
            "assert 'helm_python' not in sys.modules and 'gpufleet.chart_render' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_a_value_the_schema_refuses_is_reported_and_helm_refuses_it_too():
    ref = CHARTS["cert-manager"]
    rel = cr.render_release(ref.chart, ref.version, {"replicaCount": "two"}, "cert-manager", "cert-manager")
    assert rel.schema_errors == ("values: replicaCount: 'two' is not of type 'number'",)
    assert rel.error and "got string, want number" in rel.error and not rel.manifests


def test_an_enabled_subchart_missing_from_charts_renders_silently_but_is_reported():
    ref = CHARTS["kubeflow-trainer"]
    rel = cr.render_release(ref.chart, ref.version, {"dataCache": {"enabled": True}}, "t", "kubeflow-system")
    assert rel.error is None and rel.manifests  # Helm says nothing
    assert rel.missing_subcharts == (
        "lws 0.8.0 (condition dataCache.enabled,dataCache.lws.install): not under charts/",)
