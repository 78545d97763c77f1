"""The gpufleet policy pack, served to ``pulumi preview --policy-pack policies``.

The policies live in the importable package ``gpufleet_policies`` (next to this file), so
``gpufleet plan`` can run the same rules offline; this file only constructs the pack.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from gpufleet_policies import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
