"""Network and cluster: what the VPC and the EKS control plane are, in each shipped stack."""

from __future__ import annotations

import importlib
import inspect
import json
import re

import pytest

from gpufleet.modules.tags import REQUIRED_TAG_KEYS

from .conftest import shipped_plan

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
CLUSTER = "aws:eks/cluster:Cluster"


def test_a_private_and_a_public_subnet_per_az(any_stack_plan):
    azs = any_stack_plan.config.network.azs
    subnets = any_stack_plan.by_type(SUBNET)
    for tier, lb_tag in (("private", "kubernetes.io/role/internal-elb"), ("public", "kubernetes.io/role/elb")):
        mine = [s for s in subnets if s.name.startswith(f"network-{tier}-")]
        assert sorted(s.inputs["availabilityZone"] for s in mine) == sorted(azs)
        for s in mine:
            assert s.inputs["tags"][lb_tag] == "1"
            assert s.inputs["tags"][f"kubernetes.io/cluster/gpufleet-{any_stack_plan.stack}"] == "shared"
            assert s.inputs["mapPublicIpOnLaunch"] is False


@pytest.mark.parametrize("stack,nats", [("staging", 1), ("prod", 3)])
def test_nat_strategy(stack, nats):
    plan = shipped_plan(stack)
    assert len(plan.by_type(NAT)) == nats
    assert len(plan.by_type("aws:ec2/eip:Eip")) == nats
    private_rts = [r for r in plan.by_type("aws:ec2/routeTable:RouteTable") if "private" in r.name]
    nat_targets = {r.inputs["routes"][0]["natGatewayId"] for r in private_rts}
    assert len(nat_targets) == nats


def test_s3_gateway_endpoint_on_every_private_route_table(any_stack_plan):
    ep = any_stack_plan.get("aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3").inputs
    assert ep["vpcEndpointType"] == "Gateway"
    assert ep["serviceName"] == f"com.amazonaws.{any_stack_plan.config.region}.s3"
    assert len(ep["routeTableIds"]) == len(any_stack_plan.config.network.azs)


def test_cluster_is_hardened(any_stack_plan):
    eks = any_stack_plan.get(CLUSTER, "cluster-eks").inputs
    assert eks["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert eks["encryptionConfig"]["resources"] == ["secrets"]
    logs = set(eks["enabledClusterLogTypes"])
    if any_stack_plan.config.environment == "dev":
        assert logs == {"authenticator"}  # dev keeps the authenticator log only (README, "Cost")
    else:
        assert {"api", "audit", "authenticator"} <= logs
    # past standard support the cluster stays on its version (billed extended) instead of being
    # upgraded underneath Pulumi (a later `pulumi up` would ask for a downgrade)
    assert eks["upgradePolicy"] == {"supportType": "EXTENDED"}
    assert eks["vpcConfig"]["endpointPrivateAccess"] is True
    assert "0.0.0.0/0" not in eks["vpcConfig"].get("publicAccessCidrs", [])
    key = any_stack_plan.get("aws:kms/key:Key", "cluster-secrets").inputs
    assert key["enableKeyRotation"] is True


def test_prod_endpoint_is_private_dev_is_allowlisted():
    prod = shipped_plan("prod").get(CLUSTER, "cluster-eks").inputs["vpcConfig"]
    assert prod["endpointPublicAccess"] is False and "publicAccessCidrs" not in prod
    dev = shipped_plan("dev").get(CLUSTER, "cluster-eks").inputs["vpcConfig"]
    assert dev["endpointPublicAccess"] is True and dev["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_admin_access_entries(prod_plan):
    entries = {r.inputs["principalArn"] for r in prod_plan.by_type("aws:eks/accessEntry:AccessEntry")}
    cluster = prod_plan.config.cluster
    assert entries == {*cluster.admin_arns, cluster.deployer_arn}
    policies = prod_plan.by_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert {p.inputs["policyArn"] for p in policies} == {
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"}
    assert all(p.inputs["accessScope"] == {"type": "cluster"} for p in policies)


def test_core_addons_and_coredns_waits_for_nodes(dev_plan):
    addons = {r.inputs["addonName"]: r for r in dev_plan.by_type("aws:eks/addon:Addon")}
    assert {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"} <= set(addons)
    system_ng = dev_plan.get("aws:eks/nodeGroup:NodeGroup", "pool-system-ng").urn
    assert system_ng in addons["coredns"].options["depends_on"]
    assert '"enableNetworkPolicy": "true"' in addons["vpc-cni"].inputs["configurationValues"]


def test_kubernetes_provider_and_no_oidc_provider_without_irsa(any_stack_plan):
    # everything the platform installs uses EKS Pod Identity: an IRSA provider is opt-in
    assert not any_stack_plan.config.cluster.irsa
    assert not any_stack_plan.by_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert any_stack_plan.outputs["oidc_provider_arn"] is None
    assert any_stack_plan.get("pulumi:providers:kubernetes", "cluster-k8s")


def test_oidc_provider_when_irsa_is_asked_for():
    from .helpers import apply_edits, render

    raw = apply_edits("dev", [("gpufleet:cluster.irsa", True)])
    plan = render(raw)
    oidc = plan.get("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "cluster-oidc").inputs
    assert oidc["clientIdLists"] == ["sts.amazonaws.com"] and oidc["url"].startswith("https://oidc.eks.")
    assert plan.outputs["oidc_provider_arn"] not in (None, "")


def test_kubeconfig_is_secret(dev_plan):
    assert dev_plan.outputs["kubeconfig"] == "[secret]"


def _resource_class(token: str):
    pkg, mod_cls = token.split(":", 1)
    module, cls = mod_cls.split(":")
    module = module.split("/")[0]
    mod = importlib.import_module(f"pulumi_aws.{module}" if module != "index" else "pulumi_aws")
    return getattr(mod, cls)


def test_every_taggable_aws_resource_has_the_cost_tags(any_stack_plan):
    checked = 0
    for r in any_stack_plan.resources:
        if not r.type.startswith("aws:") or not r.custom:
            continue
        params = inspect.signature(_resource_class(r.type)._internal_init).parameters
        if "tags" not in params:
            continue
        checked += 1
        tags = r.inputs.get("tags", {})
        if isinstance(tags, list):  # an Auto Scaling group's tags: [{key, value, propagateAtLaunch}]
            tags = {t["key"]: t["value"] for t in tags}
        missing = [k for k in REQUIRED_TAG_KEYS if k not in tags]
        assert not missing, f"{r.name} ({r.type}) lacks {missing}"
        assert tags["env"] == any_stack_plan.config.environment
    assert checked > 20


def test_every_aws_resource_uses_the_explicit_provider_with_default_tags(any_stack_plan):
    provider = any_stack_plan.get("pulumi:providers:aws", "aws")
    default_tags = json.loads(provider.inputs["defaultTags"])["tags"]  # provider inputs are JSON on the wire
    assert {k: default_tags[k] for k in REQUIRED_TAG_KEYS} == any_stack_plan.config.tags.as_tags()
    for r in any_stack_plan.resources:
        if r.type.startswith("aws:"):
            assert r.options["provider"].startswith(provider.urn), r.name


def test_logical_names_are_meaningful_not_indices(any_stack_plan):
    for r in any_stack_plan.resources:
        assert not re.search(r"-\d+$", r.name), r.name
