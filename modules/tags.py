"""Tags in one place: the stack's cost-allocation tags, merged per resource.

The same tag set is the AWS provider's ``default_tags`` (so nothing escapes it) and is
merged explicitly into each taggable resource's ``tags`` (so it shows in previews, in the
offline plan and to the policy pack, which cannot see provider defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .schema.foundation import CostTags

REQUIRED_TAG_KEYS = ("team", "cost-center", "env", "project")


@dataclass(frozen=True)
class Tagger:
    cost: CostTags
    stack: str

    @property
    def base(self) -> dict[str, str]:
        """The tags every resource carries (also the provider's default_tags)."""
        return {**self.cost.as_tags(), "gpufleet:stack": self.stack, "managed-by": "pulumi"}

    def __call__(self, name: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Tags for one resource: the base set, its ``Name`` and resource-specific extras.

        Extras may add keys but never replace a cost-allocation tag.
        """
        tags = dict(self.base)
        if name:
            tags["Name"] = name
        for key, value in (extra or {}).items():
            if key in REQUIRED_TAG_KEYS:
                raise ValueError(f"tag {key!r} is a cost-allocation tag and is set for the whole stack")
            tags[key] = value
        return tags
