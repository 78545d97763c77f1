"""ML add-ons: GPU Operator, EFA device plugin, cluster-autoscaler, metrics-server, training, serving.
Every chart value key exists in the pinned chart's defaults; every built-in object validates."""

from __future__ import annotations

import json
import re

import yaml

from gpufleet.modules.charts import CHARTS
from gpufleet.modules.helm_addon import check_values
from gpufleet.modules.k8s_schema import has_crd_schema, manifest, validate_builtin
from gpufleet.modules.ml.autoscaler import asg_name_pattern
from gpufleet.modules.ml.gpu_operator import device_plugin_config
from gpufleet.modules.ml.quotas import Capacity
from gpufleet.modules.ml.serving import PredictorDefaults, predictor_defaults

from .ml_helpers import HELM, by_name, manifests, release

ML_RELEASES = {
    "gpu-operator": "gpu-operator", "cluster-autoscaler": "cluster-autoscaler", "kueue": "kueue",
    "kubeflow-trainer": "kubeflow-trainer", "cert-manager": "cert-manager", "kserve-crd": "kserve-crd",
    "kserve": "kserve-resources", "kserve-runtime-configs": "kserve-runtime-configs",
    "aws-efa-k8s-device-plugin": "aws-efa-k8s-device-plugin", "metrics-server": "metrics-server",
}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def test_every_ml_release_is_pinned_and_its_values_exist_in_the_chart_defaults(any_stack_plan):
    releases = {r.name.removesuffix("-release"): r for r in any_stack_plan.by_type(HELM)}
    expected = set(ML_RELEASES) - ({"aws-efa-k8s-device-plugin"} if not any(
        p.efa for p in any_stack_plan.config.pools.gpu) else set())
    assert expected <= set(releases)
    for name in expected:
        chart = CHARTS[ML_RELEASES[name]]
        inputs = releases[name].inputs
        assert (inputs["chart"], inputs["version"]) == (chart.chart, chart.version)
        check_values(chart, inputs.get("values") or {})


def test_every_ml_builtin_object_validates_for_the_cluster_version(any_stack_plan):
    version = any_stack_plan.config.cluster.version
    kinds = set()
    for r in any_stack_plan.resources:
        obj = manifest(r.type, r.inputs)
        if obj is None or "gpufleet:ml:" not in r.urn or has_crd_schema(obj["apiVersion"], obj["kind"]):
            continue
        assert validate_builtin(obj, version) == [], (obj["kind"], obj["metadata"].get("name"))
        kinds.add(obj["kind"])
    assert {"Namespace", "ConfigMap", "ResourceQuota", "LimitRange", "NetworkPolicy", "PriorityClass",
            "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} <= kinds


def test_gpu_operator_on_eks_amis(any_stack_plan):
    values = release(any_stack_plan, "gpu-operator").inputs["values"]
    assert values["driver"]["enabled"] is False and values["toolkit"]["enabled"] is False
    assert values["mig"]["strategy"] == "mixed"
    assert values["migManager"]["enabled"] is True
    assert {"name": "WITH_REBOOT", "value": "true"} in values["migManager"]["env"]
    assert values["dcgmExporter"]["enabled"] is True
    assert GPU_TOLERATION in values["daemonsets"]["tolerations"]
    assert GPU_TOLERATION in values["node-feature-discovery"]["worker"]["tolerations"]
    assert values["devicePlugin"]["config"] == {"create": False, "name": "gpufleet-device-plugin", "default": "default"}


def test_device_plugin_configmap_has_a_key_per_timesliced_pool_and_a_default(any_stack_plan):
    cfg = any_stack_plan.config
    cm = by_name(manifests(any_stack_plan, "ConfigMap"), "gpufleet-device-plugin")
    assert cm["metadata"]["namespace"] == "gpu-operator"
    sliced = {p.name: p for p in cfg.pools.gpu if p.sharing == "timeslice"}
    assert set(cm["data"]) == {"default", *sliced}
    for name, pool in sliced.items():
        doc = yaml.safe_load(cm["data"][name])
        assert doc["version"] == "v1"
        ts = doc["sharing"]["timeSlicing"]
        assert ts["failRequestsGreaterThanOne"] is True
        assert ts["resources"] == [{"name": "nvidia.com/gpu", "replicas": pool.replicas}]
        ng = any_stack_plan.get("aws:eks/nodeGroup:NodeGroup", f"pool-{name}-ng").inputs
        assert ng["labels"]["nvidia.com/device-plugin.config"] == name
    assert yaml.safe_load(cm["data"]["default"]) == {"version": "v1", "flags": {"migStrategy": "mixed"}}
    # the release waits for the ConfigMap
    cm_urn = next(r.urn for r in any_stack_plan.resources if r.name == "gpu-operator-device-plugin")
    assert cm_urn in release(any_stack_plan, "gpu-operator").options["depends_on"]


def test_device_plugin_config_of_a_stack_without_timeslicing_has_only_the_default(prod_plan):
    assert list(device_plugin_config(prod_plan.config.pools.gpu)) == ["default"]


def test_efa_plugin_runs_on_the_efa_pools_only(prod_plan, dev_plan):
    values = release(prod_plan, "aws-efa-k8s-device-plugin").inputs["values"]
    efa_pools = [p.name for p in prod_plan.config.pools.gpu if p.efa]
    assert values["supportedInstanceLabels"] == {"keys": ["gpufleet.io/pool"], "values": efa_pools}
    assert GPU_TOLERATION in values["tolerations"]
    assert not any(r.name.startswith("aws-efa") for r in dev_plan.by_type(HELM))


def test_autoscaler_discovers_this_cluster_with_priority_expander_and_scale_down_delay(any_stack_plan):
    from gpufleet.modules.schema.ml import scale_down_delay

    cfg = any_stack_plan.config
    values = release(any_stack_plan, "cluster-autoscaler").inputs["values"]
    cluster = any_stack_plan.outputs["cluster_name"]
    assert values["autoDiscovery"]["clusterName"] == cluster
    assert values["awsRegion"] == cfg.region
    args = values["customArgs"]
    delay = scale_down_delay(cfg)
    for flag in ("--expander=priority", "--balance-similar-node-groups=true", "--skip-nodes-with-local-storage=false",
                 f"--scale-down-unneeded-time={delay}m", f"--scale-down-delay-after-add={delay}m"):
        assert flag in args


def test_priority_expander_puts_spot_pools_above_on_demand(any_stack_plan):
    cm = by_name(manifests(any_stack_plan, "ConfigMap"), "cluster-autoscaler-priority-expander")
    assert cm["metadata"]["namespace"] == "kube-system"
    priorities = yaml.safe_load(cm["data"]["priorities"])
    rank = {}
    for prio, patterns in priorities.items():
        for pattern in patterns:
            rank[pattern] = prio
    cfg = any_stack_plan.config
    spot = [rank[asg_name_pattern(p.name)] for p in cfg.pools.gpu if p.capacity == "spot"]
    on_demand = [rank[asg_name_pattern(p.name)] for p in cfg.pools.gpu if p.capacity == "on-demand"]
    assert spot and on_demand is not None
    assert min(spot) > max(on_demand, default=-1)
    # the patterns match the ASG names EKS gives managed node groups, and only their own pool
    asg = "eks-train-spot-0ac6e1f4-4b7e-2c1d-9a3f-1234567890ab"
    assert re.match(asg_name_pattern("train-spot"), asg)
    assert not re.match(asg_name_pattern("train"), asg)
    # the chart's ClusterRole lets the autoscaler read it (test_chart_render_intent): no Role of our own
    assert not [r for r in manifests(any_stack_plan, "Role") if r["metadata"]["namespace"] == "kube-system"
                and "cluster-autoscaler" in r["metadata"]["name"]]


def test_autoscaler_pod_identity_role_is_scoped_to_this_clusters_groups(any_stack_plan):
    cluster = any_stack_plan.outputs["cluster_name"]
    assoc = [r for r in any_stack_plan.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
             if r.inputs["serviceAccount"] == "cluster-autoscaler"]
    assert len(assoc) == 1 and assoc[0].inputs["namespace"] == "kube-system"
    policies = [json.loads(r.inputs["policy"]) for r in any_stack_plan.by_type("aws:iam/rolePolicy:RolePolicy")
                if r.name.startswith("cluster-autoscaler-identity")]
    assert len(policies) == 1
    statements = policies[0]["Statement"]
    resize = [s for s in statements if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert len(resize) == 1
    cond = resize[0]["Condition"]["StringEquals"]
    assert cond[f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}"] == "owned"
    for s in statements:
        for action in s["Action"]:
            mutating = not action.split(":")[1].startswith(("Describe", "Get"))
            assert not mutating or "Condition" in s, action


def test_trainer_v2_by_default_with_jobset_and_torch_runtime(any_stack_plan):
    values = release(any_stack_plan, "kubeflow-trainer").inputs["values"]
    assert values["jobset"]["install"] is True
    # no installer hook: the platform declares the runtimes itself (modules/ml/training.py)
    assert values["runtimes"] == {"defaultEnabled": False, "torchDistributed": {"enabled": False}}
    assert release(any_stack_plan, "kubeflow-trainer").urn in release(any_stack_plan, "kueue").options["depends_on"]


def test_kserve_standard_mode_after_cert_manager_and_its_crds(any_stack_plan):
    cert = release(any_stack_plan, "cert-manager")
    crd = release(any_stack_plan, "kserve-crd")
    kserve = release(any_stack_plan, "kserve")
    assert cert.inputs["values"]["crds"] == {"enabled": True, "keep": True}
    assert kserve.inputs["values"]["kserve"]["controller"]["deploymentMode"] == "Standard"
    assert cert.urn in crd.options["depends_on"]
    assert {cert.urn, crd.urn} <= set(kserve.options["depends_on"])
    assert "values" not in crd.inputs or not crd.inputs["values"]
    # the serving runtimes come after the controller, whose webhook validates them
    runtimes = release(any_stack_plan, "kserve-runtime-configs")
    assert kserve.urn in runtimes.options["depends_on"]
    servingruntime = runtimes.inputs["values"]["kserve"]["servingruntime"]
    assert servingruntime["enabled"] is True
    assert {name for name, v in servingruntime.items() if isinstance(v, dict) and not v["disabled"]} == \
        {"huggingfaceserver"}


def test_predictor_defaults_fit_every_gpu_unit_of_a_serving_node_and_limit_at_the_node():
    # a p4d with 56 MIG 1g.5gb slices: KServe's own requests fit 56 times
    p4d = Capacity(94690, 1080664, {"nvidia.com/mig-1g.5gb": 56})
    assert predictor_defaults(p4d) == PredictorDefaults(1000, 2048, 94690, 1080664)
    # a g6.xlarge time-sliced 4 ways: 1 CPU each would leave two replicas of the GPU unused
    g6 = Capacity(2920, 12114, {"nvidia.com/gpu": 4})
    d = predictor_defaults(g6)
    assert (d.cpu_request_millis, d.memory_request_mib) == (730, 2048)
    assert 4 * d.cpu_request_millis <= g6.cpu_millis and 4 * d.memory_request_mib <= g6.memory_mib
    assert d.as_config() == {"requests": {"cpu": "730m", "memory": "2048Mi"},
                             "limits": {"cpu": "2920m", "memory": "12114Mi"}}


def test_kserve_predictor_defaults_come_from_the_serving_pool(any_stack_plan):
    from gpufleet.modules.ml.quotas import node_capacity
    from gpufleet.modules.schema.ml import serving_pool

    cfg = any_stack_plan.config
    pool = serving_pool(cfg)
    resources = release(any_stack_plan, "kserve").inputs["values"]["kserve"]["inferenceservice"]["resources"]
    node = node_capacity(pool, cfg.ml.kueue.node_reserved_cpu_millis, cfg.ml.kueue.node_reserved_memory_mib)
    assert resources == predictor_defaults(node).as_config()


def test_metrics_server_on_the_system_pool_highly_available_in_prod(any_stack_plan):
    values = release(any_stack_plan, "metrics-server").inputs["values"]
    system = any_stack_plan.get("aws:eks/nodeGroup:NodeGroup", "pool-system-ng").inputs["labels"]
    assert values["nodeSelector"].items() <= system.items()
    assert values["resources"]["requests"] == {"cpu": "100m", "memory": "200Mi"}
    assert "--kubelet-preferred-address-types=InternalIP" in values["defaultArgs"]
    assert not any("insecure" in a for a in values["defaultArgs"])
    prod = any_stack_plan.config.environment == "prod"
    assert values["replicas"] == (2 if prod else 1)
    assert values.get("podDisruptionBudget", {}).get("enabled", False) is prod


def test_ml_platform_output_names_releases_and_queues(any_stack_plan):
    out = any_stack_plan.outputs["ml_platform"]
    assert out["releases"]["kueue"] == {"release": "kueue", "chart": "kueue", "version": "0.19.2"}
    assert out["training"] == "trainer"
    for team in any_stack_plan.config.teams:
        assert out["kueue"]["queues"][team.name] == {
            "namespace": team.namespace, "local_queue": team.queue, "cluster_queue": team.queue}
    assert out["serving"]["nodeSelector"] == {"gpufleet.io/pool": out["serving"]["pool"]}


def test_idle_gpu_pools_sit_at_zero_and_a_kueue_admitted_pod_matches_their_node_template(any_stack_plan):
    """Kueue injects a flavor's nodeLabels and tolerations into the pods it admits; the
    autoscaler scales a pool from zero when its node-template tags say a node would match."""
    from gpufleet.modules.nodespec import CA_TEMPLATE

    from .test_nodepools import asg_tags

    flavors = {f["metadata"]["name"]: f["spec"] for f in manifests(any_stack_plan, "ResourceFlavor")}
    for pool in any_stack_plan.config.pools.gpu:
        ng = any_stack_plan.get("aws:eks/nodeGroup:NodeGroup", f"pool-{pool.name}-ng").inputs
        assert ng["scalingConfig"]["minSize"] == (pool.min if pool.always_on else 0)
        tags = asg_tags(any_stack_plan, pool.name)
        for key, value in flavors[pool.name]["nodeLabels"].items():
            assert tags[f"{CA_TEMPLATE}/label/{key}"] == value
        for key in (k.split("/taint/", 1)[1] for k in tags if k.startswith(f"{CA_TEMPLATE}/taint/")):
            assert any(t["key"] == key for t in flavors[pool.name]["tolerations"])
        for resource in pool.gpu_resources_per_node:
            assert int(tags[f"{CA_TEMPLATE}/resources/{resource}"]) > 0
