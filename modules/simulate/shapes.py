"""What a job asks for on each pool, and whether it can ever run there.

**Asking in a pool's terms** (what a user writes in the pod spec for that pool):

- whole GPUs (``sharing: none``): ``nvidia.com/gpu`` = GPUs per pod, a fraction rounded up
  to one GPU;
- time-slicing: one ``nvidia.com/gpu`` replica (a slot; ``replicas`` per GPU) for a whole or
  fractional GPU; more than one is refused by the device plugin, which the platform runs
  with ``failRequestsGreaterThanOne: true`` (``modules/ml/gpu_operator.py``; NVIDIA
  k8s-device-plugin README, "Shared Access to GPUs with CUDA Time-Slicing");
- MIG (``mixed`` strategy, ``nvidia.com/mig-<profile>``): the smallest slice of the pool's
  MIG layout holding the GPU share in compute (``<g>g``: g of 7 compute slices) and memory
  (``gpu_memory_gib``, default the share of the GPU's memory); whole GPUs need full-GPU
  slices (``7g``); NVIDIA MIG User Guide, "Supported MIG Profiles";
- cpu and memory per pod as the trace says; a GPU model constraint is the node selector
  ``gpufleet.io/gpu``, a pool constraint ``gpufleet.io/pool``; several models
  (``v100-32gb|t4-16gb``) are node affinity ``gpufleet.io/gpu In (...)``: a flavor whose
  nodes carry one of them, asked with that model's selector.

**Can it ever run** is decided by :mod:`modules.workload_rules`, applied flavor by flavor of
the team's ClusterQueue (with the job asking in that flavor's terms): Kueue's flavor and
quota rule, the autoscaler's template node, the fit on a ready node, pods per pool. Two of
its reasons do not stop a job for good and are left to the simulation: a pod below the
autoscaler's expendable cutoff runs on nodes that others bring up, and a pool slower to be
ready than Kueue's ``waitForPodsReady`` timeout runs jobs once a node is up.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from .. import workload_rules as rules
from .platform import GPU_PREFIX, Platform, PoolSpec, QueueSpec
from .trace import Shape

POOL_LABEL = "gpufleet.io/pool"
GPU_LABEL = "gpufleet.io/gpu"
_PROFILE = re.compile(r"^(\d+)g\.(\d+)gb")


@dataclass(frozen=True)
class Option:
    """A flavor the job may be admitted to, and what it asks there."""

    pool: int
    #: per pod, aligned with the pool's resources
    req: tuple[float, ...]
    #: the whole job (the quota Kueue reserves)
    total: tuple[float, ...]
    #: physical GPUs the whole job holds
    phys: float
    #: per pod, only the resources it asks for: (index, amount)
    sparse: tuple[tuple[int, float], ...]


@dataclass(eq=False)
class ShapeInfo:
    shape: Shape
    queue: QueueSpec | None
    qi: int
    options: tuple[Option, ...]
    #: why it never runs (None: it may)
    never: str | None
    #: reasons that only the simulation decides (expendable cutoff, slow pool)
    soft: tuple[str, ...]
    pod_priority: int
    wprio: int
    #: below the autoscaler's expendable cutoff: never triggers a scale-up
    expendable: bool
    #: the GPUs the job asks for (trace terms: pods × GPUs per pod)
    asked_gpus: float
    #: pool versions at its last failed admission (see Engine._try_admit)
    failed_at: tuple = ()
    #: per option: could it fit with nobody else using anything (set by the engine)
    potential: tuple | None = None
    #: the options' pools, and (queue, priority, potential, pools): equal shapes fail alike
    pools: tuple = ()
    group: tuple = ()


def mig_profile(fraction: float, memory_gib: float, layout: dict[str, int]) -> str | None:
    """The smallest MIG profile of ``layout`` holding ``fraction`` of a GPU's compute (of 7
    slices) and ``memory_gib`` of its memory."""
    fits = []
    for profile, count in layout.items():
        m = _PROFILE.match(profile)
        if not m or count <= 0:
            continue
        g, mem = int(m.group(1)), int(m.group(2))
        if g / 7 >= fraction - 1e-9 and mem >= memory_gib - 1e-9:
            fits.append((g, mem, profile))
    return min(fits)[2] if fits else None


def pool_request(shape: Shape, pool: PoolSpec) -> tuple[dict[str, float], float] | str:
    """Requests per pod on ``pool`` and the physical GPUs a pod holds, or why the job cannot
    ask this pool at all."""
    base = {"cpu": shape.cpu * 1000, "memory": shape.memory_gib * 1024}
    g = shape.gpus
    if shape.gpu_memory_gib and pool.sharing != "mig" and shape.gpu_memory_gib > pool.gpu_memory_gib * max(1, g) + 1e-9:
        return f"needs {shape.gpu_memory_gib:g} GiB of GPU memory per pod, a {pool.gpu_model} has {pool.gpu_memory_gib:g}"
    if pool.sharing == "none":
        n = math.ceil(g - 1e-9)
        return {**base, "nvidia.com/gpu": n}, float(n)
    if pool.sharing == "timeslice":
        if g > 1:
            return (f"asks {g:g} GPUs per pod; a time-sliced pool gives a pod one replica "
                    "(device plugin failRequestsGreaterThanOne)")
        return {**base, "nvidia.com/gpu": 1}, 1.0 / pool.replicas
    layout = dict(pool.mig_layout)
    if g >= 1:
        full = mig_profile(1.0, pool.gpu_memory_gib, layout)
        if full is None or not full.startswith("7g"):
            return f"asks {g:g} whole GPUs per pod; the MIG layout ({', '.join(layout)}) has no full-GPU slice"
        return {**base, f"{GPU_PREFIX}mig-{full}": int(g)}, float(int(g))
    memory = shape.gpu_memory_gib or g * pool.gpu_memory_gib
    profile = mig_profile(g, memory, layout)
    if profile is None:
        return (f"needs a MIG slice with {g:.2f} of a GPU and {memory:.1f} GB; the layout has "
                f"{', '.join(layout)}")
    return {**base, f"{GPU_PREFIX}mig-{profile}": 1}, int(_PROFILE.match(profile).group(1)) / 7


def analyse(shape: Shape, plat: Platform, queues_by_team: dict[str, QueueSpec]) -> ShapeInfo:
    """Every flavor the job may use (in the queue's order) and, if none, why it never runs."""
    facts = plat.facts
    queue = queues_by_team.get(shape.team)
    prio = plat.priority(shape.priority)
    pod_prio, wprio = prio if prio else (0, 0)
    asked = shape.gpus * shape.pods
    info = ShapeInfo(shape, queue, queue.index if queue else -1, (), None, (), pod_prio, wprio,
                     pod_prio < plat.cutoff, asked)
    if prio is None:
        info.never = f"no PriorityClass {shape.priority!r} in the stack"
        return info
    if queue is None:
        info.never = f"Kueue: team {shape.team!r} has no ClusterQueue in this stack"
        return info
    cq = facts.cluster_queues[queue.name]["spec"]
    reasons: list[str] = []
    options: list[Option] = []
    soft: list[str] = []
    models = shape.gpu_model.split("|") if shape.gpu_model else []
    base = {GPU_LABEL: models[0]} if len(models) == 1 else {}
    if shape.pool:
        base[POOL_LABEL] = shape.pool
    for group in cq.get("resourceGroups", []):
        for fl in group["flavors"]:
            pool = plat.pool(fl["name"])
            selector = base
            if len(models) > 1:  # any of these: node affinity gpufleet.io/gpu In (...), met by the pool's label
                label = pool.facts.labels.get(GPU_LABEL, pool.gpu_model)
                if label not in models:
                    reasons.append(f"{pool.name}: node affinity {GPU_LABEL} in ({', '.join(models)}): "
                                   f"the pool's nodes are {label}")
                    continue
                selector = {**base, GPU_LABEL: label}
            asked_there = pool_request(shape, pool)
            if isinstance(asked_there, str):
                reasons.append(f"{pool.name}: {asked_there}")
                continue
            requests, phys = asked_there
            one = {"resourceGroups": [{"coveredResources": group["coveredResources"], "flavors": [fl]}]}
            ps = rules.PodSet(requests, shape.pods, selector, (), pod_prio)
            common = dict(excluded_prefixes=facts.excluded_prefixes, reserved=facts.reserved, cutoff=plat.cutoff)
            borrowable = facts.borrowable.get(queue.name, {})
            hard = rules.will_it_run(rules.Workload("job", queue.name, (replace(ps, priority=max(pod_prio, plat.cutoff)),)),
                                     one, facts.flavors, facts.pools, borrowable, timeout_minutes=math.inf, **common)
            if not hard.runs:
                reasons += [f"{pool.name}: {r}" for r in hard.reasons]
                continue
            full = rules.will_it_run(rules.Workload("job", queue.name, (ps,)), one, facts.flavors, facts.pools,
                                     borrowable, timeout_minutes=facts.timeout_minutes, **common)
            soft += [r for r in full.reasons if r not in soft]
            req = pool.vector(requests)
            options.append(Option(pool.index, req, tuple(x * shape.pods for x in req), phys * shape.pods,
                                  tuple((i, x) for i, x in enumerate(req) if x > 0)))
    info.options, info.soft = tuple(options), tuple(soft)
    info.pools = tuple(o.pool for o in options)
    if not options:
        team_pools = [plat.pool(fl["name"]) for g in cq.get("resourceGroups", []) for fl in g["flavors"]]
        largest = max((p.gpus_per_node for p in team_pools), default=0)
        detail = "; ".join(reasons) or "the queue has no flavor"
        if team_pools and shape.gpus > largest:
            info.never = f"largest node has {largest} GPUs ({detail})"
        else:
            info.never = detail
    return info
