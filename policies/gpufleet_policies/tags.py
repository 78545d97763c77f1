"""Cost-allocation tags on every taggable AWS resource."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import defaults
from ._policy import mandatory, strings
from ._props import get, plain, tags_of

DATA = Path(__file__).resolve().parent / "data" / "taggable_types.json"


@cache
def taggable_types() -> frozenset[str]:
    """Every pulumi-aws resource type with a ``tags`` input (``policies/scripts/taggable_types.py``)."""
    return frozenset(json.loads(DATA.read_text())["types"])


def provider_default_tags(args: ResourceValidationArgs) -> dict[str, str]:
    provider = getattr(args, "provider", None)
    if provider is None or not str(getattr(provider, "resource_type", "")).startswith("pulumi:providers:aws"):
        return {}
    default_tags = plain(get(provider.props, "defaultTags", {}))
    if isinstance(default_tags, str):  # provider inputs travel JSON-encoded
        try:
            default_tags = json.loads(default_tags)
        except ValueError:
            return {}
    tags = default_tags.get("tags", {}) if isinstance(default_tags, dict) else {}
    return {k: v for k, v in tags.items() if isinstance(v, str)} if isinstance(tags, dict) else {}


def cost_allocation_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in taggable_types():
        return
    config = args.get_config()
    required = config.get("requiredTags") or defaults.REQUIRED_TAGS
    tags = {**tags_of(args.props, "tagsAll"), **tags_of(args.props)}
    if config.get("acceptProviderDefaultTags", True):
        tags = {**provider_default_tags(args), **tags}
    missing = [k for k in required if not tags.get(k)]
    if missing:
        report(f"{args.resource_type} '{args.name}' lacks the cost-allocation tag(s) {', '.join(missing)} "
               f"(every taggable resource carries {', '.join(required)}: use ctx.tagger(name))")


POLICIES = [
    mandatory(ResourceValidationPolicy, "cost-allocation-tags",
              "Every taggable AWS resource carries the cost-allocation tags team, cost-center, env, project.",
              cost_allocation_tags, {
                  "requiredTags": strings("default: team, cost-center, env, project"),
                  "acceptProviderDefaultTags": {"type": "boolean",
                                                "description": "count the AWS provider's default_tags (default true)"},
              }),
]
