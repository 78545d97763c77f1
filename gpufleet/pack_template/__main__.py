"""The gpufleet policy pack of this project, served to ``pulumi preview --policy-pack policies``.

Written by ``gpufleet init``. The rules are gpufleet's (``gpufleet.policies``, installed into
the pack's own virtualenv from ``requirements.txt``): the same rules ``gpufleet plan`` and
``gpufleet check`` run offline. This file only constructs the pack; each stack's thresholds
are in ``policies/config/<stack>.json`` (``--policy-pack-config``).
"""

from gpufleet.policies import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
