"""GPU and system node pools: taints, labels, launch templates, scale-from-zero tags, EFA."""

from __future__ import annotations

import base64
import json

import yaml

from gpufleet.modules.nodespec import CA_TEMPLATE

NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
TAG = "aws:autoscaling/tag:Tag"


def asg_tags(plan, pool: str) -> dict[str, str]:
    return {r.inputs["tag"]["key"]: r.inputs["tag"]["value"]
            for r in plan.by_type(TAG) if r.name.startswith(f"pool-{pool}-asg-")}


def test_every_gpu_pool_carries_the_gpu_taint_and_nvidia_ami(any_stack_plan):
    for pool in any_stack_plan.config.pools.gpu:
        ng = any_stack_plan.get(NG, f"pool-{pool.name}-ng").inputs
        assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in ng["taints"]
        assert ng["amiType"] == "AL2023_x86_64_NVIDIA"
        assert ng["labels"]["gpufleet.io/pool"] == pool.name


def test_system_pool_has_no_taint_and_standard_ami(dev_plan):
    ng = dev_plan.get(NG, "pool-system-ng").inputs
    assert "taints" not in ng or ng["taints"] == []
    # dev's system pool is Graviton (t4g.medium, c7g.large): the AMI type follows the architecture
    assert ng["amiType"] == "AL2023_ARM_64_STANDARD"


def test_the_system_ami_type_follows_the_architecture(any_stack_plan):
    from gpufleet.modules import catalog

    ng = any_stack_plan.get(NG, "pool-system-ng").inputs
    archs = {catalog.instance_type(t).arch for t in ng["instanceTypes"]}
    assert len(archs) == 1
    assert ng["amiType"] == {"amd64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}[archs.pop()]


def test_launch_templates_are_hardened(any_stack_plan):
    for lt in any_stack_plan.by_type(LT):
        i = lt.inputs
        assert i["metadataOptions"]["httpTokens"] == "required"
        assert i["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert "keyName" not in i
        ebs = i["blockDeviceMappings"][0]["ebs"]
        assert ebs["encrypted"] == "true" and ebs["volumeType"] == "gp3"
        # nodes never get a public address; the NAT instance's primary interface is its way out
        nat = lt.name.startswith("network-nat")
        assert i["networkInterfaces"][0]["associatePublicIpAddress"] == ("true" if nat else "false")
        assert {t["resourceType"] for t in i["tagSpecifications"]} >= {"instance", "volume"}


def test_desired_size_is_left_to_the_autoscaler(any_stack_plan):
    scheduled = set(any_stack_plan.outputs["cost"]["scale_down"]["pools"])
    for ng in any_stack_plan.by_type(NG):
        # a scheduled pool's min and max belong to its scale-down actions (tests/test_schedule_ownership.py)
        owned = ["scalingConfig.minSize", "scalingConfig.maxSize"] if ng.inputs["nodeGroupName"] in scheduled else []
        assert ng.options["ignore_changes"] == ["scalingConfig.desiredSize", *owned]


def test_gpu_pools_scale_from_zero_unless_always_on(any_stack_plan):
    for pool in any_stack_plan.config.pools.gpu:
        sc = any_stack_plan.get(NG, f"pool-{pool.name}-ng").inputs["scalingConfig"]
        assert sc["minSize"] == (pool.min if pool.always_on else 0)


def test_timesliced_pool_labels_and_node_template(dev_plan):
    ng = dev_plan.get(NG, "pool-shared-l4-ng").inputs
    assert ng["labels"]["nvidia.com/device-plugin.config"] == "shared-l4"
    assert ng["labels"]["gpufleet.io/sharing"] == "timeslice"
    tags = asg_tags(dev_plan, "shared-l4")
    # 1 L4 per g6.xlarge, 4 replicas
    assert tags[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"] == "4"
    assert tags[f"{CA_TEMPLATE}/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert tags[f"{CA_TEMPLATE}/label/nvidia.com/device-plugin.config"] == "shared-l4"


def test_mig_pool_advertises_mig_slices_and_no_whole_gpus(prod_plan):
    ng = prod_plan.get(NG, "pool-mig-a100-ng").inputs
    assert ng["labels"]["nvidia.com/mig.config"] == "all-1g.5gb"
    tags = asg_tags(prod_plan, "mig-a100")
    # 8 A100 40GB x 7 1g.5gb slices; under the mixed strategy the node has no whole GPU
    assert tags[f"{CA_TEMPLATE}/resources/nvidia.com/mig-1g.5gb"] == "56"
    assert tags[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"] == "0"


def test_spot_pool_uses_spot_capacity(dev_plan):
    ng = dev_plan.get(NG, "pool-train-spot-ng").inputs
    assert ng["capacityType"] == "SPOT"
    assert len(ng["instanceTypes"]) >= 2
    assert ng["labels"]["gpufleet.io/capacity"] == "spot"


def test_nvme_pools_assemble_raid0(dev_plan):
    user_data = base64.b64decode(dev_plan.get(LT, "pool-shared-l4-lt").inputs["userData"]).decode()
    assert "kind: NodeConfig" in user_data and "strategy: RAID0" in user_data
    assert "Content-Type: application/node.eks.aws" in user_data


def test_system_pool_has_dense_pods_with_their_reserve_and_no_raid():
    user_data = base64.b64decode(dev_plan_lt("pool-system-lt")["userData"]).decode()
    node_config = yaml.safe_load(user_data.split("---\n", 1)[1].split("\n--", 1)[0])
    # dev sets pools.system.max_pods: 40 (t4g.medium takes 110 with prefix delegation): the
    # reserve follows the pod count, 11 x 40 + 255 MiB
    assert node_config == {"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig",
                           "spec": {"kubelet": {"config": {"maxPods": 40, "kubeReserved": {"memory": "695Mi"}}}}}


def test_prefix_delegation_is_on_for_the_pod_density_it_promises(dev_plan):
    cni = next(r for r in dev_plan.by_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "vpc-cni")
    assert json.loads(cni.inputs["configurationValues"])["env"]["ENABLE_PREFIX_DELEGATION"] == "true"


def dev_plan_lt(name: str) -> dict:
    from .conftest import shipped_plan

    return shipped_plan("dev").get(LT, name).inputs


def test_efa_pool_placement_single_az_and_interfaces(prod_plan):
    lt = prod_plan.get(LT, "pool-train-a100-lt").inputs
    assert lt["placement"]["groupName"] == "pool-train-a100-placement"
    efa = [ni for ni in lt["networkInterfaces"] if ni["interfaceType"] == "efa"]
    assert len(efa) == 4  # p4d.24xlarge: 4 EFA interfaces
    assert sorted(ni["networkCardIndex"] for ni in efa) == [0, 1, 2, 3]
    ng = prod_plan.get(NG, "pool-train-a100-ng").inputs
    assert ng["subnetIds"] == ["network-private-us-east-1a-id"]
    pg = prod_plan.get("aws:ec2/placementGroup:PlacementGroup", "pool-train-a100-placement").inputs
    assert pg["strategy"] == "cluster"
    rules = [r for r in prod_plan.resources if r.name.startswith("pool-train-a100-efa-")]
    assert {r.type for r in rules} == {"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                                       "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"}
    for rule in rules:
        assert rule.inputs["ipProtocol"] == "-1"
        assert rule.inputs["referencedSecurityGroupId"] == rule.inputs["securityGroupId"]
    assert asg_tags(prod_plan, "train-a100")[f"{CA_TEMPLATE}/resources/vpc.amazonaws.com/efa"] == "4"


def test_pools_are_independent(any_stack_plan):
    pool_urns = {r.urn for r in any_stack_plan.by_type(NG)}
    for ng in any_stack_plan.by_type(NG):
        assert not (set(ng.options["depends_on"]) & (pool_urns - {ng.urn}))


def test_every_resource_is_parented_to_a_component(any_stack_plan):
    urns = {r.urn for r in any_stack_plan.resources}
    top = [r for r in any_stack_plan.resources if r.parent not in urns]
    assert {r.type.split(":")[0] for r in top} <= {"gpufleet", "pulumi"}
