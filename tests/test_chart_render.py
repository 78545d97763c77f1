"""Every Helm release of every shipped stack, rendered from its real chart (issue #10, section 1).

The chart-defaults check (``HelmAddon``) proves each value key exists; this proves what the
values do: each release is rendered by Helm's own engine from the pinned archive
(``modules/data/reference/charts``) with exactly the values, name and namespace the plan
sends, and what it would install is checked: built-in objects strictly against the
cluster's Kubernetes version, custom resources against their CRD, values against
``values.schema.json``, enabled subcharts vendored. The intent tests read the rendered
objects (what the controllers will see), not the values we pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet import chart_render as cr
from gpufleet import plan as planner
from gpufleet.engine import UNKNOWN
from modules.charts import CHARTS
from modules.k8s_schema import has_crd_schema, validate_custom_resource

from .conftest import shipped_plan
from .helpers import ROOT, STACKS

SHARED_CHARTS = ROOT.parent / "shared" / "reference" / "charts"


@dataclass
class StackRender:
    stack: str
    plan: planner.Plan
    version: str
    releases: list[cr.RenderedRelease]

    def chart(self, name: str) -> cr.RenderedRelease | None:
        found = [r for r in self.releases if r.chart == name]
        return found[0] if found else None

    def objects(self, kind: str) -> list[dict]:
        return [o for r in self.releases for o in r.find(kind)]


_renders: dict[str, StackRender] = {}


def stack_render(stack: str) -> StackRender:
    if stack not in _renders:
        plan = shipped_plan(stack)
        _renders[stack] = StackRender(stack, plan, plan.config.cluster.version, cr.render_plan(plan))
    return _renders[stack]


@pytest.fixture(scope="session", params=STACKS)
def rendered(request) -> StackRender:
    """Each shipped stack's releases, rendered once per session (per xdist worker)."""
    return stack_render(request.param)


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
    from modules.k8s_schema import REFERENCE, manifest

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


# --- intent, read from the rendered objects ---------------------------------------------------


def test_gpu_operator_cluster_policy_uses_mixed_mig_and_the_platforms_device_plugin_config(rendered):
    gpu = rendered.chart("gpu-operator")
    [policy] = gpu.find("ClusterPolicy")
    spec = policy["spec"]
    assert spec["mig"]["strategy"] == "mixed"
    assert spec["migManager"]["enabled"] is True
    # the device plugin reads a ConfigMap the plan creates in the operator's namespace, and its
    # default key exists there
    config = spec["devicePlugin"]["config"]
    maps = {r.inputs["metadata"]["name"]: r.inputs for r in rendered.plan.by_type("kubernetes:core/v1:ConfigMap")
            if r.inputs["metadata"].get("namespace") == gpu.namespace}
    assert config["name"] in maps, sorted(maps)
    assert config["default"] in maps[config["name"]]["data"]
    # the AMI ships the driver and toolkit: the operator must not install its own
    assert spec["driver"]["enabled"] is False and spec["toolkit"]["enabled"] is False


def test_kueue_manager_config_enables_the_platforms_integrations_and_waits_for_pods(rendered):
    kueue = rendered.chart("kueue")
    [deployment] = kueue.find("Deployment", "kueue-controller-manager")
    mounted = {v["configMap"]["name"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "configMap" in v}
    [config_map] = [cm for cm in kueue.find("ConfigMap") if cm["metadata"]["name"] in mounted]
    config = yaml.safe_load(config_map["data"]["controller_manager_config.yaml"])
    ml = rendered.plan.config.ml
    wanted = {"batch/job", "pod", "deployment", "statefulset"}  # KServe predictors are Deployments
    wanted |= ({"trainer.kubeflow.org/trainjob", "jobset.x-k8s.io/jobset"} if ml.training == "trainer"
               else {"kubeflow.org/pytorchjob"})
    assert wanted <= set(config["integrations"]["frameworks"])
    # Kueue waits longer than the slowest pool at zero needs to bring a pod up (issue #10 finding 5)
    from modules import workload_rules

    timeout = int(config["waitForPodsReady"]["timeout"].removesuffix("m"))
    assert all(timeout > workload_rules.ready_minutes(p) for p in rendered.plan.config.pools.gpu)
    assert config["manageJobsWithoutQueueName"] is False


def test_kserve_runs_in_standard_mode(rendered):
    kserve = rendered.chart("kserve-resources")
    if not rendered.plan.config.ml.kserve:
        assert kserve is None
        return
    [config_map] = kserve.find("ConfigMap", "inferenceservice-config")
    assert json.loads(config_map["data"]["deploy"])["defaultDeploymentMode"] in ("Standard", "RawDeployment")


def test_trainer_installs_the_torch_distributed_runtime(rendered):
    if rendered.plan.config.ml.training != "trainer":
        pytest.skip("the v1 training operator has no ClusterTrainingRuntimes")
    trainer = rendered.chart("kubeflow-trainer")
    # the chart applies its runtimes from a ConfigMap with a post-install hook Job
    [job] = [j for j in trainer.find("Job")
             if "post-install" in j["metadata"].get("annotations", {}).get("helm.sh/hook", "")]
    [source] = [v["configMap"]["name"] for v in job["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    [config_map] = trainer.find("ConfigMap", source)
    runtimes = [m.obj for m in cr.split_manifests({"runtimes.yaml": config_map["data"]["runtimes.yaml"]})]
    [torch] = [r for r in runtimes
               if r["kind"] == "ClusterTrainingRuntime" and r["metadata"]["name"] == "torch-distributed"]
    assert has_crd_schema(torch["apiVersion"], "ClusterTrainingRuntime")
    assert validate_custom_resource(torch) == []


@pytest.mark.xfail(strict=True, reason="issue #10 finding 2/4: fixed next")
def test_cluster_serving_runtimes_exist_when_kserve_is_on(rendered):
    if not rendered.plan.config.ml.kserve:
        pytest.skip("KServe is off")
    runtimes = rendered.objects("ClusterServingRuntime")
    assert runtimes, "KServe 0.20's kserve-resources ships no runtimes (they are in kserve-runtime-configs)"
    crds = cr.chart_crds(rendered.releases)
    assert all(cr.custom_resource_errors(r, crds) == [] for r in runtimes)


@pytest.mark.xfail(strict=True, reason="issue #10 finding 2/4: fixed next")
def test_metrics_k8s_io_is_served_by_something(rendered):
    served = [a for a in rendered.objects("APIService") if a["spec"].get("group") == "metrics.k8s.io"]
    addons = [r for r in rendered.plan.by_type("aws:eks/addon:Addon") if r.inputs.get("addonName") == "metrics-server"]
    assert served or addons, "no APIService for metrics.k8s.io (HPA, kubectl top) and no metrics-server add-on"


# --- the module's own rules ---------------------------------------------------------------------


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
