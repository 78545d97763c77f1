"""Day one on AWS (issue #9): who may call the Kubernetes API, in which order things boot,
and what a node really offers versus what the cluster-autoscaler believes.

Every rule is asserted on every pool of every shipped stack, not on one value.
"""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from gpufleet.modules.nodespec import ACCELERATOR_LABEL, CA_TEMPLATE

from .helpers import TEST_SOURCE, apply_edits, assert_one_line_error, render

NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
TAG = "aws:autoscaling/tag:Tag"
ADDON = "aws:eks/addon:Addon"
ASSOC = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def pools(plan):
    """(pool name, pool config or None for system) of every pool of a plan."""
    return [("system", None), *((p.name, p) for p in plan.config.pools.gpu)]


def template_tags(plan, pool: str) -> dict[str, str]:
    return {r.inputs["tag"]["key"]: r.inputs["tag"]["value"]
            for r in plan.by_type(TAG) if r.name.startswith(f"pool-{pool}-asg-")}


def user_data_parts(plan, pool: str) -> dict[str, str]:
    """The MIME parts of a pool's AL2023 user data, by content type."""
    text = base64.b64decode(plan.get(LT, f"pool-{pool}-lt").inputs["userData"]).decode()
    boundary = text.split('boundary="', 1)[1].split('"', 1)[0]
    parts = {}
    for chunk in text.split(f"--{boundary}")[1:]:
        if chunk.startswith("--"):
            break
        head, _, body = chunk.strip("\n").partition("\n\n")
        parts[head.split(":", 1)[1].split(";")[0].strip()] = body
    return parts


def node_config(plan, pool: str) -> dict:
    return yaml.safe_load(user_data_parts(plan, pool)["application/node.eks.aws"])


# ---------------------------------------------------------------- 1. who runs pulumi up


def test_the_deployer_gets_cluster_admin_and_the_provider_waits_for_it(any_stack_plan):
    deployer = any_stack_plan.config.cluster.deployer_arn
    grants = [r for r in any_stack_plan.by_type(ASSOC) if r.inputs["principalArn"] == deployer]
    assert len(grants) == 1
    assert grants[0].inputs["policyArn"] == ADMIN_POLICY and grants[0].inputs["accessScope"] == {"type": "cluster"}
    provider = any_stack_plan.get("pulumi:providers:kubernetes", "cluster-k8s")
    assert grants[0].urn in provider.options["depends_on"]


def test_every_kubernetes_resource_goes_through_the_provider_that_waits(any_stack_plan):
    provider = any_stack_plan.get("pulumi:providers:kubernetes", "cluster-k8s")
    for r in any_stack_plan.resources:
        if r.type.startswith("kubernetes:") and r.custom:
            assert r.provider and r.provider.startswith(provider.urn), r.urn


def test_a_deployer_that_is_also_an_admin_gets_one_entry():
    raw = apply_edits("prod", [("gpufleet:cluster.deployer_arn", "arn:aws:iam::444455556666:role/PlatformAdmin")])
    plan = render(raw)
    entries = [r.inputs["principalArn"] for r in plan.by_type("aws:eks/accessEntry:AccessEntry")]
    assert sorted(entries) == sorted(plan.config.cluster.admin_arns)
    grant = next(r for r in plan.by_type(ASSOC) if r.inputs["principalArn"].endswith("role/PlatformAdmin"))
    assert grant.urn in plan.get("pulumi:providers:kubernetes", "cluster-k8s").options["depends_on"]


@pytest.mark.parametrize("edits, key, expected", [
    ([("gpufleet:cluster.deployer_arn", None)], "gpufleet:cluster.deployer_arn", "the IAM role ARN that runs pulumi up"),
    ([("gpufleet:cluster.deployer_arn", "arn:aws:sts::111122223333:assumed-role/deploy/gh-1")],
     "gpufleet:cluster.deployer_arn", "not an assumed-role session ARN"),
])
def test_the_deployer_is_a_required_iam_principal(edits, key, expected):
    raw = apply_edits("dev", edits)
    if raw["gpufleet:cluster"]["deployer_arn"] is None:
        del raw["gpufleet:cluster"]["deployer_arn"]
        expected = "this required key to be set"
    assert_one_line_error(raw, TEST_SOURCE, key, expected)


def test_a_private_endpoint_needs_a_runner_inside_the_vpc():
    raw = apply_edits("prod", [("gpufleet:cluster.ci_runner", {"kind": "github-hosted"})])
    assert_one_line_error(raw, TEST_SOURCE, "gpufleet:cluster.ci_runner.kind",
                          "a private endpoint is reachable only from inside the VPC")


def test_runner_labels():
    from gpufleet.modules.schema.foundation import CiRunner

    assert CiRunner().runs_on() == ["ubuntu-latest"]
    assert CiRunner(kind="self-hosted", labels=["linux", "gpufleet-prod"]).runs_on() == [
        "self-hosted", "linux", "gpufleet-prod"]
    assert CiRunner(kind="codebuild", project="gpufleet-prod-runner").runs_on("42", "1") == [
        "codebuild-gpufleet-prod-runner-42-1"]


# ---------------------------------------------------------------- 2. node bootstrap


def test_every_node_group_boots_after_the_cni_is_configured(any_stack_plan):
    cni = next(r for r in any_stack_plan.by_type(ADDON) if r.inputs["addonName"] == "vpc-cni")
    assert json.loads(cni.inputs["configurationValues"])["env"]["ENABLE_PREFIX_DELEGATION"] == "true"
    for ng in any_stack_plan.by_type(NG):
        assert cni.urn in ng.options["depends_on"], ng.name


def test_coredns_keeps_its_identity_after_the_split(dev_plan):
    coredns = next(r for r in dev_plan.by_type(ADDON) if r.inputs["addonName"] == "coredns")
    assert any(a.endswith("::core-coredns") for a in coredns.aliases), coredns.aliases


def test_every_pool_reserves_memory_for_the_pods_it_runs(any_stack_plan):
    """nodeadm sizes kubeReserved from the ENI-slot pod count, so a pool that sets maxPods
    (every pool: prefix delegation) must set the reserve that matches: 11 x pods + 255 MiB."""
    for pool, _ in pools(any_stack_plan):
        kubelet = node_config(any_stack_plan, pool)["spec"]["kubelet"]["config"]
        pods = kubelet["maxPods"]
        assert kubelet["kubeReserved"]["memory"] == f"{11 * pods + 255}Mi", pool


def test_max_pods_is_what_eks_derives_in_prefix_mode(any_stack_plan):
    """Unless the system pool sets fewer (``pools.system.max_pods``, dev: 40)."""
    from gpufleet.modules import catalog

    for pool, cfg in pools(any_stack_plan):
        types = cfg.instance_types if cfg else any_stack_plan.config.pools.system.instance_types
        pods = node_config(any_stack_plan, pool)["spec"]["kubelet"]["config"]["maxPods"]
        for t in types:
            vcpu = catalog.instance_type(t).vcpu
            derived = 110 if vcpu < 30 else 250
            lower = any_stack_plan.config.pools.system.max_pods if cfg is None else None
            assert pods == (lower or derived) and pods <= derived, (pool, t)


def test_pool_types_that_would_take_different_pod_counts_are_refused():
    raw = apply_edits("dev", [("gpufleet:pools.system.instance_types", ["m7i.large", "m7i.8xlarge"])])
    assert_one_line_error(raw, TEST_SOURCE, "gpufleet:pools.system.instance_types[1]",
                          "the same pods per node as m7i.large")


# ------------------------------------------------- 3. the autoscaler's template node


def ready_node_gpu_resources(pool) -> dict[str, int]:
    """What the NVIDIA device plugin advertises on a ready node (independent of
    ``modules.node_model``): the mixed MIG strategy hides whole GPUs and advertises the
    slices; time-slicing multiplies GPUs by replicas."""
    from gpufleet.modules import catalog

    gpus = catalog.instance_type(pool.instance_types[0]).gpu_count
    if pool.sharing == "mig":
        layout = catalog.mig_layout(pool.mig_config, pool.gpu_model)
        return {"nvidia.com/gpu": 0, **{f"nvidia.com/mig-{p}": n * gpus for p, n in layout.items()}}
    if pool.sharing == "timeslice":
        return {"nvidia.com/gpu": gpus * pool.replicas}
    return {"nvidia.com/gpu": gpus}


def test_template_gpus_equal_what_the_ready_node_reports(any_stack_plan):
    from gpufleet.modules.node_model import template_capacity

    for pool in any_stack_plan.config.pools.gpu:
        tags = template_tags(any_stack_plan, pool.name)
        for t in pool.instance_types:
            template = template_capacity(t, tags)
            for resource, n in ready_node_gpu_resources(pool).items():
                assert template.get(resource) == n, (pool.name, t, resource)


def test_efa_pools_preallocate_the_huge_pages_their_template_offers(any_stack_plan):
    for pool in any_stack_plan.config.pools.gpu:
        tags = template_tags(any_stack_plan, pool.name)
        key = f"{CA_TEMPLATE}/resources/hugepages-2Mi"
        if not pool.efa:
            assert key not in tags
            continue
        script = user_data_parts(any_stack_plan, pool.name)["text/x-shellscript"]
        pages = int(script.split("vm.nr_hugepages=", 1)[1].split()[0])
        assert tags[key] == f"{pages * 2}Mi"
        assert tags[f"{CA_TEMPLATE}/resources/vpc.amazonaws.com/efa"] == str(pool.efa_interfaces)


def test_every_pool_offers_ephemeral_storage_and_pods_to_the_template(any_stack_plan):
    from gpufleet.modules import catalog
    from gpufleet.modules.node_model import template_capacity

    for pool, cfg in pools(any_stack_plan):
        tags = template_tags(any_stack_plan, pool) if cfg else {}
        if cfg is None:
            continue  # the system pool never scales from zero (min >= 1)
        eph = tags[f"{CA_TEMPLATE}/resources/ephemeral-storage"]
        assert eph.endswith("Gi")
        pods = node_config(any_stack_plan, pool)["spec"]["kubelet"]["config"]["maxPods"]
        assert tags[f"{CA_TEMPLATE}/resources/pods"] == str(pods)
        has_raid = "localStorage" in node_config(any_stack_plan, pool)["spec"].get("instance", {})
        smallest_nvme_gib = min(catalog.instance_type(t).nvme_gb for t in cfg.instance_types) * 1e9 / 2**30
        if has_raid:
            # scratch lives on the instance-store array, not the root volume
            assert int(eph[:-2]) > cfg.disk_gb and int(eph[:-2]) < smallest_nvme_gib
        else:
            assert int(eph[:-2]) < cfg.disk_gb
        for t in cfg.instance_types:
            assert template_capacity(t, tags)["ephemeral-storage"] == int(eph[:-2])


def test_gpu_pools_carry_the_accelerator_label_and_its_template_tag(any_stack_plan):
    for pool in any_stack_plan.config.pools.gpu:
        labels = any_stack_plan.get(NG, f"pool-{pool.name}-ng").inputs["labels"]
        assert labels[ACCELERATOR_LABEL] == f"nvidia-{pool.instance.gpu_name}"
        assert template_tags(any_stack_plan, pool.name)[f"{CA_TEMPLATE}/label/{ACCELERATOR_LABEL}"] == labels[
            ACCELERATOR_LABEL]
    system = any_stack_plan.get(NG, "pool-system-ng").inputs["labels"]
    assert ACCELERATOR_LABEL not in system


# ---------------------------------------------------------------- 6. IMDS


def test_ebs_node_plugin_reads_instance_metadata_while_pods_cannot(any_stack_plan):
    for lt in any_stack_plan.by_type(LT):
        assert lt.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    ebs = next(r for r in any_stack_plan.by_type(ADDON) if r.inputs["addonName"] == "aws-ebs-csi-driver")
    assert json.loads(ebs.inputs["configurationValues"])["node"]["hostNetwork"] is True
