"""Network: one NAT gateway outside prod; NAT gateways, never a NAT instance, in prod."""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from . import defaults
from ._policy import environment_property, mandatory, strings
from ._props import get, stack_environment

NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ENI = "aws:ec2/networkInterface:NetworkInterface"
INSTANCE_TARGETS = ("networkInterfaceId", "instanceId")


def single_nat_outside_prod(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    env = stack_environment(config, args.resources)
    if env is None or env in (config.get("multiNatEnvironments") or defaults.MULTI_NAT_ENVIRONMENTS):
        return
    limit = int(config.get("maxNatGateways") or 1)
    nats = [r for r in args.resources
            if r.resource_type == NAT and get(r.props, "connectivityType", "public") != "private"]
    if len(nats) > limit:
        report(f"{len(nats)} public NAT gateways in {env} ({', '.join(sorted(r.name for r in nats))}): outside prod "
               f"use at most {limit} (network.nat: single); each gateway bills hourly plus its public IPv4 address")


def nat_gateways_in_prod(args: StackValidationArgs, report: ReportViolation) -> None:
    """In the NAT-gateway environments (prod), no default route leads to an instance or a
    network interface, and no network interface forwards traffic that is not its own
    (``sourceDestCheck: false``): the signs of a NAT instance (``network.nat: instance``)."""
    config = args.get_config()
    env = stack_environment(config, args.resources)
    if env is None or env not in (config.get("natGatewayEnvironments") or defaults.NAT_GATEWAY_ENVIRONMENTS):
        return
    found: list[str] = []
    for r in args.resources:
        routes = [r.props] if r.resource_type == ROUTE else \
            (get(r.props, "routes", []) or []) if r.resource_type == ROUTE_TABLE else []
        for route in routes:
            if get(route, "cidrBlock") == "0.0.0.0/0" and any(get(route, k) for k in INSTANCE_TARGETS):
                found.append(f"{r.name} (default route to an instance or network interface)")
        if r.resource_type == ENI and get(r.props, "sourceDestCheck", True) is False:
            found.append(f"{r.name} (network interface with sourceDestCheck off)")
    if found:
        report(f"a NAT instance in {env}: {', '.join(sorted(found))}; {env} uses NAT gateways (network.nat: single "
               "or per_az): a NAT instance has no standby and its bandwidth is one small instance's")


POLICIES = [
    mandatory(StackValidationPolicy, "single-nat-outside-prod",
              "Stacks outside prod run a single NAT gateway.",
              single_nat_outside_prod, {
                  "environment": environment_property(),
                  "maxNatGateways": {"type": "integer", "minimum": 1, "description": "default 1"},
                  "multiNatEnvironments": strings("default prod"),
              }),
    mandatory(StackValidationPolicy, "nat-gateways-in-prod",
              "Prod reaches the internet through NAT gateways, never a NAT instance.",
              nat_gateways_in_prod, {
                  "environment": environment_property(),
                  "natGatewayEnvironments": strings("default prod"),
              }),
]
