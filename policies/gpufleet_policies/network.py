"""Network cost: one NAT gateway outside prod."""

from __future__ import annotations

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, StackValidationArgs,
                           StackValidationPolicy)

from . import defaults
from ._props import get, stack_environment

NAT = "aws:ec2/natGateway:NatGateway"


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


POLICIES = [
    StackValidationPolicy(
        name="single-nat-outside-prod",
        description="Stacks outside prod run a single NAT gateway.",
        validate=single_nat_outside_prod,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(properties={
            "environment": {"type": "string", "enum": ["dev", "staging", "prod"]},
            "maxNatGateways": {"type": "integer", "minimum": 1, "description": "default 1"},
            "multiNatEnvironments": {"type": "array", "items": {"type": "string"}, "description": "default prod"},
        }),
    ),
]
