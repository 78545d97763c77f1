"""The system pool against what the stack runs on it (from ``modules/schema/system_fit.py``):
a config whose add-ons cannot run there fails before anything is declared.

- **Architecture**: an arm64 (Graviton) system pool only when every image the stack runs
  on it has an arm64 variant (``modules/data/image_architectures.json``).
- **Fit**: the requests of every pod the stack runs on the system pool while the GPU pools
  are at zero (``modules.fit``) within the allocatable of its ``min`` nodes: cpu, memory,
  pod slots, and the largest pod beside one node's DaemonSets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import fit
from ..schema.base import fail

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig


def check(cfg: "StackConfig") -> None:
    system = cfg.pools.system
    if system.architecture != "amd64":
        missing = fit.images_without(system.architecture, cfg)
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            fail("pools.system.instance_types", system.instance_types,
                 f"x86_64 instance types, or images with a {system.architecture} variant for every add-on on the "
                 f"system pool ({shown} has none in modules/data/image_architectures.json)")
    short = fit.system_fit(cfg).shortfall()
    if short:
        fail("pools.system.min", system.min,
             f"enough system nodes for the add-ons: {short}; raise pools.system.min, pick larger instance types "
             f"or lower pools.system.max_pods (modules/fit.py)")
