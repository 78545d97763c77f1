"""``NatInstance``: one small NAT instance for a non-prod VPC (``network.nat: instance``).

A NAT gateway bills about $33 a month before any traffic, most of a dev stack's network
line; an instance doing the same with iptables costs a few dollars. What it gives up is
capacity and redundancy: its bandwidth is the instance type's (t4g.nano: 32 Mbit/s
baseline, bursting while network credits last) and there is no standby, so the policy pack
and config keep prod on NAT gateways.

The shape, simplest first:

- **A fixed ENI** in the first AZ's public subnet, source/destination check off, with its
  own security group (ingress from the VPC CIDR only). The private route tables send
  ``0.0.0.0/0`` to this ENI, so the routes are declared once by Pulumi and never change
  when the instance does (route replacement from user data would leave Pulumi's routes
  stale after the first replacement, and a ``pulumi up --refresh`` would put them back).
- **An Auto Scaling group of one** (min = max = 1, EC2 health checks) in that subnet,
  from a launch template: Amazon Linux 2023 (the AMI from the public SSM parameter for the
  type's architecture, resolved by Pulumi at deploy time), IMDSv2 with hop limit 1, an
  encrypted 8 GB gp3 root, a public IPv4 address on its primary interface (its way out),
  no SSH key (SSM Session Manager instead).
- **User data** attaches the fixed ENI as the second interface (retrying while a replaced
  instance still holds it), turns the instance's own source/destination check off (replies
  to the private subnets leave by the primary interface), enables forwarding with loose
  reverse-path filtering and masquerades the VPC's traffic out of the primary interface.
  Its role may attach only ENIs and modify only instances tagged as this stack's NAT.
"""

from __future__ import annotations

import ipaddress
import textwrap
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from . import catalog
from .iam import ServiceRole
from .tags import Tagger

#: the tag the NAT instance, its ENI and its role's conditions share
ROLE_TAG = ("gpufleet.io/role", "nat")
#: Amazon Linux 2023's public AMI parameters, per architecture
#: (docs.aws.amazon.com/linux/al2023/ug/ec2.html, "Launching AL2023 using the SSM parameter")
AMI_PARAMETERS = {
    "arm64": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
    "amd64": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
}
#: the AL2023 AMIs' root snapshot is 8 GiB
ROOT_GB = 8
#: families with CPU credits (T4g, T3, T3a, T2)
BURSTABLE = frozenset({"t2", "t3", "t3a", "t4g"})
#: seconds user data keeps trying to attach the fixed ENI (a replaced instance releases it on termination)
ATTACH_TIMEOUT_SECONDS = 600


def user_data(eni_id: str, vpc_cidr: str) -> str:
    """The boot script (see the module doc)."""
    return textwrap.dedent(f"""\
        #!/bin/bash
        # gpufleet NAT instance: attach the fixed ENI, then NAT the VPC out of the primary interface
        set -euo pipefail
        dnf install -y iptables-nft
        TOKEN=$(curl -sfX PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 600')
        md() {{ curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }}
        INSTANCE=$(md instance-id)
        export AWS_DEFAULT_REGION=$(md placement/region)
        aws ec2 modify-instance-attribute --instance-id "$INSTANCE" --no-source-dest-check
        deadline=$((SECONDS + {ATTACH_TIMEOUT_SECONDS}))
        until aws ec2 attach-network-interface --instance-id "$INSTANCE" --network-interface-id {eni_id} --device-index 1; do
          [ "$SECONDS" -lt "$deadline" ] || {{ echo "could not attach {eni_id}" >&2; exit 1; }}
          sleep 10
        done
        OUT=$(ip -o route show default | awk '{{print $5; exit}}')
        sysctl -w net.ipv4.ip_forward=1
        for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 2 > "$f"; done
        cat > /etc/sysctl.d/90-gpufleet-nat.conf <<'EOF'
        net.ipv4.ip_forward = 1
        net.ipv4.conf.all.rp_filter = 2
        net.ipv4.conf.default.rp_filter = 2
        EOF
        iptables -t nat -A POSTROUTING -o "$OUT" -s {vpc_cidr} -j MASQUERADE
        """)


def role_policy(eni_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Attach the fixed ENI and switch off the instance's own source/destination check: only
    resources tagged as the stack's NAT."""
    key, value = ROLE_TAG
    tagged = {"StringEquals": {f"aws:ResourceTag/{key}": value}}
    return pulumi.Output.json_dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AttachFixedEni", "Effect": "Allow", "Action": "ec2:AttachNetworkInterface",
             "Resource": [eni_arn, "arn:aws:ec2:*:*:instance/*"], "Condition": tagged},
            {"Sid": "OwnSourceDestCheck", "Effect": "Allow", "Action": "ec2:ModifyInstanceAttribute",
             "Resource": "arn:aws:ec2:*:*:instance/*", "Condition": tagged},
        ],
    })


@dataclass(frozen=True)
class NatInstanceArgs:
    cluster_name: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: ipaddress.IPv4Network
    #: the public subnet (and AZ) the instance and its fixed ENI live in
    public_subnet_id: pulumi.Input[str]
    instance_type: str
    tagger: Tagger


class NatInstance(pulumi.ComponentResource):
    """The fixed ENI the private routes point at, and the self-healing instance behind it."""

    eni: aws.ec2.NetworkInterface
    group: aws.autoscaling.Group

    def __init__(self, name: str, args: NatInstanceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:network:NatInstance", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tag, cidr = args.tagger, str(args.vpc_cidr)
        nat_tags = dict([ROLE_TAG])

        sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description=f"NAT instance of {args.cluster_name}: from the VPC only",
            tags=tag(f"{args.cluster_name}-nat", nat_tags), opts=child)
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-vpc", security_group_id=sg.id, cidr_ipv4=cidr, ip_protocol="-1",
            description="traffic to NAT from the VPC", tags=tag(f"{name}-from-vpc", nat_tags), opts=child)
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-to-internet", security_group_id=sg.id, cidr_ipv4="0.0.0.0/0", ip_protocol="-1",
            description="NATed traffic to the internet", tags=tag(f"{name}-to-internet", nat_tags), opts=child)
        self.eni = aws.ec2.NetworkInterface(
            f"{name}-eni", subnet_id=args.public_subnet_id, security_groups=[sg.id], source_dest_check=False,
            description=f"NAT of {args.cluster_name}: the private route tables' default route",
            tags=tag(f"{args.cluster_name}-nat", nat_tags), opts=child)

        role = ServiceRole(f"{name}-role", service="ec2.amazonaws.com", tagger=tag,
                           description=f"NAT instance of {args.cluster_name}",
                           managed_policies=("AmazonSSMManagedInstanceCore",),
                           inline_policy=role_policy(self.eni.arn), opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.role.name,
                                          tags=tag(f"{args.cluster_name}-nat"), opts=child)

        arch = catalog.instance_type(args.instance_type).arch
        ami = aws.ssm.get_parameter_output(name=AMI_PARAMETERS[arch], opts=pulumi.InvokeOptions(parent=self))
        resource_tags = tag(f"{args.cluster_name}-nat", nat_tags)
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"NAT instance of {args.cluster_name}",
            image_id=ami.value,
            instance_type=args.instance_type,
            update_default_version=True,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            # burstable types: standard credits, so NAT never bills surplus CPU (the estimate is exact)
            credit_specification=aws.ec2.LaunchTemplateCreditSpecificationArgs(cpu_credits="standard")
            if catalog.instance_type(args.instance_type).family in BURSTABLE else None,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1,
                instance_metadata_tags="disabled"),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=ROOT_GB, volume_type="gp3", encrypted="true", delete_on_termination="true"))],
            network_interfaces=[aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                device_index=0, security_groups=[sg.id], associate_public_ip_address="true",
                delete_on_termination="true")],
            user_data=self.eni.id.apply(lambda eni: _b64(user_data(eni, cidr))),
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=resource_tags)
                                for kind in ("instance", "volume", "network-interface")],
            tags=tag(f"{name}-lt", nat_tags),
            opts=child,
        )
        self.group = aws.autoscaling.Group(
            f"{name}-asg",
            min_size=1, max_size=1, desired_capacity=1,
            vpc_zone_identifiers=[args.public_subnet_id],
            health_check_type="EC2",
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=template.id, version="$Latest"),
            tags=[aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=False)
                  for k, v in sorted(tag(f"{args.cluster_name}-nat", nat_tags).items())],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.eni]),
        )
        self.register_outputs({"eni": self.eni.id})


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
