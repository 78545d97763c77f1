"""The gpufleet policy pack, served to ``pulumi preview --policy-pack policies``.

The policies live in ``gpufleet_policies/`` next to this file, installed as the package
``gpufleet.policies`` (see pyproject.toml), so ``gpufleet plan`` runs the same rules offline;
this file only constructs the pack.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from gpufleet.policies import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
