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
from gpufleet.modules.charts import CHARTS
from gpufleet.modules.k8s_schema import manifest, validate_custom_resource

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
    from gpufleet.modules import workload_rules

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


def test_trainer_runtime_comes_from_the_platform_not_a_hook(rendered):
    """The chart's runtime installer (a hook Job pulling alpine and running apk add) is off;
    the plan declares torch-distributed itself (tests/test_trainer_runtimes.py checks its spec)."""
    if rendered.plan.config.ml.training != "trainer":
        pytest.skip("the v1 training operator has no ClusterTrainingRuntimes")
    trainer = rendered.chart("kubeflow-trainer")
    assert not [j for j in trainer.find("Job") if "helm.sh/hook" in j["metadata"].get("annotations", {})]
    declared = [r for r in rendered.plan.resources if r.type.endswith(":ClusterTrainingRuntime")]
    assert [r.inputs["metadata"]["name"] for r in declared] == ["torch-distributed"]
    assert validate_custom_resource(manifest(declared[0].type, declared[0].inputs)) == []


EXAMPLE_ISVC = ROOT / "examples" / "inferenceservice-mig.yaml"


def readme_inference_service() -> dict:
    """The InferenceService of the README's "Submit an inference service"."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Submit an inference service"):]
    return yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])


def inference_examples() -> list[tuple[str, dict]]:
    return [("examples/inferenceservice-mig.yaml", yaml.safe_load(EXAMPLE_ISVC.read_text())),
            ("README", readme_inference_service())]


def selected_runtimes(predictor: dict, runtimes: list[dict]) -> list[dict]:
    """The ClusterServingRuntimes KServe would pick for ``predictor.model``, best first: not
    disabled, single-model, multi-node only for a ``workerSpec``, the model format (and its
    version, when given) among the runtime's ``autoSelect`` formats (no ``runtime`` named),
    higher ``priority`` first (kserve ``getClusterServingRuntimes``, ``RuntimeSupportsModel``,
    ``sortSupportedRuntimeByPriority``)."""
    model = predictor["model"]
    fmt = model["modelFormat"]
    label = f"{fmt['name']}:{fmt['version']}" if fmt.get("version") else fmt["name"]
    out = []
    for rt in runtimes:
        spec = rt["spec"]
        if model.get("runtime") and rt["metadata"]["name"] != model["runtime"]:
            continue
        labels = set()
        for f in spec.get("supportedModelFormats") or ():
            if model.get("runtime") or f.get("autoSelect"):
                labels |= {f["name"], *([f"{f['name']}:{f['version']}"] if f.get("version") else [])}
        if (not spec.get("disabled") and not spec.get("multiModel") and label in labels
                and ("workerSpec" in spec) == ("workerSpec" in predictor)):
            out.append(rt)

    def priority(rt: dict) -> int:
        return max((f.get("priority", 0) for f in rt["spec"]["supportedModelFormats"] if f["name"] == fmt["name"]),
                   default=0)
    return sorted(out, key=priority, reverse=True)


def test_cluster_serving_runtimes_exist_when_kserve_is_on(rendered):
    if not rendered.plan.config.ml.kserve:
        pytest.skip("KServe is off")
    runtimes = rendered.objects("ClusterServingRuntime")
    assert runtimes, "KServe 0.20's kserve-resources ships no runtimes (they are in kserve-runtime-configs)"
    crds = cr.chart_crds(rendered.releases)
    assert all(cr.custom_resource_errors(r, crds) == [] for r in runtimes)
    # only the Hugging Face server (the chart switches its multi-node variant with it)
    assert {r["metadata"]["name"] for r in runtimes if not r["spec"].get("disabled")} == \
        {"kserve-huggingfaceserver", "kserve-huggingfaceserver-multinode"}
    # the documented InferenceServices find a runtime for their modelFormat
    for source, isvc in inference_examples():
        chosen = selected_runtimes(isvc["spec"]["predictor"], runtimes)
        assert chosen, f"{source}: no enabled runtime serves {isvc['spec']['predictor']['model']['modelFormat']}"
        assert chosen[0]["metadata"]["name"] == "kserve-huggingfaceserver", source


def _quantity(resource: str, q) -> int:
    from gpufleet.modules.ml.quotas import parse_cpu_millis, parse_memory_mib

    return parse_cpu_millis(q) if resource == "cpu" else parse_memory_mib(q) if resource == "memory" else int(q)


def predictor_resources(predictor: dict, runtime: dict, config: dict) -> dict[str, dict[str, int]]:
    """The predictor container's resources as the Deployment gets them: KServe's webhook fills
    each missing cpu/memory request and limit from ``inferenceservice-config`` (empty values
    are skipped), the runtime's container is merged underneath key by key (strategic merge),
    and the API server defaults a request that has a limit only to the limit."""
    own = predictor["model"].get("resources") or {}
    filled: dict[str, dict] = {"requests": dict(own.get("requests") or {}), "limits": dict(own.get("limits") or {})}
    for kind, key in (("requests", "Request"), ("limits", "Limit")):
        for res in ("cpu", "memory"):
            default = config.get(f"{res}{key}", "")
            if default and res not in filled[kind]:
                filled[kind][res] = default
    [container] = [c for c in runtime["spec"]["containers"] if c["name"] == "kserve-container"]
    base = container.get("resources") or {}
    merged = {kind: {**(base.get(kind) or {}), **filled[kind]} for kind in ("requests", "limits")}
    for res, q in merged["limits"].items():
        merged["requests"].setdefault(res, q)
    return {kind: {r: _quantity(r, q) for r, q in vals.items()} for kind, vals in merged.items()}


def test_inference_services_are_valid_pods_that_fit_the_serving_pool(rendered):
    """KServe fills in the resources a predictor leaves out: the documented InferenceServices
    must still be valid pods (no request above its limit; KServe's default CPU limit of 1 made
    the example's 2-CPU request one), and a default-sized predictor must fit once per GPU unit
    (MIG slice, time-slice, GPU) of a serving node."""
    from gpufleet.modules.ml.quotas import node_capacity
    from gpufleet.modules.schema.ml import serving_pool

    cfg = rendered.plan.config
    if not cfg.ml.kserve:
        pytest.skip("KServe is off")
    [config_map] = rendered.chart("kserve-resources").find("ConfigMap", "inferenceservice-config")
    config = json.loads(config_map["data"]["inferenceService"])["resource"]
    runtimes = rendered.objects("ClusterServingRuntime")
    k = cfg.ml.kueue
    for source, isvc in inference_examples():
        predictor = isvc["spec"]["predictor"]
        res = predictor_resources(predictor, selected_runtimes(predictor, runtimes)[0], config)
        for name, limit in res["limits"].items():
            assert res["requests"][name] <= limit, (source, name, res)
        pool = predictor.get("nodeSelector", {}).get("gpufleet.io/pool")
        if pool in {p.name for p in cfg.pools.gpu}:
            node = node_capacity(cfg.pool(pool), k.node_reserved_cpu_millis, k.node_reserved_memory_mib)
            assert res["requests"]["cpu"] <= node.cpu_millis and res["requests"]["memory"] <= node.memory_mib, source
    pool = serving_pool(cfg)
    node = node_capacity(pool, k.node_reserved_cpu_millis, k.node_reserved_memory_mib)
    units = sum(node.gpus.values())
    resource = next(iter(node.gpus))
    bare = {"model": {"modelFormat": {"name": "huggingface"}, "resources": {"limits": {resource: 1}}}}
    res = predictor_resources(bare, selected_runtimes(bare, runtimes)[0], config)
    assert units * res["requests"]["cpu"] <= node.cpu_millis, (pool.name, units, res)
    assert units * res["requests"]["memory"] <= node.memory_mib, (pool.name, units, res)
    assert all(res["requests"][r] <= res["limits"][r] for r in res["limits"])


def _service_of(rendered: StackRender, namespace: str, name: str) -> tuple[cr.RenderedRelease, dict]:
    found = [(r, m.obj) for r in rendered.releases for m in r.installed if m.kind == "Service"
             and m.name == name and m.obj["metadata"].get("namespace", r.namespace) == namespace]
    assert len(found) == 1, (namespace, name, found)
    return found[0]


def test_metrics_k8s_io_is_served_by_something(rendered):
    """KServe's default autoscaler in Standard mode is an HPA on cpu: it needs metrics.k8s.io."""
    [api] = [a for a in rendered.objects("APIService") if a["spec"].get("group") == "metrics.k8s.io"]
    assert api["metadata"]["name"] == "v1beta1.metrics.k8s.io" and api["spec"]["version"] == "v1beta1"
    target = api["spec"]["service"]
    rel, service = _service_of(rendered, target["namespace"], target["name"])
    assert rel.chart == "metrics-server"
    port = next(p for p in service["spec"]["ports"] if p["port"] == target["port"])
    [deployment] = rel.find("Deployment")
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    # EKS kubelets serve certificates of the cluster CA (serverTLSBootstrap): verified, at the InternalIP
    assert "--kubelet-preferred-address-types=InternalIP" in container["args"]
    assert not any(a.startswith("--kubelet-insecure-tls") for a in container["args"])
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    system = rendered.plan.get("aws:eks/nodeGroup:NodeGroup", "pool-system-ng").inputs["labels"]
    assert pod["spec"]["nodeSelector"].items() <= system.items()
    pdbs = rel.find("PodDisruptionBudget")
    if rendered.plan.config.environment != "prod":
        assert deployment["spec"]["replicas"] == 1 and not pdbs
        return
    # prod: two replicas on two nodes, and a drain leaves one serving
    assert deployment["spec"]["replicas"] == 2
    [pdb] = pdbs
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    [term] = pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def _grants(rule: dict, verb: str, resource: str, name: str | None) -> bool:
    return (bool({"", "*"} & set(rule.get("apiGroups") or ()))
            and bool({resource, "*"} & set(rule.get("resources") or ()))
            and bool({verb, "*"} & set(rule.get("verbs") or ()))
            and (not rule.get("resourceNames") or (name is not None and name in rule["resourceNames"])))


def service_account_can(objects: list[dict], account: tuple[str, str], verb: str, resource: str, namespace: str,
                        name: str | None = None) -> bool:
    """Whether the rendered RBAC lets ``account`` (namespace, name) ``verb`` a core ``resource``
    in ``namespace`` (``name``: one object; None: a list or watch of the namespace)."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in objects if o["kind"] in ("ClusterRole", "Role")}
    for binding in (o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        bound_ns = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        if bound_ns not in (None, namespace):
            continue
        if not any(s["kind"] == "ServiceAccount" and (s.get("namespace"), s["name"]) == account
                   for s in binding.get("subjects") or ()):
            continue
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], None if ref["kind"] == "ClusterRole" else bound_ns, ref["name"]))
        if role and any(_grants(rule, verb, resource, name) for rule in role.get("rules") or ()):
            return True
    return False


def test_cluster_autoscaler_can_read_its_priority_configmap(rendered):
    """The priority expander lists and watches ConfigMaps in its namespace and reads its own:
    the chart's RBAC grants it (the program declares no Role of its own for it)."""
    from gpufleet.modules.ml.autoscaler import NAMESPACE, PRIORITY_CONFIGMAP

    rel = rendered.chart("cluster-autoscaler")
    assert "--expander=priority" in rel.values["customArgs"]
    [deployment] = rel.find("Deployment")
    account = (rel.namespace, deployment["spec"]["template"]["spec"]["serviceAccountName"])
    objects = [m.obj for m in rel.installed]
    for verb in ("list", "watch"):
        assert service_account_can(objects, account, verb, "configmaps", NAMESPACE), verb
    for verb in ("get", "watch"):
        assert service_account_can(objects, account, verb, "configmaps", NAMESPACE, PRIORITY_CONFIGMAP), verb
    assert not service_account_can(objects, account, "update", "configmaps", NAMESPACE, PRIORITY_CONFIGMAP)
    assert not [r for r in rendered.plan.by_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
                if r.inputs["metadata"].get("namespace") == NAMESPACE and "autoscaler" in r.inputs["metadata"]["name"]]
    # the priorities ConfigMap is the program's, in the namespace the autoscaler reads
    names = {(r.inputs["metadata"].get("namespace"), r.inputs["metadata"]["name"])
             for r in rendered.plan.by_type("kubernetes:core/v1:ConfigMap")}
    assert (NAMESPACE, PRIORITY_CONFIGMAP) in names


def test_gpu_operator_leaves_confidential_computing_off(rendered):
    """gpu-operator v26.7.0 turns its CC manager on by default, with defaultMode "on"."""
    ref = CHARTS["gpu-operator"]
    defaults = cr.render_release(ref.chart, ref.version, {}, "gpu-operator", "gpu-operator")
    [default_policy] = defaults.find("ClusterPolicy")
    assert default_policy["spec"]["ccManager"]["enabled"] is True  # what the chart does unasked
    [policy] = rendered.chart("gpu-operator").find("ClusterPolicy")
    assert policy["spec"]["ccManager"]["enabled"] is False


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
