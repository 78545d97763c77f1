"""``Network``: the VPC the cluster lives in.

One private and one public subnet per availability zone, NAT by strategy (one gateway,
one per AZ, or outside prod one small NAT instance: :mod:`modules.nat_instance`), and an
S3 gateway endpoint so dataset and checkpoint traffic to S3 never pays NAT processing
charges (nor, with a NAT instance, takes its bandwidth).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal, Sequence

import pulumi
import pulumi_aws as aws

from .nat_instance import NatInstance, NatInstanceArgs
from .tags import Tagger


@dataclass(frozen=True)
class SubnetPlan:
    az: str
    private_cidr: str
    public_cidr: str


def plan_subnets(vpc_cidr: ipaddress.IPv4Network, azs: Sequence[str]) -> list[SubnetPlan]:
    """Carve the VPC: private subnets get /(p+3) blocks (pods use VPC addresses), public
    subnets /(p+6) blocks from the last private-sized block. Up to 7 AZs; never overlapping."""
    if len(azs) > 7:
        raise ValueError("at most 7 availability zones")
    large = list(vpc_cidr.subnets(new_prefix=vpc_cidr.prefixlen + 3))
    small = list(large[-1].subnets(new_prefix=vpc_cidr.prefixlen + 6))
    return [SubnetPlan(az, str(large[i]), str(small[i])) for i, az in enumerate(azs)]


@dataclass(frozen=True)
class NetworkArgs:
    cidr: ipaddress.IPv4Network
    azs: Sequence[str]
    nat: Literal["single", "per_az", "instance"]
    region: str
    cluster_name: str
    tagger: Tagger
    #: ``nat: instance``: the NAT instance's type
    nat_instance_type: str = "t4g.nano"


class Network(pulumi.ComponentResource):
    """VPC, subnets, NAT and the S3 gateway endpoint."""

    vpc: aws.ec2.Vpc
    private_subnets: dict[str, aws.ec2.Subnet]
    public_subnets: dict[str, aws.ec2.Subnet]
    nat_gateways: dict[str, aws.ec2.NatGateway]
    nat_instance: NatInstance | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tag = args.tagger
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tag(f"{args.cluster_name}-vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=tag(f"{args.cluster_name}-igw"), opts=child)

        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tag(f"{args.cluster_name}-public"),
            opts=child,
        )

        self.private_subnets, self.public_subnets, self.nat_gateways = {}, {}, {}
        for plan in plan_subnets(args.cidr, args.azs):
            self.public_subnets[plan.az] = aws.ec2.Subnet(
                f"{name}-public-{plan.az}",
                vpc_id=self.vpc.id,
                cidr_block=plan.public_cidr,
                availability_zone=plan.az,
                map_public_ip_on_launch=False,
                tags=tag(f"{args.cluster_name}-public-{plan.az}",
                         {**cluster_tag, "kubernetes.io/role/elb": "1", "gpufleet.io/tier": "public"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{plan.az}",
                subnet_id=self.public_subnets[plan.az].id,
                route_table_id=public_rt.id,
                opts=child,
            )
            self.private_subnets[plan.az] = aws.ec2.Subnet(
                f"{name}-private-{plan.az}",
                vpc_id=self.vpc.id,
                cidr_block=plan.private_cidr,
                availability_zone=plan.az,
                map_public_ip_on_launch=False,
                tags=tag(f"{args.cluster_name}-private-{plan.az}", {
                    **cluster_tag,
                    "kubernetes.io/role/internal-elb": "1",
                    "gpufleet.io/tier": "private",
                }),
                opts=child,
            )

        nat_azs = list(args.azs) if args.nat == "per_az" else [] if args.nat == "instance" else [args.azs[0]]
        self.nat_instance = None
        if args.nat == "instance":
            self.nat_instance = NatInstance(f"{name}-nat", NatInstanceArgs(
                cluster_name=args.cluster_name, vpc_id=self.vpc.id, vpc_cidr=args.cidr,
                public_subnet_id=self.public_subnets[args.azs[0]].id, instance_type=args.nat_instance_type,
                tagger=tag), opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]))
        for az in nat_azs:
            eip = aws.ec2.Eip(f"{name}-nat-{az}", domain="vpc", tags=tag(f"{args.cluster_name}-nat-{az}"), opts=child)
            self.nat_gateways[az] = aws.ec2.NatGateway(
                f"{name}-nat-{az}",
                allocation_id=eip.id,
                subnet_id=self.public_subnets[az].id,
                connectivity_type="public",
                tags=tag(f"{args.cluster_name}-nat-{az}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )

        private_rts = []
        for az, subnet in self.private_subnets.items():
            if self.nat_instance is not None:
                default = aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0",
                                                      network_interface_id=self.nat_instance.eni.id)
            else:
                nat = self.nat_gateways.get(az) or self.nat_gateways[nat_azs[0]]
                default = aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)
            rt = aws.ec2.RouteTable(
                f"{name}-private-{az}",
                vpc_id=self.vpc.id,
                routes=[default],
                tags=tag(f"{args.cluster_name}-private-{az}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{az}", subnet_id=subnet.id, route_table_id=rt.id, opts=child)
            private_rts.append(rt.id)

        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=private_rts,
            tags=tag(f"{args.cluster_name}-s3"),
            opts=child,
        )
        self.register_outputs({
            "vpc_id": self.vpc.id,
            "private_subnet_ids": [s.id for s in self.private_subnets.values()],
            "public_subnet_ids": [s.id for s in self.public_subnets.values()],
        })

    @property
    def private_subnet_ids(self) -> list[pulumi.Output[str]]:
        return [s.id for s in self.private_subnets.values()]
