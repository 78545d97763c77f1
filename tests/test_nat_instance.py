"""``network.nat: instance`` (issue #12): one small NAT instance for non-prod, priced, and
refused in prod by config and by the policy pack."""

from __future__ import annotations

import base64
import json

import pytest

from gpufleet.modules import catalog
from gpufleet.modules.cost.model import estimate
from gpufleet.modules.nat_instance import AMI_PARAMETERS, ROOT_GB, user_data

from .helpers import TEST_SOURCE, apply_edits, assert_one_line_error, raw_config, render, validate
from .policy_support import check_stack, record

ENI = "aws:ec2/networkInterface:NetworkInterface"
ASG = "aws:autoscaling/group:Group"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
RT = "aws:ec2/routeTable:RouteTable"
P = catalog.on_demand_prices()["prices"]
U = catalog.load("unit-prices-us-east-1.json")["prices"]


def test_dev_reaches_the_internet_through_one_nat_instance(dev_plan):
    plan = dev_plan
    assert not plan.by_type("aws:ec2/natGateway:NatGateway") and not plan.by_type("aws:ec2/eip:Eip")
    [eni] = plan.by_type(ENI)
    assert eni.inputs["sourceDestCheck"] is False
    assert eni.inputs["subnetId"] == f"network-public-{plan.config.network.azs[0]}-id"  # the first AZ's public subnet
    # every private route table sends the default route to that fixed ENI (routes never change with the instance)
    private = [r for r in plan.by_type(RT) if r.name.startswith("network-private-")]
    assert len(private) == len(plan.config.network.azs)
    assert all(r.inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "networkInterfaceId": f"{eni.name}-id"}]
               for r in private)
    # its own security group: in from the VPC only, out anywhere
    ingress = [r.inputs for r in plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
               if r.inputs["securityGroupId"] == "network-nat-sg-id"]
    assert ingress == [{**ingress[0], "cidrIpv4": str(plan.config.network.cidr), "ipProtocol": "-1"}]
    assert eni.inputs["securityGroups"] == ["network-nat-sg-id"]


def test_the_nat_instance_heals_itself_in_an_asg_of_one(dev_plan):
    asg = dev_plan.get(ASG, "network-nat-asg").inputs
    assert (asg["minSize"], asg["maxSize"], asg["desiredCapacity"]) == (1, 1, 1)
    assert asg["vpcZoneIdentifiers"] == [f"network-public-{dev_plan.config.network.azs[0]}-id"]
    assert asg["healthCheckType"] == "EC2"
    assert {t["key"] for t in asg["tags"]} >= {"team", "cost-center", "env", "project"}
    lt = dev_plan.get(LT, "network-nat-lt").inputs
    assert lt["instanceType"] == "t4g.nano" and lt["creditSpecification"] == {"cpuCredits": "standard"}
    assert lt["imageId"].startswith("ami-0")  # the mock's answer to the public SSM parameter invoke
    assert lt["metadataOptions"]["httpTokens"] == "required" and lt["metadataOptions"]["httpPutResponseHopLimit"] == 1
    ebs = lt["blockDeviceMappings"][0]["ebs"]
    assert (ebs["volumeSize"], ebs["volumeType"], ebs["encrypted"]) == (ROOT_GB, "gp3", "true")
    assert lt["networkInterfaces"][0]["associatePublicIpAddress"] == "true" and "keyName" not in lt
    script = base64.b64decode(lt["userData"]).decode()
    assert "attach-network-interface" in script and "network-nat-eni-id" in script and "--device-index 1" in script
    assert "--no-source-dest-check" in script and "net.ipv4.ip_forward=1" in script
    assert f"-s {dev_plan.config.network.cidr} -j MASQUERADE" in script


def test_the_nat_role_may_touch_only_what_is_tagged_as_the_nat(dev_plan):
    policy = json.loads(dev_plan.get("aws:iam/rolePolicy:RolePolicy", "network-nat-role-inline").inputs["policy"])
    actions = {s["Action"] for s in policy["Statement"]}
    assert actions == {"ec2:AttachNetworkInterface", "ec2:ModifyInstanceAttribute"}
    assert all(s["Condition"] == {"StringEquals": {"aws:ResourceTag/gpufleet.io/role": "nat"}} for s in policy["Statement"])
    assert dev_plan.get(ENI, "network-nat-eni").inputs["tags"]["gpufleet.io/role"] == "nat"


def test_the_ami_follows_the_nat_instance_type_architecture():
    plan = render(apply_edits("dev", [("gpufleet:network.nat_instance_type", "t3a.nano")]))
    lt = plan.get(LT, "network-nat-lt").inputs
    assert lt["instanceType"] == "t3a.nano"
    assert AMI_PARAMETERS["amd64"].endswith("x86_64") and AMI_PARAMETERS["arm64"].endswith("arm64")
    dev = render(raw_config("dev")).get(LT, "network-nat-lt").inputs
    assert lt["imageId"] != dev["imageId"]  # a different parameter, so a different (mock) AMI


def test_user_data_is_a_script_that_fails_loudly():
    script = user_data("eni-123", "10.0.0.0/16")
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    assert "could not attach eni-123" in script and "\nnet.ipv4.ip_forward = 1\n" in script


def test_config_refuses_a_nat_instance_in_prod_and_its_type_without_it():
    assert_one_line_error(apply_edits("prod", [("gpufleet:network.nat", "instance")]), TEST_SOURCE,
                          "gpufleet:network.nat", "single or per_az in prod")
    assert_one_line_error(apply_edits("staging", [("gpufleet:network.nat_instance_type", "t4g.micro")]),
                          TEST_SOURCE, "gpufleet:network.nat_instance_type", "only with nat: instance")
    assert_one_line_error(apply_edits("dev", [("gpufleet:network.nat_instance_type", "g6.xlarge")]),
                          TEST_SOURCE, "gpufleet:network.nat_instance_type", "a CPU instance type")
    assert validate(apply_edits("staging", [("gpufleet:network.nat", "instance")])).nat == "instance"


def test_the_policy_pack_refuses_a_nat_instance_in_prod(dev_plan, prod_plan):
    assert check_stack("nat-gateways-in-prod", prod_plan.resources, {"environment": "prod"}) == []
    assert check_stack("nat-gateways-in-prod", dev_plan.resources, {"environment": "dev"}) == []
    # dev's network, as if a prod stack declared it (the pack reads the environment from the URNs)
    as_prod = [record(r.type, r.name, r.inputs, urn=r.urn.replace("urn:pulumi:dev::", "urn:pulumi:prod::"))
               for r in dev_plan.resources]
    [message] = check_stack("nat-gateways-in-prod", as_prod)
    assert message.startswith("a NAT instance in prod: network-nat-eni (network interface with sourceDestCheck off), "
                              "network-private-us-east-1a (default route to an instance or network interface)")


def test_the_nat_instance_is_priced_instead_of_a_gateway():
    est = estimate(validate(raw_config("dev")))
    network = {i.name: i for i in est.items if i.category == "network"}
    assert set(network) == {"NAT instance t4g.nano (on-demand, 30 GB without a per-GB charge)",
                            f"NAT instance root volume {ROOT_GB} GB gp3", "public IPv4 of the NAT instance"}
    assert sum(i.idle for i in network.values()) == pytest.approx(
        730 * (P["t4g.nano"] + U["public_ipv4_hour"]) + ROOT_GB * U["ebs_gp3_gb_month"], abs=0.01)
    gateway = estimate(validate(apply_edits("dev", [("gpufleet:network.nat", "single")])))
    saved = gateway.by_category("network")["idle"] - est.by_category("network")["idle"]
    assert saved == pytest.approx(30.49, abs=0.01)  # $37.85 of gateway, hour, GB and address, for $7.36
