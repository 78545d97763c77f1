"""Node hardening: IMDSv2 only, with a hop limit that keeps pods off the node's role."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from ._policy import mandatory
from ._props import get, known, number

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"


def imdsv2_required(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (LAUNCH_TEMPLATE, INSTANCE):
        return
    endpoint = get(args.props, "metadataOptions.httpEndpoint", "enabled")
    if endpoint == "disabled":
        return
    tokens = get(args.props, "metadataOptions.httpTokens", "optional")
    if known(tokens) and tokens != "required":
        report(f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}' allows IMDSv1 "
               f"(metadataOptions.httpTokens={tokens}): require session tokens (httpTokens: required)")
    limit = int(args.get_config().get("maxHopLimit") or 1)
    raw = get(args.props, "metadataOptions.httpPutResponseHopLimit")
    if not known(raw):
        report(f"cannot verify that {args.resource_type.rsplit(':', 1)[-1]} '{args.name}' keeps IMDS answers within "
               f"{limit} hop(s): metadataOptions.httpPutResponseHopLimit is not known before deployment (a computed "
               f"value); give it a literal")
        return
    hops = number(raw)
    if hops is not None and hops > limit:
        report(f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}' lets IMDS answers travel "
               f"{int(hops)} hops (metadataOptions.httpPutResponseHopLimit): at most {limit}, so pods "
               f"cannot borrow the node's IAM role")


POLICIES = [
    mandatory(ResourceValidationPolicy, "imdsv2-required",
              "Launch templates and instances require IMDSv2 with a hop limit of 1.",
              imdsv2_required, {
                  "maxHopLimit": {"type": "integer", "minimum": 1, "maximum": 64, "description": "default 1"},
              }),
]
