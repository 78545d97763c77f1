"""The cost layer of a stack: budget and alert topic, cost tool, GPU dashboard, schedules."""

from __future__ import annotations

from typing import Any


from ..context import PlatformContext
from ..schema.cost import schedule_of
from .budget import StackBudget, StackBudgetArgs
from .dashboards import GpuDashboards, GpuDashboardsArgs
from .model import estimate
from .schedules import ScaleDownSchedules, ScaleDownSchedulesArgs
from .tool import CostTool, CostToolArgs


def compose(ctx: PlatformContext) -> dict[str, Any]:
    cfg = ctx.cfg
    est = estimate(cfg)
    budget = StackBudget("budget", StackBudgetArgs(
        stack=ctx.stack, limit_usd=cfg.cost.budget_usd, expected_usd=est.monthly["expected"], emails=cfg.cost.emails,
        tagger=ctx.tagger), opts=ctx.aws_opts)
    tool = CostTool(cfg.cost.tool, CostToolArgs(
        cfg=cfg, cluster_name=ctx.cluster_name, eks_cluster_name=ctx.cluster.eks.name,
        topic_arn=budget.topic.arn, tagger=ctx.tagger), opts=ctx.k8s_opts)
    GpuDashboards("dashboards", GpuDashboardsArgs(cfg=cfg, namespace=tool.namespace, depends_on=[tool.addon]),
                  opts=ctx.k8s_opts)
    schedule = schedule_of(cfg)
    scheduled: list[str] = []
    if schedule is not None and cfg.pools.gpu:
        schedules = ScaleDownSchedules("scale-down", ScaleDownSchedulesArgs(
            schedule=schedule, pools=list(cfg.pools.gpu), node_pools=ctx.gpu_pools), opts=ctx.aws_opts)
        scheduled = schedules.pools
    return {
        "budget_usd": cfg.cost.budget_usd,
        "budget_name": budget.budget.name,
        "alerts_topic_arn": budget.topic.arn,
        "tool": cfg.cost.tool,
        "tool_namespace": tool.namespace,
        "monthly_estimate_usd": est.monthly,
        "scale_down": {
            "pools": scheduled,
            "stop": schedule.stop if schedule else None,
            "start": schedule.start if schedule else None,
            "time_zone": schedule.time_zone if schedule else None,
        },
    }
