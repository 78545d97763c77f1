"""What the rendered releases will do, read from the rendered objects (what the controllers
will see), not the values we pass (issue #10, section 1): the GPU Operator's ClusterPolicy,
Kueue's manager config, the training runtime, metrics.k8s.io, the autoscaler's RBAC."""
# ruff: noqa: F811  (the rendered fixture, imported from chart_render_support, is a test parameter)

from __future__ import annotations

import pytest
import yaml

from gpufleet import chart_render as cr
from gpufleet.modules.charts import CHARTS
from gpufleet.modules.k8s_schema import manifest, validate_custom_resource

from .chart_render_support import StackRender, rendered  # noqa: F401 (rendered: a fixture)


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
