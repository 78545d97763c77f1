"""``ScaleDownSchedules``: nights and weekends without GPU nodes in non-prod stacks.

For each GPU pool (except ``always_on`` pools and pools marked ``exempt``), two
scheduled actions on the pool's Auto Scaling group, in the configured time zone:

- ``stop`` (e.g. ``0 20 * * 1-5``): min 0, max 0, desired 0. Running nodes go, and the
  cluster-autoscaler cannot bring them back: a job left running over the weekend stops.
- ``start`` (e.g. ``0 7 * * 1-5``): max back to the pool's max, so the autoscaler can
  scale on demand again; min and desired to ``work_hours_nodes`` (0 unless the pool
  asks for warm nodes during work hours).

Weekends follow from the crons: Friday's stop lasts until Monday's start.

Who owns the sizes. The actions change the Auto Scaling group EKS created for the node
group, and EKS reads the group's sizes back into the node group (as it does the
autoscaler's desired size). So the node group of a scheduled pool must not declare them:
``modules/platform.py`` builds every pool named by :func:`scheduled_pool_names` with
``NodePoolArgs.scheduled``, and its node group ignores ``scalingConfig.minSize`` and
``maxSize`` as well as ``desiredSize``. Otherwise a ``pulumi up --refresh`` at night would
put max back (GPUs could start overnight) and one during work hours would reset the
schedule's min. Unscheduled pools (``always_on``, ``exempt``, every pool in prod) keep
declaring min and max on the node group.

Why actions on the Auto Scaling group rather than on the node group: only the Auto
Scaling API accepts max 0; EKS's ``UpdateNodegroupConfig`` requires ``maxSize`` >= 1, so
a schedule through EKS could never stop the autoscaler from starting a node overnight.

The trade-off: for a scheduled pool, the node group's min and max are used when the pool
is created, and a later change of the pool's ``max`` (or ``work_hours_nodes``) in the
stack file takes effect at the next ``start`` action, which carries the new values;
``pulumi up`` updates the action, not the running group. (Taking a pool off the schedule
hands min and max back to the node group; ``pulumi up --refresh`` then restores them.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import pulumi
import pulumi_aws as aws

from ..nodepool import NodePool
from ..schema.cost import ScheduleConfig, schedule_of
from ..schema.pools import GpuPool

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig


@dataclass(frozen=True)
class ScheduledPool:
    pool: GpuPool
    #: nodes during work hours (min and desired at ``start``)
    work_hours_nodes: int


def scheduled_pools(pools: list[GpuPool], schedule: ScheduleConfig) -> list[ScheduledPool]:
    """The pools the schedule applies to (pure)."""
    out = []
    for p in pools:
        ps = schedule.pools.get(p.name)
        if p.always_on or (ps is not None and ps.exempt):
            continue
        out.append(ScheduledPool(p, ps.work_hours_nodes if ps else 0))
    return out


def scheduled_pool_names(cfg: "StackConfig") -> frozenset[str]:
    """The GPU pools whose sizes the stack's schedule owns (pure; none without a schedule):
    their node groups leave min, max and desired to the scheduled actions."""
    sched = schedule_of(cfg)
    if sched is None:
        return frozenset()
    return frozenset(sp.pool.name for sp in scheduled_pools(list(cfg.pools.gpu), sched))


@dataclass(frozen=True)
class ScaleDownSchedulesArgs:
    schedule: ScheduleConfig
    pools: list[GpuPool]
    node_pools: Mapping[str, NodePool]


class ScaleDownSchedules(pulumi.ComponentResource):
    def __init__(self, name: str, args: ScaleDownSchedulesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:cost:ScaleDownSchedules", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        sched = args.schedule
        self.pools: list[str] = []
        for sp in scheduled_pools(args.pools, sched):
            pool = sp.pool
            asg = args.node_pools[pool.name].node_group.resources.apply(lambda r: r[0].autoscaling_groups[0].name)
            aws.autoscaling.Schedule(
                f"{name}-{pool.name}-stop",
                scheduled_action_name=f"gpufleet-{pool.name}-stop",
                autoscaling_group_name=asg,
                recurrence=sched.stop,
                time_zone=sched.time_zone,
                min_size=0, max_size=0, desired_capacity=0,
                opts=child,
            )
            aws.autoscaling.Schedule(
                f"{name}-{pool.name}-start",
                scheduled_action_name=f"gpufleet-{pool.name}-start",
                autoscaling_group_name=asg,
                recurrence=sched.start,
                time_zone=sched.time_zone,
                min_size=sp.work_hours_nodes, max_size=pool.max, desired_capacity=sp.work_hours_nodes,
                opts=child,
            )
            self.pools.append(pool.name)
        self.register_outputs({"pools": self.pools})
