"""Node pools: GPU pools scale to zero, spot where it belongs, allowed instance types, node caps; the
system pool within its environment's ceilings."""

from __future__ import annotations

from fnmatch import fnmatch

from pulumi_policy import (ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs,
                           StackValidationPolicy)

from . import defaults
from ._policy import environment_property, mandatory, strings
from ._pools import READ_NO_GUESS, cannot_verify, gpu_pools, pool_facts
from ._props import NODE_GROUP, environment, stack_environment

ENV_PROP = {"environment": environment_property("the stack's environment (default: the resources' env tag)")}


def _gpu_pool(args: ResourceValidationArgs):
    if args.resource_type != NODE_GROUP:
        return None
    facts = pool_facts(args.props, args.name)
    return facts if facts.gpu else None


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def scale_to_zero(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pool = _gpu_pool(args)
    if pool is None or pool.always_on(args.get_config()):
        return
    unread = cannot_verify(pool, "scalingConfig.minSize")
    if unread:
        report(f"cannot verify that GPU pool '{pool.pool}' scales to zero: {unread}; {READ_NO_GUESS}")
        return
    if pool.min_size is None or pool.min_size <= 0:
        return
    report(f"GPU pool '{pool.pool}' keeps {_n(pool.min_size)} node(s) running when idle "
           f"(scalingConfig.minSize={_n(pool.min_size)}): GPU pools scale to zero; set min 0, "
           f"or mark the pool always-on (gpufleet:pools.gpu[].always_on: true, then gpufleet policy <stack> --write-config)")


def spot_for_training(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pool = _gpu_pool(args)
    if pool is None or pool.purpose != "training" or pool.capacity in ("SPOT", "UNKNOWN"):
        return
    config = args.get_config()
    env = environment(config, args.props, urn=args.urn)
    exempt = config.get("onDemandEnvironments") or defaults.ON_DEMAND_TRAINING_ENVIRONMENTS
    if env is None or env in exempt:
        return
    report(f"training pool '{pool.pool}' runs {pool.capacity} in {env}: training pools outside "
           f"{', '.join(exempt)} must use spot capacity (capacity: spot, with at least two instance types)")


def no_spot_for_prod_inference(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pool = _gpu_pool(args)
    if pool is None or pool.purpose != "inference" or not pool.spot:
        return
    config = args.get_config()
    env = environment(config, args.props, urn=args.urn)
    if env in (config.get("environments") or defaults.NO_SPOT_INFERENCE_ENVIRONMENTS):
        report(f"inference pool '{pool.pool}' runs on spot in {env}: a spot interruption would take "
               f"serving capacity away; production inference pools use on-demand capacity (capacity: on-demand)")


def instance_type_allowlist(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pool = _gpu_pool(args)
    if pool is None:
        return
    config = args.get_config()
    env = environment(config, args.props, urn=args.urn)
    allowed = defaults.per_env(config, "allowedInstanceTypes", defaults.ALLOWED_GPU_INSTANCE_TYPES, env)
    bad = [t for t in pool.instance_types if not any(fnmatch(t, p) for p in allowed)]
    if bad:
        report(f"GPU pool '{pool.pool}' uses {', '.join(bad)}, not allowed in {env or 'this stack'} "
               f"(allowed: {', '.join(allowed)})")


def max_nodes_per_pool(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pool = _gpu_pool(args)
    if pool is None:
        return
    config = args.get_config()
    env = environment(config, args.props, urn=args.urn)
    limit = defaults.per_env(config, "maxNodes", defaults.MAX_NODES_PER_POOL, env)
    unread = cannot_verify(pool, "scalingConfig.maxSize")
    if unread or pool.max_size is None:
        report(f"cannot verify that GPU pool '{pool.pool}' stays within {limit} nodes: {unread}; {READ_NO_GUESS}")
        return
    if pool.max_size > limit:
        report(f"GPU pool '{pool.pool}' can scale to {_n(pool.max_size)} nodes (scalingConfig.maxSize); "
               f"{env or 'this stack'} allows at most {limit} per pool")


def system_pool_within_ceilings(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The node groups that are not GPU pools (the system pool) get their environment's
    instance families, size and node count: they are spend too."""
    if args.resource_type != NODE_GROUP:
        return
    pool = pool_facts(args.props, args.name)
    if pool.gpu:
        return
    from gpufleet.modules import catalog
    from gpufleet.modules.environments import ceilings

    env = environment(args.get_config(), args.props, urn=args.urn) or "prod"
    c = ceilings(env)
    bad = [t for t in pool.instance_types
           if (it := catalog.instance_type(t)) is None or it.family not in c.system_families or it.vcpu > c.system_max_vcpu]
    if bad:
        report(f"system pool '{pool.pool}' uses {', '.join(bad)}; {env} system nodes are "
               f"{', '.join(c.system_families)} with at most {c.system_max_vcpu} vCPUs")
    unread = cannot_verify(pool, "scalingConfig.maxSize", "instanceTypes")
    if unread:
        report(f"cannot verify that system pool '{pool.pool}' stays within {env}'s ceilings "
               f"(at most {c.system_max_nodes} nodes): {unread}; {READ_NO_GUESS}")
    elif pool.max_size is not None and pool.max_size > c.system_max_nodes:
        report(f"system pool '{pool.pool}' can scale to {_n(pool.max_size)} nodes; {env} allows at most "
               f"{c.system_max_nodes}")


def max_gpu_nodes_per_stack(args: StackValidationArgs, report: ReportViolation) -> None:
    pools = gpu_pools(args.resources)
    config = args.get_config()
    env = stack_environment(config, args.resources)
    limit = defaults.per_env(config, "maxNodes", defaults.MAX_GPU_NODES_PER_STACK, env)
    unread = [u for _, f in pools if (u := cannot_verify(f, "scalingConfig.maxSize"))]
    if unread:
        report(f"cannot verify that the GPU pools stay within {limit} nodes together: {'; '.join(unread)}; "
               f"{READ_NO_GUESS}")
        return
    total = sum(f.max_size or 0 for _, f in pools)
    if total > limit:
        parts = ", ".join(f"{f.pool} {_n(f.max_size or 0)}" for _, f in sorted(pools, key=lambda p: p[1].pool))
        report(f"the GPU pools can scale to {_n(total)} nodes together ({parts}); "
               f"{env or 'this stack'} allows at most {limit}")


POLICIES = [
    mandatory(ResourceValidationPolicy, "system-pool-within-ceilings",
              "The system node group uses the environment's instance families, sizes and node count "
              "(modules/data/environment_ceilings.json).",
              system_pool_within_ceilings, ENV_PROP),
    mandatory(ResourceValidationPolicy, "gpu-pool-scale-to-zero",
              "GPU node pools scale to zero (min 0) unless marked always-on.",
              scale_to_zero, {
                  "alwaysOnPools": strings("pools allowed to keep min nodes "
                                           "(also: node label gpufleet.io/always-on=true)"),
              }),
    mandatory(ResourceValidationPolicy, "spot-for-training-outside-prod",
              "Training GPU pools (label gpufleet.io/purpose=training) use spot capacity outside prod.",
              spot_for_training, {
                  **ENV_PROP,
                  "onDemandEnvironments": strings("environments where training may run on-demand (default prod)"),
              }),
    mandatory(ResourceValidationPolicy, "no-spot-for-prod-inference",
              "Production inference GPU pools (label gpufleet.io/purpose=inference) never use spot.",
              no_spot_for_prod_inference, {
                  **ENV_PROP,
                  "environments": strings("environments whose inference pools must be on-demand (default prod)"),
              }),
    mandatory(ResourceValidationPolicy, "gpu-instance-type-allowlist",
              "GPU pools use instance types allowed for the stack's environment.",
              instance_type_allowlist, {
                  **ENV_PROP,
                  "allowedInstanceTypes": strings("fnmatch patterns (default: per environment, see defaults.py)"),
              }),
    mandatory(ResourceValidationPolicy, "max-gpu-nodes-per-pool",
              "A GPU pool's max size stays within the environment's per-pool cap.",
              max_nodes_per_pool, {
                  **ENV_PROP,
                  "maxNodes": {"type": "integer", "minimum": 0, "description": "default: dev 4, staging 8, prod 16"},
              }),
    mandatory(StackValidationPolicy, "max-gpu-nodes-per-stack",
              "All GPU pools of the stack together stay within the environment's GPU node cap.",
              max_gpu_nodes_per_stack, {
                  **ENV_PROP,
                  "maxNodes": {"type": "integer", "minimum": 0, "description": "default: dev 8, staging 16, prod 48"},
              }),
]
