"""Pack defaults for thresholds that depend on the environment.

A policy's config value wins; without one, the value for the stack's environment below
is used (the environment comes from the stack's name in the URNs, else the policy config,
else the resources' ``env`` tag). ``gpufleet policy <stack> --write-config`` writes the
values it derives from a stack file
(environment, budget, always-on pools) next to these defaults, for
``pulumi preview --policy-pack-config``.
"""

from __future__ import annotations

from typing import Any, Mapping

#: Max nodes of one GPU pool (its Auto Scaling group's max size).
MAX_NODES_PER_POOL = {"dev": 4, "staging": 8, "prod": 16}
#: Max GPU nodes of all GPU pools of the stack together.
MAX_GPU_NODES_PER_STACK = {"dev": 8, "staging": 16, "prod": 48}
#: GPU instance types a pool may use (fnmatch patterns).
_SMALL_GPUS = ["g4dn.*", "g5.*", "g6.*", "g6e.*", "gr6.*"]
ALLOWED_GPU_INSTANCE_TYPES = {
    "dev": _SMALL_GPUS,
    "staging": [*_SMALL_GPUS, "p4d.24xlarge", "p4de.24xlarge"],
    "prod": [*_SMALL_GPUS, "p4d.24xlarge", "p4de.24xlarge", "p5.*", "p5e.*", "p5en.*"],
}
#: Environments that may run more than one NAT gateway.
MULTI_NAT_ENVIRONMENTS = ["prod"]
#: Environments that must use NAT gateways (no NAT instance).
NAT_GATEWAY_ENVIRONMENTS = ["prod"]
#: Environments whose training pools may run on-demand.
ON_DEMAND_TRAINING_ENVIRONMENTS = ["prod"]
#: Environments where inference pools must not use spot.
NO_SPOT_INFERENCE_ENVIRONMENTS = ["prod"]
#: Time-slicing: pods sharing one GPU.
TIMESLICE_REPLICAS = {"min": 2, "max": 16}
#: Charts that count as the cluster's cost tool (Kubecost, OpenCost).
COST_TOOL_CHARTS = ["cost-analyzer", "opencost"]
REQUIRED_TAGS = ["team", "cost-center", "env", "project"]


def per_env(config: Mapping[str, Any], key: str, table: Mapping[str, Any], env: str | None,
            fallback: str = "prod") -> Any:
    """``config[key]`` if set, else ``table[env]`` (prod's, the most permissive, when the environment is unknown)."""
    value = config.get(key)
    if value is not None:
        return value
    return table.get(env or fallback, table[fallback])
