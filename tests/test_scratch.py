"""Scratch and scale-from-zero (issue #9, section 4).

A pod whose PVC needs a local PV that no node has published yet never makes the
cluster-autoscaler add a node (kubernetes/autoscaler#1658), so:

- no pool that can be at zero (``min: 0``) is offered ``local-nvme`` local PVs; jobs there
  take scratch as an ``emptyDir`` with an ``ephemeral-storage`` request (on the NVMe RAID0,
  advertised to the autoscaler by the pool's node-template tag);
- where local PVs remain (always-on pools), the node-cleanup controller removes the PVs and
  claims of nodes that are gone, and it exists exactly when the ``local-nvme`` class does.

Every rule is read off the recorded plan (node groups' min sizes, the provisioner's node
affinity, the StorageClasses, the controller's objects), not off the config helpers.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet import plan as planner
from gpufleet.modules.k8s_quantity import parse_quantity
from gpufleet.modules.k8s_schema import manifest, validate_builtin
from gpufleet.modules.node_model import ephemeral_storage_gib
from gpufleet.modules.nodespec import CA_TEMPLATE, POOL_LABEL, gpu_spec
from gpufleet.modules.schema import storage as schema
from gpufleet.modules.storage import node_cleanup

from .conftest import shipped_plan
from .helpers import (DELETE, STACKS, TEST_SOURCE, apply_edits, assert_one_line_error, raw_config, render,
                      storage_classes, validate)

SRC = TEST_SOURCE
RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ASG_TAG = "aws:autoscaling/tag:Tag"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
GIB = 2 ** 30
EPHEMERAL_TAG = f"{CA_TEMPLATE}/resources/ephemeral-storage"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "trainjob-spot-checkpoints.yaml"
REASON = "a local PV cannot scale a pool from zero"
INSTEAD = "use an emptyDir scratch volume with an ephemeral-storage request"


def gpu_index(raw: dict[str, Any], pool: str) -> int:
    return [p["name"] for p in raw["gpufleet:pools"]["gpu"]].index(pool)


def always_on(stack: str, pool: str, extra: list[tuple[str, Any]] = ()) -> dict[str, Any]:
    """A shipped stack's config with ``pool`` kept running (min 1, always_on)."""
    i = gpu_index(raw_config(stack), pool)
    return apply_edits(stack, [(f"gpufleet:pools.gpu[{i}].min", 1), (f"gpufleet:pools.gpu[{i}].always_on", True),
                               *extra])


#: variants beside the shipped stacks: (id, raw config)
VARIANTS = {
    # a pool with NVMe that scales from zero (train-spot) next to an always-on one (shared-l4 is
    # at zero too): the default offers local PVs on the always-on pool only
    "dev-train-spot-always-on": lambda: always_on("dev", "train-spot", [("gpufleet:storage.scratch",
                                                                         {"volumes_per_node": 2})]),
    # staging's inference pool kept running: local PVs there, none on train-spot (min 0)
    "staging-infer-always-on": lambda: always_on("staging", "infer-l40s"),
    # prod without a storage section: the defaults alone
    "prod-default-storage": lambda: apply_edits("prod", [("gpufleet:storage", DELETE)]),
    # prod with local PVs switched off
    "prod-no-local-pvs": lambda: apply_edits("prod", [("gpufleet:storage.scratch", {"pools": []})]),
}
_variant_plans: dict[str, planner.Plan] = {}


def plan_of(case: str) -> planner.Plan:
    if case in STACKS:
        return shipped_plan(case)
    if case not in _variant_plans:
        _variant_plans[case] = render(VARIANTS[case]())
    return _variant_plans[case]


CASES = [*STACKS, *VARIANTS]


# ------------------------------------------------------------------ facts from the recorded plan

def pool_min_sizes(plan: planner.Plan) -> dict[str, int]:
    """Pool name -> the node group's recorded ``scalingConfig.minSize``."""
    return {r.inputs["labels"][POOL_LABEL]: r.inputs["scalingConfig"]["minSize"] for r in plan.by_type(NODE_GROUP)}


def local_pv_pools(plan: planner.Plan) -> list[str] | None:
    """The pools the local-static-provisioner runs on (its node affinity), None without it."""
    try:
        release = plan.get(RELEASE, "local-nvme-release")
    except KeyError:
        return None
    terms = release.inputs["values"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    pools: list[str] = []
    for term in terms:
        for expr in term["matchExpressions"]:
            assert expr["key"] == POOL_LABEL and expr["operator"] == "In", expr
            pools += expr["values"]
    return pools


def cleanup_objects(plan: planner.Plan) -> dict[str, dict]:
    """The node-cleanup controller's Kubernetes objects, by kind."""
    comp = [r for r in plan.resources if r.type == "gpufleet:storage:NodeCleanup"]
    if not comp:
        return {}
    (comp,) = comp
    return {r.type.rsplit(":", 1)[-1]: manifest(r.type, r.inputs) for r in plan.children(comp.urn)}


# ------------------------------------------------------------------ the rule

def assert_no_local_pv_on_a_pool_at_zero(plan: planner.Plan) -> None:
    mins = pool_min_sizes(plan)
    pools = local_pv_pools(plan)
    has_class = "local-nvme" in storage_classes(plan)
    # the class and its provisioner come together (a class without it leaves claims Pending)
    assert has_class is (pools is not None), (has_class, pools)
    for pool in pools or []:
        assert pool in mins, f"the provisioner targets {pool}, which is not a pool of the stack"
        assert mins[pool] >= 1, f"pool {pool} (min {mins[pool]}) is offered local PVs: a pod waiting " \
                                "for one would never scale the pool from zero"


@pytest.mark.parametrize("case", CASES)
def test_no_pool_that_can_be_at_zero_is_offered_local_pvs(case):
    assert_no_local_pv_on_a_pool_at_zero(plan_of(case))


def test_the_variants_exercise_both_sides_of_the_rule():
    """The rule is not vacuous: local PVs exist where a pool is always on, and a pool with
    NVMe at min 0 next to it gets none."""
    expected = {
        "prod": ["infer-l40s"],
        "dev": None,
        "staging": None,
        "dev-train-spot-always-on": ["train-spot"],
        "staging-infer-always-on": ["infer-l40s"],
        "prod-default-storage": ["infer-l40s"],
        "prod-no-local-pvs": None,
    }
    for case, pools in expected.items():
        plan = plan_of(case)
        assert local_pv_pools(plan) == pools, case
        assert plan.outputs["storage"]["scratch_pools"] == (pools or []), case
        at_zero_with_nvme = [p.name for p in plan.config.pools.gpu if p.min == 0 and p.has_nvme]
        assert at_zero_with_nvme, case  # every case has a pool with NVMe that scales from zero


@pytest.mark.parametrize("case", CASES)
def test_node_cleanup_controller_exists_exactly_with_the_local_nvme_class(case):
    plan = plan_of(case)
    objects = cleanup_objects(plan)
    assert bool(objects) is ("local-nvme" in storage_classes(plan))
    if not objects:
        assert not [r for r in plan.resources if r.name.startswith("local-nvme")]
        return
    version = plan.config.cluster.version
    assert set(objects) == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"}
    for obj in objects.values():
        assert validate_builtin(obj, version) == [], (obj["kind"], obj["metadata"]["name"])
    sa, role, binding, deploy = (objects[k] for k in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                                      "Deployment"))
    # in the provisioner's namespace, after it exists
    namespace = plan.get("kubernetes:core/v1:Namespace", "local-nvme-ns")
    assert sa["metadata"]["namespace"] == deploy["metadata"]["namespace"] == namespace.inputs["metadata"]["name"]
    sa_res = next(r for r in plan.resources if r.type == "kubernetes:core/v1:ServiceAccount"
                  and r.name == "local-nvme-node-cleanup-sa")
    assert namespace.urn in sa_res.depends_on
    # it may delete PVs and claims and watch nodes, bound to its own account
    rules = {(tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]}
    assert (("persistentvolumes", "persistentvolumeclaims"), ("get", "list", "watch", "delete")) in rules
    assert (("nodes",), ("get", "list", "watch")) in rules
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": sa["metadata"]["namespace"]}]
    # one pinned replica on the system pool, cleaning up exactly the local-nvme class
    spec = deploy["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert pod["nodeSelector"] == {POOL_LABEL: "system"}
    (c,) = pod["containers"]
    image, _, tag = c["image"].rpartition(":")
    assert image == "registry.k8s.io/sig-storage/local-volume-node-cleanup" and tag.startswith("v")
    assert tag not in ("latest", "canary")
    assert "--storageclass-names=local-nvme" in c["args"]
    assert f"--pvc-deletion-delay={node_cleanup.PVC_DELETION_DELAY_SECONDS}s" in c["args"]
    assert any(a.startswith("--stale-pv-discovery-interval=") for a in c["args"])
    # requests and a memory limit; non-root, read-only root, nothing to escalate
    assert set(c["resources"]["requests"]) == {"cpu", "memory"} and "memory" in c["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}


def test_cleanup_args_name_every_class_and_refuse_none():
    assert node_cleanup.controller_args(["local-nvme", "other"], 120)[:2] == [
        "--storageclass-names=local-nvme,other", "--pvc-deletion-delay=120s"]
    with pytest.raises(ValueError):
        node_cleanup.controller_args([])


# ------------------------------------------------------------------ config

@pytest.mark.parametrize("stack,pools,index,pool", [
    ("prod", ["infer-l40s", "train-a100"], 1, "train-a100"),   # prod's old scratch pool, min 0
    ("staging", ["train-spot"], 0, "train-spot"),              # staging's old scratch pool, min 0
])
def test_an_explicit_scratch_pool_at_zero_is_one_clear_error(stack, pools, index, pool):
    raw = apply_edits(stack, [("gpufleet:storage.scratch", {"pools": pools})])
    message = assert_one_line_error(raw, SRC, f"gpufleet:storage.scratch.pools[{index}]", f"got '{pool}'; expected ")
    assert "always-on pool (min ≥ 1, always_on: true" in message and f"{pool} has min 0" in message
    assert REASON in message and INSTEAD in message


def test_an_explicit_always_on_pool_is_accepted():
    cfg = validate(always_on("staging", "infer-l40s", [("gpufleet:storage.scratch", {"pools": ["infer-l40s"]})]))
    assert schema.scratch_pools(cfg) == ["infer-l40s"]


@pytest.mark.parametrize("on", list(itertools.product([False, True], repeat=2)),
                         ids=lambda on: "".join("01"[x] for x in on))
def test_default_scratch_pools_are_exactly_the_always_on_al2023_pools_with_nvme(on):
    """prod's training and inference pools (both with NVMe), each always on or not; the MIG
    pool stays at zero (and never gets local PVs)."""
    raw = raw_config("prod")
    names = ["train-a100", "infer-l40s"]
    edits: list[tuple[str, Any]] = [("gpufleet:storage.scratch", {})]
    for name, keep in zip(names, on):
        i = gpu_index(raw, name)
        edits += [(f"gpufleet:pools.gpu[{i}].min", 1 if keep else 0), (f"gpufleet:pools.gpu[{i}].always_on", keep)]
    cfg = validate(apply_edits("prod", edits))
    assert schema.scratch_pools(cfg) == [n for n in (p.name for p in cfg.pools.gpu) if dict(zip(names, on)).get(n)]


# ------------------------------------------------------------------ emptyDir scratch: the example

def example_trainjob() -> dict:
    return next(d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d and d["kind"] == "TrainJob")


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_example_scratch_is_an_emptydir_that_scales_its_pool_from_zero(stack):
    plan = shipped_plan(stack)
    tj = example_trainjob()
    job = tj["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    pod = job["template"]["spec"]["template"]["spec"]
    pool = plan.config.pool(pod["nodeSelector"][POOL_LABEL])
    assert pool_min_sizes(plan)[pool.name] == 0  # the pool it targets scales from zero ...
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v and v["persistentVolumeClaim"][
        "claimName"] not in {"llama-ft-checkpoints"}]  # ... so no local-PV claim: checkpoints only
    (scratch,) = [v for v in pod["volumes"] if "emptyDir" in v]
    mounts = pod["containers"][0]["volumeMounts"]
    assert any(m["name"] == scratch["name"] for m in mounts)
    size = parse_quantity(scratch["emptyDir"]["sizeLimit"])
    request = parse_quantity(tj["spec"]["trainer"]["resourcesPerNode"]["requests"]["ephemeral-storage"])
    # the request covers the scratch, a ready node has room for it, and the autoscaler's
    # template node (the pool's node-template tag) says so while the pool is at zero
    assert size < request <= ephemeral_storage_gib(gpu_spec(pool, plan.config.network.azs)) * GIB
    tags = [r.inputs["tag"] for r in plan.by_type(ASG_TAG) if r.name.startswith(f"pool-{pool.name}-")
            and r.inputs["tag"]["key"] == EPHEMERAL_TAG]
    assert len(tags) == 1 and request <= parse_quantity(tags[0]["value"])
    assert plan.outputs["storage"]["ephemeral_storage_gib"][pool.name] * GIB >= request
