"""examples/: every document validates against its schema and fits the stack it targets:
queue, priority, pool, quota, storage class, admission policies."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gpufleet.modules.k8s_schema import has_crd_schema, validate_builtin, validate_custom_resource
from gpufleet.modules.ml import quotas
from gpufleet.modules.ml.kueue import EXCLUDED_RESOURCE_PREFIXES
from gpufleet.modules.ml.serving import inference_pdb
from gpufleet.modules.ml.training import TORCH_RUNTIME

from .conftest import shipped_plan
from .ml_helpers import by_name, cel_violations, manifests
from .test_kueue import quota_table
from .test_ml_teams import admit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TRAINJOB = EXAMPLES / "trainjob-spot-checkpoints.yaml"
ISVC = EXAMPLES / "inferenceservice-mig.yaml"


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def one(path: Path, kind: str) -> dict:
    return next(d for d in docs(path) if d["kind"] == kind)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_document_validates(path):
    version = shipped_plan("dev").config.cluster.version
    custom = [d for d in docs(path) if has_crd_schema(d["apiVersion"], d["kind"])]
    for doc in docs(path):
        if doc in custom:
            assert validate_custom_resource(doc) == []
        else:
            assert validate_builtin(doc, version) == []
    for doc in custom:  # last: skips without cel-python
        assert cel_violations(doc) == []


def test_examples_cover_training_and_serving():
    assert {d["kind"] for p in EXAMPLES.glob("*.yaml") for d in docs(p)} >= {"TrainJob", "InferenceService",
                                                                              "PersistentVolumeClaim"}


def requests_of(resources: dict) -> dict[str, int]:
    out = {}
    for section in ("limits", "requests"):
        for name, value in (resources.get(section) or {}).items():
            out[name] = quotas.parse_cpu_millis(value) if name == "cpu" else \
                quotas.parse_memory_mib(value) if name in ("memory", "ephemeral-storage") else int(value)
    return out


def pod_spec_patch(trainjob: dict) -> dict:
    job = trainjob["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    return job["template"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_trainjob_fits_the_spot_pool_and_the_teams_queue(stack):
    plan = shipped_plan(stack)
    tj = one(TRAINJOB, "TrainJob")
    ns = tj["metadata"]["namespace"]
    team = next(t for t in plan.config.teams if t.namespace == ns)
    labels = tj["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == by_name(manifests(plan, "LocalQueue"), team.queue)["metadata"]["name"]
    assert labels["kueue.x-k8s.io/priority-class"] in {w["metadata"]["name"] for w in manifests(plan, "WorkloadPriorityClass")}
    # the runtime the platform creates (a ClusterTrainingRuntime the plan declares)
    assert tj["spec"]["runtimeRef"]["name"] == TORCH_RUNTIME
    assert TORCH_RUNTIME in {r["metadata"]["name"] for r in manifests(plan, "ClusterTrainingRuntime")}
    # the spot pool's flavor, and room in the team's quota on it
    pool = pod_spec_patch(tj)["nodeSelector"]["gpufleet.io/pool"]
    flavor = by_name(manifests(plan, "ResourceFlavor"), pool)
    assert flavor["spec"]["nodeLabels"]["gpufleet.io/capacity"] == "spot"
    table = quota_table(by_name(manifests(plan, "ClusterQueue"), team.queue))
    asked = requests_of(tj["spec"]["trainer"]["resourcesPerNode"])
    nodes = tj["spec"]["trainer"]["numNodes"]
    for resource, n in asked.items():
        if resource.startswith(tuple(EXCLUDED_RESOURCE_PREFIXES)):
            continue  # Kueue does not quota it (excludeResourcePrefixes): ephemeral-storage
        entry = table[(pool, resource)]
        value = entry["nominalQuota"]
        nominal = quotas.parse_cpu_millis(value) if resource == "cpu" else \
            quotas.parse_memory_mib(value) if resource == "memory" else int(value)
        assert n * nodes <= nominal, (resource, n, nominal)
    # no container larger than the namespace allows
    limit_max = next(o for o in manifests(plan, "LimitRange") if o["metadata"]["namespace"] == ns)["spec"]["limits"][0]["max"]
    assert asked["cpu"] <= quotas.parse_cpu_millis(limit_max["cpu"])
    assert asked["memory"] <= quotas.parse_memory_mib(limit_max["memory"])
    # within the team's deadline, and every admission policy agrees
    assert tj["spec"]["activeDeadlineSeconds"] <= team.max_job_hours * 3600
    assert admit(plan, tj, ns) == []


def test_trainjob_checkpoints_to_a_pvc_of_the_checkpoints_class(dev_plan):
    pvc = one(TRAINJOB, "PersistentVolumeClaim")
    tj = one(TRAINJOB, "TrainJob")
    classes = {c["metadata"]["name"] for c in manifests(dev_plan, "StorageClass")}
    assert pvc["spec"]["storageClassName"] in classes
    assert pvc["spec"]["storageClassName"] == "checkpoints"
    patch = pod_spec_patch(tj)
    volume = next(v for v in patch["volumes"] if v["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"])
    mounts = patch["containers"][0]["volumeMounts"]
    assert any(m["name"] == volume["name"] and m["mountPath"] == "/checkpoints" for m in mounts)
    assert "--checkpoint-dir=/checkpoints" in tj["spec"]["trainer"]["command"]
    # it runs as the service account the bucket grants give S3 access
    accounts = {(a["metadata"]["namespace"], a["metadata"]["name"]) for a in manifests(dev_plan, "ServiceAccount")}
    assert (tj["metadata"]["namespace"], patch["serviceAccountName"]) in accounts


def test_inference_service_lands_on_the_mig_pool_within_the_teams_queue(prod_plan):
    isvc = one(ISVC, "InferenceService")
    ns = isvc["metadata"]["namespace"]
    team = next(t for t in prod_plan.config.teams if t.namespace == ns)
    predictor = isvc["spec"]["predictor"]
    pool = predictor["nodeSelector"]["gpufleet.io/pool"]
    assert prod_plan.config.pool(pool).sharing == "mig"
    flavor = by_name(manifests(prod_plan, "ResourceFlavor"), pool)
    for tol in flavor["spec"]["tolerations"]:
        assert tol in predictor["tolerations"]
    asked = requests_of(predictor["model"]["resources"])
    mig = [r for r in asked if r.startswith("nvidia.com/mig-")]
    assert mig == ["nvidia.com/mig-1g.5gb"]
    table = quota_table(by_name(manifests(prod_plan, "ClusterQueue"), team.queue))
    assert predictor["minReplicas"] * asked[mig[0]] <= table[(pool, mig[0])]["nominalQuota"]
    assert predictor["priorityClassName"] in {p["metadata"]["name"] for p in manifests(prod_plan, "PriorityClass")}
    assert isvc["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == team.queue
    # the platform's inference defaults say the same
    serving = prod_plan.outputs["ml_platform"]["serving"]
    assert serving["pool"] == pool and serving["priorityClassName"] == predictor["priorityClassName"]
    assert admit(prod_plan, isvc, ns) == []  # last: skips without cel-python


def test_inference_service_with_two_replicas_gets_a_valid_pdb(prod_plan):
    isvc = one(ISVC, "InferenceService")
    pdb = inference_pdb(isvc)
    assert validate_builtin(pdb, prod_plan.config.cluster.version) == []
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["serving.kserve.io/inferenceservice"] == isvc["metadata"]["name"]
    single = {**isvc, "spec": {"predictor": {**isvc["spec"]["predictor"], "minReplicas": 1}}}
    assert inference_pdb(single) is None
