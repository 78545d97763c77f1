"""The system pool holds the add-ons (issue #12, section 3): requests everywhere, the fit
table proved by rendering, Graviton only where every image has an arm64 variant.

``modules/data/system_pods.json`` is what ``modules.fit`` adds up without Helm; here every
release of every shipped stack (and an OpenCost variant) is rendered from its pinned chart
and every pod that can land on the system pool is compared with the table: same
workloads, replicas, containers, images, requests and memory limits. The program's own
Deployments come from the plan, the EKS add-ons' from their ``configuration_values``.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet import chart_render as cr
from gpufleet.modules import catalog, fit, sizing
from gpufleet.modules.k8s_quantity import mebibytes, milli_value, parse_quantity
from gpufleet.modules.nodespec import system_spec

from .conftest import shipped_plan
from .helpers import DELETE, STACKS, TEST_SOURCE, apply_edits, assert_one_line_error, edit, raw_config, render, validate

WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet")
ADDON = "aws:eks/addon:Addon"


# ---------------------------------------------------------------- where a pod can run

def system_node_labels(cfg) -> dict[str, str]:
    """The labels a ready system node carries (the pool's own and what kubelet and EKS add)."""
    spec = system_spec(cfg.pools.system)
    return {**spec.labels, "kubernetes.io/os": "linux", "kubernetes.io/arch": cfg.pools.system.architecture,
            "node.kubernetes.io/instance-type": spec.instance_types[0], "eks.amazonaws.com/nodegroup": "system",
            "eks.amazonaws.com/capacityType": spec.capacity_type}


def _matches(expr: dict, labels: dict[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    return {"In": lambda: labels.get(key) in values, "NotIn": lambda: labels.get(key) not in values,
            "Exists": lambda: key in labels, "DoesNotExist": lambda: key not in labels}[op]()


def lands_on_system(pod: dict, labels: dict[str, str]) -> bool:
    """The pod's nodeSelector and required node affinity admit a system node (it is untainted)."""
    if not (pod.get("nodeSelector") or {}).items() <= labels.items():
        return False
    required = ((pod.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True
    return any(all(_matches(e, labels) for e in term.get("matchExpressions") or ())
               for term in required["nodeSelectorTerms"])


def _mib(q) -> int:
    return int(parse_quantity(str(q)) / 2 ** 20)


def _milli(q) -> int:
    return int(parse_quantity(str(q)) * 1000)


def container_figures(c: dict) -> tuple[str, str, int | None, int | None, int | None]:
    res = c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    return (c["name"], c["image"], _milli(req["cpu"]) if "cpu" in req else None,
            _mib(req["memory"]) if "memory" in req else None, _mib(lim["memory"]) if "memory" in lim else None)


def table_figures(c: fit.Container) -> tuple[str, str, int | None, int | None, int | None]:
    if c.origin == "none":
        return c.name, c.image, None, None, None
    return c.name, c.image, c.cpu_millis, c.memory_mib, c.memory_limit_mib


# ---------------------------------------------------------------- the rendered system pool

_rendered: dict[str, tuple] = {}


def system_pods(stack: str, raw: dict | None = None):
    """(config, {workload id: (kind, replicas, [container figures])}, {image: where}) of what the
    stack renders on the system pool: chart releases and the program's own Deployments."""
    if stack not in _rendered:
        plan = shipped_plan(stack) if raw is None else render(raw)
        cfg = plan.config
        labels = system_node_labels(cfg)
        pods, images = {}, {}
        for rel in cr.render_plan(plan):
            for m in rel.installed:
                if m.kind not in (*WORKLOADS, "Job"):
                    continue
                pod = m.obj["spec"]["template"]["spec"]
                if not lands_on_system(pod, labels):
                    continue
                for c in [*pod["containers"], *(pod.get("initContainers") or ())]:
                    images.setdefault(c["image"], f"{rel.resource} {m.kind}/{m.name}")
                if m.kind != "Job":
                    replicas = None if m.kind == "DaemonSet" else m.obj["spec"].get("replicas", 1)
                    pods[f"{rel.chart}/{m.kind}/{m.name}"] = (m.kind, replicas,
                                                             [container_figures(c) for c in pod["containers"]])
        for res in plan.by_type("kubernetes:apps/v1:Deployment"):
            pod = res.inputs["spec"]["template"]["spec"]
            if lands_on_system(pod, labels):
                name = res.inputs["metadata"]["name"]
                pods[f"program/Deployment/{name}"] = ("Deployment", res.inputs["spec"].get("replicas", 1),
                                                      [container_figures(c) for c in pod["containers"]])
                images.update({c["image"]: f"program {name}" for c in pod["containers"]})
        _rendered[stack] = (plan, pods, images)
    return _rendered[stack]


VARIANTS = {
    **{s: None for s in STACKS},
    "dev-opencost": ("dev", [("gpufleet:cost.tool", "opencost")]),
}


def variant(name: str):
    spec = VARIANTS[name]
    return system_pods(name, None if spec is None else apply_edits(spec[0], spec[1]))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_fit_table_is_what_the_charts_render(name):
    """Every pod the charts and the program put on the system pool is in the table with the
    same replicas, containers, images, requests and memory limits, and the other way round."""
    plan, rendered, _ = variant(name)
    table = {w.id: w for w in fit.system_workloads(plan.config)}
    renderable = {i: w for i, w in table.items() if not i.startswith(("eks/", "training-operator/"))}
    assert set(rendered) == set(renderable), (sorted(set(rendered) ^ set(renderable)))
    for wid, (kind, replicas, containers) in rendered.items():
        w = table[wid]
        assert w.kind == kind, wid
        if kind != "DaemonSet":
            assert w.replicas == replicas, wid
        assert containers == [table_figures(c) for c in w.containers], wid


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_platform_pod_on_the_system_pool_requests_cpu_and_memory(name):
    """Rendered or declared, every container of every system-pool workload has cpu and memory
    requests (issue #12: cert-manager, the autoscaler, Trainer, Kubecost's aggregator had none)."""
    _, rendered, _ = variant(name)
    missing = [f"{wid}/{c[0]}" for wid, (_, _, cs) in rendered.items() for c in cs if c[2] is None or c[3] is None]
    assert not missing, missing


def test_the_eks_add_ons_get_the_requests_the_table_counts(any_stack_plan):
    """Where the add-on's schema takes resources (vpc-cni's aws-node, kube-proxy, the EFS
    controller) the plan sends the platform's figures; the rest keep EKS's defaults and every
    container without a request says why."""
    addons = {a.inputs["addonName"]: json.loads(a.inputs.get("configurationValues") or "{}")
              for a in any_stack_plan.by_type(ADDON)}
    assert addons["vpc-cni"]["resources"] == sizing.platform("eks/vpc-cni/DaemonSet/aws-node/aws-node").values()
    assert addons["kube-proxy"]["resources"] == sizing.platform("eks/kube-proxy/DaemonSet/kube-proxy/kube-proxy").values()
    assert addons["aws-efs-csi-driver"]["controller"]["resources"] == sizing.platform(
        "eks/aws-efs-csi-driver/Deployment/efs-csi-controller/efs-plugin").values()
    assert "resources" not in addons["eks-pod-identity-agent"] and "resources" not in addons.get("coredns", {})
    eks = [w for w in fit.system_workloads(any_stack_plan.config) if w.id.startswith("eks/")]
    assert {w.id.split("/")[1] for w in eks} == set(addons)  # one entry per add-on the plan installs
    for w in eks:
        for c in w.containers:
            assert (c.origin == "none") == (c.cpu_millis == 0) and (c.origin != "none" or c.reason), (w.id, c.name)


# ---------------------------------------------------------------- Graviton: arm64 images

@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_system_pool_image_has_an_architecture_entry_with_arm64_on_graviton(name):
    plan, _, images = variant(name)
    archs = fit.image_architectures()
    assert not {i: w for i, w in images.items() if i not in archs}, "images without an entry"
    if plan.config.pools.system.architecture == "arm64":
        assert not [i for i in images if "arm64" not in archs[i]]
    assert plan.config.pools.system.architecture == ("arm64" if name.startswith("dev") else "amd64")


def test_the_image_catalog_is_data_with_a_source_per_image():
    doc = catalog.load("image_architectures.json")
    assert doc["source"] and doc["date"]
    for image, entry in doc["images"].items():
        assert entry["source"] and entry["checked"] and set(entry["architectures"]) >= {"amd64"}, image
    table_images = {c["image"] for w in fit.table() for c in w["containers"]}
    assert table_images <= set(doc["images"])


def test_an_arm64_system_pool_is_refused_when_an_image_has_no_arm64_variant(monkeypatch):
    archs = dict(fit.image_architectures())
    archs["registry.k8s.io/kueue/kueue:v0.19.2"] = ("amd64",)
    monkeypatch.setattr(fit, "image_architectures", lambda: archs)
    assert_one_line_error(raw_config("dev"), TEST_SOURCE, "gpufleet:pools.system.instance_types",
                          "registry.k8s.io/kueue/kueue:v0.19.2 has none in modules/data/image_architectures.json")
    # an x86 pool does not care
    validate(apply_edits("dev", [("gpufleet:pools.system.instance_types", ["t3a.medium", "t3.medium"])]))


def test_a_system_pool_is_one_architecture_and_gpu_pools_stay_x86():
    assert_one_line_error(apply_edits("dev", [("gpufleet:pools.system.instance_types", ["t4g.medium", "t3a.medium"])]),
                          TEST_SOURCE, "gpufleet:pools.system.instance_types[1]",
                          "an instance type of the pool's architecture (arm64, as t4g.medium)")
    assert_one_line_error(apply_edits("dev", [("gpufleet:pools.gpu[0].instance_types", ["g5g.xlarge"])]),
                          TEST_SOURCE, "gpufleet:pools.gpu[0].instance_types[0]",
                          "an x86_64 GPU instance type")


def test_the_arm64_system_pool_boots_the_arm64_ami(dev_plan):
    ng = dev_plan.get("aws:eks/nodeGroup:NodeGroup", "pool-system-ng").inputs
    assert ng["instanceTypes"] == ["t4g.medium", "c7g.large"] and ng["amiType"] == "AL2023_ARM_64_STANDARD"
    assert all(g.inputs["amiType"].endswith("_x86_64_NVIDIA") for g in dev_plan.by_type("aws:eks/nodeGroup:NodeGroup")
               if g.name != "pool-system-ng")


# ---------------------------------------------------------------- the fit check

@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_system_pool_holds_its_add_ons(stack):
    f = fit.system_fit(validate(raw_config(stack)))
    assert f.shortfall() is None
    assert all(m > 0 for m in f.margin.values()), f.margin
    assert f.requested["pods"] == sum(w.pods(f.nodes) for w in f.workloads)


def test_dev_fits_on_two_graviton_nodes_at_40_pods_with_a_margin():
    f = fit.system_fit(validate(raw_config("dev")))
    assert (f.nodes, f.node.instance, f.node.pods) == (2, "t4g.medium", 40)
    # 11 x 40 + 255 = 695 MiB reserved instead of 11 x 110 + 255 = 1,465 MiB
    assert f.node.kube_reserved["memory"] == "695Mi" and f.allocatable["memory"] == 2 * 2993
    assert f.margin["memory"] >= 512 and f.margin["cpu"] >= 500


def test_the_old_dev_system_pool_cannot_hold_the_add_ons():
    """Before issue #12: 2 × t3a.medium at 110 pods (1,465 MiB reserved each) offer 4,446 MiB;
    the add-ons with the requests they now declare need about 5 GiB."""
    raw = apply_edits("dev", [("gpufleet:pools.system.instance_types", ["t3a.medium", "t3.medium"]),
                              ("gpufleet:pools.system.max_pods", DELETE)])
    message = assert_one_line_error(raw, TEST_SOURCE, "gpufleet:pools.system.min",
                                    "enough system nodes for the add-ons")
    assert "2 × t3a.medium offer 3,860m, 4,446 MiB and 220 pods (short" in message and "MiB)" in message
    # a third node holds them
    validate(edit(raw, "gpufleet:pools.system.min", 3))


def test_a_pod_larger_than_one_node_is_refused_even_when_the_sum_fits():
    cfg = validate(raw_config("dev"))
    f = fit.system_fit(cfg)
    huge = fit.Workload("x/Deployment/huge", "Deployment", 1,
                        (fit.Container("c", "i", 100, f.node.memory_mib, None, "chart"),))
    big = fit.Fit(nodes=8, node=f.node, workloads=(*f.workloads, huge))
    assert big.margin["memory"] > 0 and "do not fit one t4g.medium" in big.shortfall()


def test_max_pods_is_bounded_by_what_eks_derives():
    assert_one_line_error(apply_edits("dev", [("gpufleet:pools.system.max_pods", 200)]), TEST_SOURCE,
                          "gpufleet:pools.system.max_pods", "an integer from 16 to 110")
    assert_one_line_error(apply_edits("dev", [("gpufleet:pools.system.max_pods", 8)]), TEST_SOURCE,
                          "gpufleet:pools.system.max_pods", "at least 16")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes=st.integers(1, 6), pods=st.integers(20, 110), tool=st.sampled_from(["kubecost", "opencost"]))
def test_one_more_node_always_adds_room(nodes, pods, tool):
    """A node adds its allocatable and one pod of each DaemonSet: every margin grows."""
    raw = apply_edits("staging", [("gpufleet:pools.system.max_pods", pods), ("gpufleet:cost.tool", tool)])
    base = fit.system_fit(validate(raw))
    f1, f2 = (fit.Fit(nodes=n, node=base.node, workloads=base.workloads) for n in (nodes, nodes + 1))
    ds = f1.per_node_daemonsets
    assert ds["pods"] < base.node.pods
    for k in ("cpu", "memory", "pods"):
        assert f2.margin[k] - f1.margin[k] == f1.allocatable[k] // nodes - ds[k]
        assert f2.margin[k] > f1.margin[k]


# ---------------------------------------------------------------- exact quantities

@given(st.integers(min_value=0, max_value=10**7))
def test_millicores_and_mebibytes_are_exact(n):
    """A request of n millicores or n MiB counts as exactly n (floats lost a unit: "4007m" was 4006)."""
    assert milli_value(f"{n}m") == n
    assert mebibytes(f"{n}Mi") == n
    assert milli_value(f"{n}") == 1000 * n
    assert mebibytes(f"{n}Ki") == -(-n // 1024)  # rounded up, never below the request


def test_quantities_round_up_like_the_api_server():
    assert milli_value("4007m") == 4007
    assert milli_value("0.0001") == 1  # Quantity.MilliValue: ceil(q * 1000)
    assert mebibytes("100M") == 96  # 95.37 MiB requested: 96 whole MiB


def test_a_charts_request_counts_in_full():
    spec = {"name": "c", "image": "i", "requests": {"cpu": "4007m", "memory": "100M", "memory_limit": "1Gi"}}
    c = fit._container("w", spec, None)
    assert (c.cpu_millis, c.memory_mib, c.memory_limit_mib) == (4007, 96, 1024)
