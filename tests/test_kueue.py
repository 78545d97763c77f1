"""Kueue: flavors per pool, ClusterQueues per team from pool capacity, cohort, LocalQueues,
priorities, controller configuration; MIG and time-sliced pools end to end."""

from __future__ import annotations

import yaml

from gpufleet.modules import catalog
from gpufleet.modules.k8s_schema import validate_custom_resource
from gpufleet.modules.ml import quotas
from gpufleet.modules.ml.kueue import QUEUE_LABEL
from gpufleet.modules.nodespec import ACCELERATOR_LABEL, CA_TEMPLATE, flavor_labels, gpu_labels

from .helpers import raw_config, render
from .ml_helpers import by_name, cel_rule_count, cel_violations, manifests, release
from .test_nodepools import asg_tags

KUEUE_KINDS = ("ResourceFlavor", "ClusterQueue", "LocalQueue", "Cohort", "WorkloadPriorityClass")
NG = "aws:eks/nodeGroup:NodeGroup"
EKS_EFFECT = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


def kueue_objects(plan):
    return [o for o in manifests(plan) if o["apiVersion"].startswith("kueue.x-k8s.io/")]


def amount(resource: str, value) -> int:
    if resource == "cpu":
        return quotas.parse_cpu_millis(value)
    if resource == "memory":
        return quotas.parse_memory_mib(value)
    return int(value)


def quota_table(cq_or_cohort) -> dict[tuple[str, str], dict]:
    """(flavor, resource) -> the resource entry."""
    out = {}
    for group in cq_or_cohort["spec"]["resourceGroups"]:
        for flavor in group["flavors"]:
            for res in flavor["resources"]:
                out[(flavor["name"], res["name"])] = res
    return out


def test_every_kueue_object_is_v1beta2_and_valid_against_its_crd_and_cel_rules(any_stack_plan):
    objs = kueue_objects(any_stack_plan)
    assert {o["kind"] for o in objs} == set(KUEUE_KINDS)
    for obj in objs:
        assert obj["apiVersion"] == "kueue.x-k8s.io/v1beta2"
        assert validate_custom_resource(obj) == [], obj["metadata"]["name"]
    # CEL last: without cel-python the test stops (skips) here, after the schema checks
    assert sum(cel_rule_count(obj) for obj in objs) > 0
    for obj in objs:
        assert cel_violations(obj) == [], obj["metadata"]["name"]


def test_kueue_objects_wait_for_the_kueue_release(any_stack_plan):
    kueue = release(any_stack_plan, "kueue").urn
    for r in any_stack_plan.resources:
        if r.type.startswith("kubernetes:kueue.x-k8s.io/"):
            assert kueue in r.options["depends_on"], r.name


def test_one_flavor_per_pool_with_the_pools_labels_and_tolerations_for_its_taints(any_stack_plan):
    flavors = manifests(any_stack_plan, "ResourceFlavor")
    cfg = any_stack_plan.config
    assert sorted(f["metadata"]["name"] for f in flavors) == sorted(p.name for p in cfg.pools.gpu)
    for pool in cfg.pools.gpu:
        flavor = by_name(flavors, pool.name)
        ng = any_stack_plan.get(NG, f"pool-{pool.name}-ng").inputs
        # the flavor selects the pool's nodes by the labels that identify them; labels that
        # configure node software (MIG config, device-plugin config, ...) stay on the nodes
        assert ng["labels"] == {**gpu_labels(pool), ACCELERATOR_LABEL: f"nvidia-{pool.instance.gpu_name}"}
        assert flavor["spec"]["nodeLabels"] == flavor_labels(ng["labels"])
        assert flavor["spec"]["nodeLabels"]["gpufleet.io/pool"] == pool.name
        assert all(ng["labels"][k] == v for k, v in flavor["spec"]["nodeLabels"].items())
        for taint in ng["taints"]:
            effect = EKS_EFFECT[taint["effect"]]
            assert any(t["key"] == taint["key"] and t["effect"] == effect
                       and (t["operator"] == "Exists" or t.get("value") == taint["value"])
                       for t in flavor["spec"]["tolerations"]), taint


def test_spot_and_on_demand_pools_are_different_flavors(prod_plan):
    flavors = manifests(prod_plan, "ResourceFlavor")
    spot = by_name(flavors, "train-a100")["spec"]["nodeLabels"]
    on_demand = by_name(flavors, "infer-l40s")["spec"]["nodeLabels"]
    assert spot["gpufleet.io/capacity"] == "spot" and on_demand["gpufleet.io/capacity"] == "on-demand"
    # the order Kueue tries flavors: spot first
    cq = by_name(manifests(prod_plan, "ClusterQueue"), "team-applied")
    names = [f["name"] for f in cq["spec"]["resourceGroups"][0]["flavors"]]
    assert names.index("train-a100") < names.index("infer-l40s")


def test_cluster_queue_per_team_in_one_cohort_with_preemption(any_stack_plan):
    cfg = any_stack_plan.config
    cqs = manifests(any_stack_plan, "ClusterQueue")
    cohort = manifests(any_stack_plan, "Cohort")
    assert sorted(c["metadata"]["name"] for c in cqs) == sorted(t.queue for t in cfg.teams if t.shares)
    assert [c["metadata"]["name"] for c in cohort] == [cfg.ml.kueue.cohort]
    for cq in cqs:
        spec = cq["spec"]
        assert spec["cohortName"] == cfg.ml.kueue.cohort
        assert spec["preemption"] == {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Any"}


def test_cluster_queues_follow_kueues_webhook_rules(any_stack_plan):
    """Rules Kueue's webhook enforces that neither the schema nor CEL covers."""
    for cq in manifests(any_stack_plan, "ClusterQueue") + manifests(any_stack_plan, "Cohort"):
        seen_flavors, seen_resources = set(), set()
        for group in cq["spec"]["resourceGroups"]:
            covered = group["coveredResources"]
            assert not seen_resources & set(covered)
            seen_resources |= set(covered)
            for flavor in group["flavors"]:
                assert flavor["name"] not in seen_flavors
                seen_flavors.add(flavor["name"])
                assert [r["name"] for r in flavor["resources"]] == covered
                for res in flavor["resources"]:
                    if "lendingLimit" in res:
                        assert amount(res["name"], res["lendingLimit"]) <= amount(res["name"], res["nominalQuota"])
                    if "borrowingLimit" in res or "lendingLimit" in res:
                        assert cq["kind"] == "Cohort" or cq["spec"].get("cohortName")


def test_quotas_never_exceed_pool_capacity(any_stack_plan):
    """Per pool and resource: every team's nominal quota plus the cohort's own never add up
    to more than max nodes × what one node offers (GPU resources from the node-template
    tags the autoscaler reads, cpu/memory from the catalog's allocatable)."""
    cfg = any_stack_plan.config
    tables = [quota_table(o) for o in manifests(any_stack_plan, "ClusterQueue") + manifests(any_stack_plan, "Cohort")]
    for pool in cfg.pools.gpu:
        tags = asg_tags(any_stack_plan, pool.name)
        per_node = {k.split("/resources/", 1)[1]: int(v) for k, v in tags.items()
                    if k.startswith(f"{CA_TEMPLATE}/resources/nvidia.com/")}
        types = [catalog.instance_type(t) for t in pool.instance_types]
        per_node["cpu"] = min(quotas.parse_cpu_millis(t.allocatable["cpu"]) for t in types)
        per_node["memory"] = min(quotas.parse_memory_mib(t.allocatable["memory"]) for t in types)
        for resource, per in per_node.items():
            total = sum(amount(resource, t[(pool.name, resource)]["nominalQuota"])
                        for t in tables if (pool.name, resource) in t)
            assert total <= pool.max * per, (pool.name, resource, total, pool.max * per)
        # nothing of a GPU resource the pool does not have
        for t in tables:
            for (flavor, resource), res in t.items():
                if flavor == pool.name and resource not in per_node:
                    assert amount(resource, res["nominalQuota"]) == 0


def test_nominal_quota_is_the_teams_share_of_capacity(dev_plan):
    cfg = dev_plan.config
    research = quota_table(by_name(manifests(dev_plan, "ClusterQueue"), "team-research"))
    # train-spot: 2 nodes × 4 L4; research holds 60 % -> floor(4.8) = 4
    assert research[("train-spot", "nvidia.com/gpu")]["nominalQuota"] == 4
    # shared-l4: 2 nodes × 1 L4 × 4 time-slices; research holds 50 % -> 4
    assert research[("shared-l4", "nvidia.com/gpu")]["nominalQuota"] == 4
    node_cpu = quotas.parse_cpu_millis("47810m") - cfg.ml.kueue.node_reserved_cpu_millis  # g6.12xlarge, the smaller type
    assert amount("cpu", research[("train-spot", "cpu")]["nominalQuota"]) == 2 * node_cpu * 60 // 100


def test_mig_pool_end_to_end(prod_plan):
    """mig-a100 (p4d, all-1g.5gb): node label -> autoscaler template -> flavor -> queues."""
    pool = prod_plan.config.pool("mig-a100")
    ng = prod_plan.get(NG, "pool-mig-a100-ng").inputs
    assert ng["labels"]["nvidia.com/mig.config"] == "all-1g.5gb"
    slices = 7 * 8  # seven 1g.5gb slices per A100 40GB, eight GPUs per p4d
    assert asg_tags(prod_plan, "mig-a100")[f"{CA_TEMPLATE}/resources/nvidia.com/mig-1g.5gb"] == str(slices)
    flavor = by_name(manifests(prod_plan, "ResourceFlavor"), "mig-a100")
    # the flavor selects the pool's nodes; the MIG config label stays a node-only label
    assert flavor["spec"]["nodeLabels"]["gpufleet.io/pool"] == "mig-a100"
    assert "nvidia.com/mig.config" not in flavor["spec"]["nodeLabels"]
    total = 0
    for team in prod_plan.config.teams:
        if "mig-a100" not in team.shares:
            continue
        cq = by_name(manifests(prod_plan, "ClusterQueue"), team.queue)
        assert "nvidia.com/mig-1g.5gb" in cq["spec"]["resourceGroups"][0]["coveredResources"]
        table = quota_table(cq)
        mig = table[("mig-a100", "nvidia.com/mig-1g.5gb")]["nominalQuota"]
        assert mig == pool.max * slices * team.shares["mig-a100"] // 100
        # no whole GPUs on the MIG flavor (the MIG-at-boot race cannot hand one out)
        assert table[("mig-a100", "nvidia.com/gpu")]["nominalQuota"] == 0
        total += mig
    assert total <= pool.max * slices


def test_timesliced_pool_end_to_end(dev_plan):
    """shared-l4 (4 replicas): node label -> device-plugin config key -> flavor -> queues."""
    ng = dev_plan.get(NG, "pool-shared-l4-ng").inputs
    key = ng["labels"]["nvidia.com/device-plugin.config"]
    cm = by_name(manifests(dev_plan, "ConfigMap"), "gpufleet-device-plugin")
    config = yaml.safe_load(cm["data"][key])
    assert config["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    flavor = by_name(manifests(dev_plan, "ResourceFlavor"), "shared-l4")
    assert flavor["spec"]["nodeLabels"]["gpufleet.io/pool"] == "shared-l4" == key
    assert asg_tags(dev_plan, "shared-l4")[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"] == "4"
    for cq in manifests(dev_plan, "ClusterQueue"):
        assert quota_table(cq)[("shared-l4", "nvidia.com/gpu")]["nominalQuota"] == 4  # 50 % of 2 × 4


def test_cohort_holds_what_no_team_is_guaranteed(prod_plan):
    cohort = quota_table(manifests(prod_plan, "Cohort")[0])
    cqs = [quota_table(c) for c in manifests(prod_plan, "ClusterQueue")]
    # train-a100: 4 × 8 = 32 GPUs; research 60 % -> 19, applied 40 % -> 12: one GPU left in the cohort
    assert sum(t[("train-a100", "nvidia.com/gpu")]["nominalQuota"] for t in cqs) == 31
    assert cohort[("train-a100", "nvidia.com/gpu")]["nominalQuota"] == 1


def test_local_queue_per_team_namespace_and_queues_limited_to_it(any_stack_plan):
    namespaces = {n["metadata"]["name"]: n for n in manifests(any_stack_plan, "Namespace")}
    cqs = manifests(any_stack_plan, "ClusterQueue")
    lqs = manifests(any_stack_plan, "LocalQueue")
    for team in any_stack_plan.config.teams:
        lq = by_name(lqs, team.queue)
        assert lq["metadata"]["namespace"] == team.namespace
        assert lq["spec"]["clusterQueue"] == team.queue
        selector = by_name(cqs, team.queue)["spec"]["namespaceSelector"]["matchLabels"]
        labels = {**namespaces[team.namespace]["metadata"]["labels"], "kubernetes.io/metadata.name": team.namespace}
        assert selector.items() <= labels.items()
        assert any(selector.items() <= {**n["metadata"].get("labels", {}), "kubernetes.io/metadata.name": name}.items()
                   for name, n in namespaces.items() if name != team.namespace) is False


def test_workload_priority_classes_rank_inference_over_training_over_experiments(any_stack_plan):
    wpcs = {w["metadata"]["name"]: w["value"] for w in manifests(any_stack_plan, "WorkloadPriorityClass")}
    assert wpcs["inference"] > wpcs["training"] > wpcs["experiments"]


def kueue_config(plan) -> dict:
    values = release(plan, "kueue").inputs["values"]
    return yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])


def test_kueue_config_enables_the_integrations_the_platform_uses(dev_plan):
    config = kueue_config(dev_plan)
    frameworks = config["integrations"]["frameworks"]
    assert {"batch/job", "trainer.kubeflow.org/trainjob", "deployment", "pod"} <= set(frameworks)
    assert "kubeflow.org/pytorchjob" not in frameworks
    assert config["managedJobsNamespaceSelector"] == {"matchLabels": {"gpufleet.io/tenant": "team"}}
    assert config["manageJobsWithoutQueueName"] is False
    # EFA interfaces are not a quota: jobs that ask for them stay admissible
    assert "vpc.amazonaws.com/" in config["resources"]["excludeResourcePrefixes"]
    team_ns = by_name(manifests(dev_plan, "Namespace"), "team-research")["metadata"]["labels"]
    assert config["managedJobsNamespaceSelector"]["matchLabels"].items() <= team_ns.items()


def test_kueue_config_uses_only_fields_of_the_charts_configuration():
    from gpufleet.modules.k8s_schema import chart_defaults

    template = chart_defaults("kueue-0.19.2.json")["managerConfig"]["controllerManagerConfigYaml"]
    known = {line.lstrip("#").split(":")[0].strip() for line in template.splitlines() if ":" in line}
    cfg = kueue_config(shipped_dev())
    for key, value in cfg.items():
        assert key in known, key
        if isinstance(value, dict):
            for sub in value:
                assert sub in known or key in ("controller", "managedJobsNamespaceSelector"), f"{key}.{sub}"


def shipped_dev():
    from .conftest import shipped_plan

    return shipped_plan("dev")


def test_pytorchjob_option_enables_its_kueue_integration_and_the_v1_operator():
    raw = raw_config("dev")
    raw["gpufleet:ml"] = {"training": "pytorchjob", "kserve": False, "kueue": {
        "borrowing_limit_percent": 50, "lending_limit_percent": 80}}
    raw["gpufleet:teams"][0]["ceilings"] = {"train-spot": 80}
    plan = render(raw)
    frameworks = kueue_config(plan)["integrations"]["frameworks"]
    assert "kubeflow.org/pytorchjob" in frameworks and "trainer.kubeflow.org/trainjob" not in frameworks
    overlay = plan.by_type("kubernetes:kustomize/v2:Directory")
    assert len(overlay) == 1 and overlay[0].inputs["directory"].endswith("/v1.9.0/manifests/overlays/standalone")
    # Kueue starts after the operator's CRDs
    assert overlay[0].urn in release(plan, "kueue").options["depends_on"]
    assert not [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.name.startswith(("kubeflow-trainer", "kserve"))]
    # borrowing and lending limits: valid, and within the rules Kueue enforces
    cqs = manifests(plan, "ClusterQueue")
    assert all(validate_custom_resource(cq) == [] for cq in cqs)
    research = quota_table(by_name(cqs, "team-research"))
    applied = quota_table(by_name(cqs, "team-applied"))
    gpu = research[("train-spot", "nvidia.com/gpu")]
    assert (gpu["nominalQuota"], gpu["borrowingLimit"], gpu["lendingLimit"]) == (4, 2, 3)  # ceiling 80 % of 8 = 6
    gpu = applied[("train-spot", "nvidia.com/gpu")]
    assert (gpu["nominalQuota"], gpu["borrowingLimit"], gpu["lendingLimit"]) == (3, 4, 2)  # 50 % of 8, 80 % of 3
    # admission: PyTorchJobs need a queue and runPolicy deadlines; there are no TrainJob rules
    vaps = {v["metadata"]["name"] for v in manifests(plan, "ValidatingAdmissionPolicy")}
    assert "gpufleet-pytorchjob-deadline" in vaps and "gpufleet-trainjob-deadline" not in vaps
    from .test_ml_teams import admit

    job = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
           "metadata": {"name": "p", "namespace": "team-research", "labels": {QUEUE_LABEL: "team-research"}},
           "spec": {"runPolicy": {"ttlSecondsAfterFinished": 600, "activeDeadlineSeconds": 3600}}}
    assert all(cel_violations(cq) == [] for cq in cqs)  # last: skips without cel-python
    assert admit(plan, job) == []
    job["spec"]["runPolicy"]["activeDeadlineSeconds"] = 13 * 3600  # research: 12 h in dev
    del job["metadata"]["labels"]
    assert len(admit(plan, job)) == 2


def test_borrow_only_team_gets_a_queue_with_zero_guarantee_and_the_cohort_keeps_the_pool():
    raw = raw_config("dev")
    raw["gpufleet:teams"] = [{"name": "interns", "shares": {"shared-l4": 0}, "max_job_hours": 2}]
    plan = render(raw)
    cq = quota_table(by_name(manifests(plan, "ClusterQueue"), "team-interns"))
    assert {res["nominalQuota"] for res in cq.values()} <= {0, "0", "0Mi"}
    cohort = quota_table(manifests(plan, "Cohort")[0])
    assert cohort[("shared-l4", "nvidia.com/gpu")]["nominalQuota"] == 8  # all of it, to borrow
    assert [f["metadata"]["name"] for f in manifests(plan, "ResourceFlavor")] == ["shared-l4", "train-spot"]
    objs = kueue_objects(plan)
    assert all(validate_custom_resource(obj) == [] for obj in objs)
    assert all(cel_violations(obj) == [] for obj in objs)  # last: skips without cel-python


def test_no_queue_objects_without_teams_or_shares():
    from gpufleet.modules.ml import kueue as kq
    from gpufleet.modules.schema.teams import Team

    from .helpers import validate

    cfg = validate(raw_config("dev")).model_copy(update={"teams": []})
    assert kq.cohort(cfg) is None
    assert kq.cluster_queue(cfg, Team(name="nobody")) is None
    assert quotas.team_ceiling(cfg, Team(name="nobody")) == {}
    assert quotas.largest_node(cfg, Team(name="nobody")) is None


def test_the_cel_check_catches_what_kueue_would_refuse(prod_plan):
    """The rules are really evaluated: a queue that borrows without a cohort, a flavor
    missing a covered resource and an Exists toleration with a value are refused."""
    import copy

    cq = copy.deepcopy(by_name(manifests(prod_plan, "ClusterQueue"), "team-research"))
    del cq["spec"]["cohortName"]
    cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["borrowingLimit"] = 1
    cq["spec"]["resourceGroups"][0]["flavors"][1]["resources"].pop()
    flavor = copy.deepcopy(manifests(prod_plan, "ResourceFlavor")[0])
    flavor["spec"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "value": "true"}]
    assert validate_custom_resource(cq) == [] and validate_custom_resource(flavor) == []  # the schema alone passes
    messages = cel_violations(cq) + cel_violations(flavor)
    assert any("borrowingLimit must be nil when cohort is empty" in m for m in messages)
    assert any("same number of resources as the coveredResources" in m for m in messages)
    assert any("a value must be empty when 'operator' is 'Exists'" in m for m in messages)
