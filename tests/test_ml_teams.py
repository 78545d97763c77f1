"""Team namespaces and hygiene: ResourceQuota, LimitRange, NetworkPolicies, PriorityClasses,
and the ValidatingAdmissionPolicies, whose CEL is evaluated on sample objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .ml_helpers import by_name, cel_eval, manifests

RESEARCH = "team-research"


def test_a_namespace_per_team_labelled_as_tenant_with_pod_security(any_stack_plan):
    namespaces = manifests(any_stack_plan, "Namespace")
    for team in any_stack_plan.config.teams:
        labels = by_name(namespaces, team.namespace)["metadata"]["labels"]
        assert labels["gpufleet.io/tenant"] == "team" and labels["gpufleet.io/team"] == team.name
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"


def test_resource_quota_caps_requests_at_what_the_queue_could_admit(dev_plan):
    rq = next(o for o in manifests(dev_plan, "ResourceQuota") if o["metadata"]["namespace"] == RESEARCH)
    hard = rq["spec"]["hard"]
    # no borrowing limit configured: the whole of both pools (train-spot 2 × 4, shared-l4 2 × 4 slices)
    assert hard["requests.nvidia.com/gpu"] == "16"
    assert hard["services.loadbalancers"] == "0" and hard["services.nodeports"] == "0"
    assert {"requests.cpu", "requests.memory", "pods", "persistentvolumeclaims"} <= set(hard)


def test_resource_quota_without_ceilings_covers_the_whole_pool(prod_plan):
    rq = next(o for o in manifests(prod_plan, "ResourceQuota") if o["metadata"]["namespace"] == "team-research")
    assert rq["spec"]["hard"]["requests.nvidia.com/mig-1g.5gb"] == "112"  # whole mig-a100 pool: 2 × 8 × 7


def test_limit_range_defaults_requests_and_caps_containers_at_the_largest_node(dev_plan):
    lr = next(o for o in manifests(dev_plan, "LimitRange") if o["metadata"]["namespace"] == RESEARCH)
    item = lr["spec"]["limits"][0]
    assert item["type"] == "Container"
    assert item["defaultRequest"] == {"cpu": "250m", "memory": "512Mi"}
    reserved = dev_plan.config.ml.kueue
    assert item["max"] == {"cpu": f"{47810 - reserved.node_reserved_cpu_millis}m",
                           "memory": f"{178933 - reserved.node_reserved_memory_mib}Mi"}  # g6.12xlarge
    assert item["default"] == item["max"]


def policies_in(plan, namespace):
    return {p["metadata"]["name"]: p["spec"] for p in manifests(plan, "NetworkPolicy")
            if p["metadata"]["namespace"] == namespace}


def test_network_policies_deny_by_default_and_allow_what_training_and_the_platform_need(dev_plan):
    nps = policies_in(dev_plan, RESEARCH)
    deny = nps["default-deny"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    same = nps["allow-same-namespace"]
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}] and same["egress"] == [{"to": [{"podSelector": {}}]}]
    dns = nps["allow-dns"]["egress"][0]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    egress = {(rule["to"][0]["ipBlock"]["cidr"], rule["ports"][0]["port"]) for rule in nps["allow-platform-egress"]["egress"]}
    assert egress == {("0.0.0.0/0", 443), ("169.254.170.23/32", 80), (str(dev_plan.config.network.cidr), 2049)}
    inference = nps["allow-inference-ingress"]
    assert inference["podSelector"]["matchExpressions"][0]["key"] == "serving.kserve.io/inferenceservice"


def test_vpc_cni_enforces_network_policies(dev_plan):
    import json

    addon = next(r for r in dev_plan.by_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "vpc-cni")
    assert json.loads(addon.inputs["configurationValues"])["enableNetworkPolicy"] == "true"


def test_priority_classes_production_inference_high_experiments_low_and_preemptible(any_stack_plan):
    pcs = {p["metadata"]["name"]: p for p in manifests(any_stack_plan, "PriorityClass")}
    inference, training, experiments = (pcs[n] for n in ("gpufleet-inference-prod", "gpufleet-training", "gpufleet-experiments"))
    assert inference["value"] > training["value"] > 0 > experiments["value"]
    assert experiments["preemptionPolicy"] == "Never"
    assert not any(p.get("globalDefault") for p in pcs.values())


# ---------------------------------------------------------------- admission policies

PLURAL = {"Pod": ("", "pods"), "Job": ("batch", "jobs"), "Deployment": ("apps", "deployments"),
          "TrainJob": ("trainer.kubeflow.org", "trainjobs"), "PyTorchJob": ("kubeflow.org", "pytorchjobs"), "InferenceService": ("serving.kserve.io", "inferenceservices")}


def admit(plan, obj: dict[str, Any], namespace: str = RESEARCH) -> list[str]:
    """What the cluster's ValidatingAdmissionPolicies would say to ``obj`` (messages of failed validations)."""
    ns = by_name(manifests(plan, "Namespace"), namespace) if namespace.startswith("team-") else \
        {"metadata": {"name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}}}
    group, plural = PLURAL[obj["kind"]]
    bindings = {b["spec"]["policyName"]: b["spec"] for b in manifests(plan, "ValidatingAdmissionPolicyBinding")}
    denied = []
    for vap in manifests(plan, "ValidatingAdmissionPolicy"):
        spec = vap["spec"]
        constraints = spec["matchConstraints"]
        if not constraints["namespaceSelector"]["matchLabels"].items() <= ns["metadata"].get("labels", {}).items():
            continue
        if not any(group in r["apiGroups"] and plural in r["resources"] for r in constraints["resourceRules"]):
            continue
        binding = bindings[vap["metadata"]["name"]]
        activation: dict[str, Any] = {"object": obj, "namespaceObject": ns, "variables": {}}
        if "paramRef" in binding:
            ref = binding["paramRef"]
            cm = next(c for c in manifests(plan, "ConfigMap")
                      if c["metadata"]["name"] == ref["name"] and c["metadata"]["namespace"] == ref["namespace"])
            activation["params"] = cm
        for var in spec.get("variables", []):
            activation["variables"][var["name"]] = _to_py(cel_eval(var["expression"], activation))
        if not all(cel_eval(c["expression"], activation) for c in spec.get("matchConditions", [])):
            continue
        for v in spec["validations"]:
            if not cel_eval(v["expression"], activation):
                message = v.get("message") or str(cel_eval(v["messageExpression"], activation))
                denied.append(f"{vap['metadata']['name']}: {message}")
    return denied


def _to_py(value):
    if isinstance(value, dict):
        return {str(k): _to_py(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_py(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def gpu_job(**spec) -> dict[str, Any]:
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "train", "namespace": RESEARCH, "labels": {"kueue.x-k8s.io/queue-name": "team-research"}},
        "spec": {"ttlSecondsAfterFinished": 3600, "activeDeadlineSeconds": 4 * 3600,
                 "template": {"spec": {"restartPolicy": "Never", "containers": [{
                     "name": "t", "image": "pytorch", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}},
    }
    job["spec"].update(spec)
    return job


def test_a_well_formed_gpu_job_is_admitted(dev_plan):
    assert admit(dev_plan, gpu_job()) == []


def test_a_gpu_job_without_queue_label_is_rejected(dev_plan):
    job = gpu_job()
    del job["metadata"]["labels"]
    denied = admit(dev_plan, job)
    assert len(denied) == 1 and "kueue.x-k8s.io/queue-name" in denied[0]


def test_a_job_without_ttl_or_deadline_is_rejected(dev_plan):
    job = gpu_job()
    del job["spec"]["ttlSecondsAfterFinished"], job["spec"]["activeDeadlineSeconds"]
    denied = admit(dev_plan, job)
    assert any("ttlSecondsAfterFinished" in d for d in denied)
    assert any("activeDeadlineSeconds" in d for d in denied)


def test_the_weekend_long_job_is_rejected_with_the_teams_limit(dev_plan):
    # research may run 12 h in dev; a 60 h job is refused, naming both numbers
    denied = admit(dev_plan, gpu_job(activeDeadlineSeconds=60 * 3600))
    assert denied == ["gpufleet-job-hygiene: spec.activeDeadlineSeconds is 216000s; this team allows at most 43200s"]
    assert admit(dev_plan, gpu_job(activeDeadlineSeconds=12 * 3600)) == []
    # the other team has its own limit (8 h)
    job = gpu_job(activeDeadlineSeconds=10 * 3600)
    job["metadata"]["namespace"] = "team-applied"
    assert len(admit(dev_plan, job, "team-applied")) == 1


def test_owned_jobs_and_cpu_jobs_and_other_namespaces_are_left_alone(dev_plan):
    owned = gpu_job()
    del owned["metadata"]["labels"], owned["spec"]["ttlSecondsAfterFinished"]
    owned["metadata"]["ownerReferences"] = [{"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
                                             "name": "x", "uid": "1"}]
    assert admit(dev_plan, owned) == []
    cpu = gpu_job()
    del cpu["metadata"]["labels"]
    cpu["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "2"}}
    assert admit(dev_plan, cpu) == []
    elsewhere = gpu_job()
    del elsewhere["metadata"]["labels"], elsewhere["spec"]["activeDeadlineSeconds"]
    assert admit(dev_plan, elsewhere, "kube-system") == []


def test_bare_pods_and_deployments_asking_for_mig_slices_need_a_queue(prod_plan):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": RESEARCH},
           "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/mig-1g.5gb": 1}}}]}}
    assert len(admit(prod_plan, pod)) == 1
    pod["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "team-research"}
    assert admit(prod_plan, pod) == []
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": RESEARCH},
              "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x",
                                                             "resources": {"requests": {"nvidia.com/gpu": 1}}}]}}}}
    assert len(admit(prod_plan, deploy)) == 1


def test_trainjobs_need_a_queue_and_a_deadline(dev_plan):
    tj = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
          "metadata": {"name": "t", "namespace": RESEARCH}, "spec": {"runtimeRef": {"name": "torch-distributed"}}}
    denied = admit(dev_plan, tj)
    assert len(denied) == 2
    ok = copy.deepcopy(tj)
    ok["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "team-research"}
    ok["spec"]["activeDeadlineSeconds"] = 3600
    assert admit(dev_plan, ok) == []


def test_policies_are_bound_with_the_configured_action_and_limits_live_outside_team_namespaces(any_stack_plan):
    bindings = manifests(any_stack_plan, "ValidatingAdmissionPolicyBinding")
    vaps = {v["metadata"]["name"] for v in manifests(any_stack_plan, "ValidatingAdmissionPolicy")}
    assert {b["spec"]["policyName"] for b in bindings} == vaps
    for b in bindings:
        assert b["spec"]["validationActions"] == [any_stack_plan.config.ml.admission]
        if "paramRef" in b["spec"]:
            assert b["spec"]["paramRef"]["namespace"] == "kube-system"
            assert b["spec"]["paramRef"]["parameterNotFoundAction"] == "Deny"
    limits = by_name(manifests(any_stack_plan, "ConfigMap"), "gpufleet-job-limits")["data"]
    assert limits == {t.namespace: str(t.max_job_hours * 3600) for t in any_stack_plan.config.teams}


@pytest.mark.parametrize("kind", ["Job", "TrainJob", "InferenceService"])
def test_every_queued_kind_is_covered_by_a_policy(dev_plan, kind):
    group, plural = PLURAL[kind]
    rules = [r for v in manifests(dev_plan, "ValidatingAdmissionPolicy") for r in v["spec"]["matchConstraints"]["resourceRules"]]
    assert any(group in r["apiGroups"] and plural in r["resources"] for r in rules)


def test_storage_grant_service_accounts_exist_in_the_team_namespaces(any_stack_plan):
    from gpufleet.modules.schema.storage import grants

    accounts = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in manifests(any_stack_plan, "ServiceAccount")}
    associations = {(r.inputs["namespace"], r.inputs["serviceAccount"])
                    for r in any_stack_plan.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")}
    for grant in grants(any_stack_plan.config):
        key = (any_stack_plan.config.team(grant.team).namespace, grant.service_account)
        assert key in accounts
        assert key in associations  # the storage layer binds its IAM role to the same account
