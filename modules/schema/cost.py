"""Config models for cost guards: budget, cost tool, scale-down schedules, pricing (issue #5).

``gpufleet:cost`` in a stack file. Every field has a default, so a stack without the key
still gets a budget, a cost tool and (outside prod) night/weekend scale-down.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from . import cron
from .base import StrictModel, fail

if TYPE_CHECKING:  # pragma: no cover
    from .stack import StackConfig

EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


@cache
def iana_time_zones() -> frozenset[str]:
    """The IANA zone names of the tz database Python reads (``zoneinfo``), without ``Factory``
    (a placeholder zone, not a place) and ``localtime`` (a link some systems add)."""
    return frozenset(zoneinfo.available_timezones() - {"Factory", "localtime"})


class Busy(StrictModel):
    """How much a GPU pool works in a month, for the ``expected`` estimate."""

    hours: float = Field(ge=0, le=730)
    """Hours per month the pool runs ``nodes`` nodes (730 = all month)."""
    nodes: PositiveInt | None = None
    """Nodes running during those hours (default: the pool's max)."""


class PoolSchedule(StrictModel):
    work_hours_nodes: NonNegativeInt = 0
    """Nodes kept warm during work hours (the scheduled min size); 0 = on demand only."""
    exempt: bool = False
    """Leave this pool out of the night/weekend scale-down."""


class ScheduleConfig(StrictModel):
    """Night and weekend scale-down of the GPU pools (non-prod only).

    At ``stop`` every pool's Auto Scaling group goes to 0 nodes (max 0: running jobs stop);
    at ``start`` it may scale again (max restored) and pools that ask get warm nodes.
    """

    enabled: bool = True
    """Scale GPU pools to zero at night and at weekends (refused in prod)."""
    time_zone: str = "Etc/UTC"
    """IANA time zone of the two cron expressions."""
    stop: str = "0 20 * * 1-5"
    """Cron (minute hour day month weekday) as EC2 Auto Scaling runs it: ``*``, ``a,b``, ``a-b``, ``*/n``,
    ``a-b/n``, JAN-DEC, SUN-SAT or 0-6 (0 = Sunday). Every GPU pool to 0 nodes, max 0."""
    start: str = "0 7 * * 1-5"
    """Cron: max restored (autoscaling on demand again), warm nodes where a pool asks."""
    pools: dict[str, PoolSchedule] = {}
    """Per GPU pool: warm work-hour nodes, or exempt from the schedule."""

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, v: str) -> str:
        if v not in iana_time_zones():
            fail("", v, "an IANA time zone name, e.g. Europe/Berlin, America/New_York or Etc/UTC "
                        "(EC2 Auto Scaling takes the tz database's names)")
        return v

    @field_validator("stop", "start")
    @classmethod
    def _cron_fields(cls, v: str) -> str:
        try:
            cron.parse(v)
        except cron.CronError as exc:
            fail("", v, str(exc))
        return v


class PrometheusConfig(StrictModel):
    """The cost tool's own small Prometheus (CPU/memory are derived from the system pool)."""

    volume_gb: int = Field(default=10, ge=2, le=500)
    """Size of its gp3 volume (priced in the estimate)."""
    retention_days: int = Field(default=15, ge=2, le=90)
    """How long metrics are kept."""


class AlertConfig(StrictModel):
    idle_gpu_percent: int = Field(default=10, ge=1, le=90)
    """A GPU held by a pod under this utilisation ..."""
    idle_gpu_minutes: int = Field(default=60, ge=5, le=1440)
    """... for this long fires ``GpuAllocatedButIdle``."""


class CostConfig(StrictModel):
    budget_usd: float = Field(default=1000.0, gt=0, le=10_000_000)
    """Monthly budget in USD: the AWS Budget's limit; the expected estimate (config check) and
    the max GPU spend (policy pack) must fit in it."""
    tool: Literal["kubecost", "opencost"] = "kubecost"
    """The in-cluster cost tool."""
    spot_discount: float = Field(default=0.6, ge=0, lt=1)
    """Spot price as a discount off on-demand (0.6 = pay 40 %) when no spot history is used."""
    busy: dict[str, Busy] = {}
    """Expected work per GPU pool (pool name → hours and nodes); unlisted pools stay at min."""
    nat_gb: float = Field(default=0, ge=0)
    """GB per month through the NAT gateways (image pulls, downloads)."""
    logs_gb: float = Field(default=0, ge=0)
    """GB per month of control-plane logs sent to CloudWatch."""
    efs_gb: float = Field(default=0, ge=0)
    """GB stored on EFS (datasets, shared home), for the estimate."""
    s3_gb: float = Field(default=0, ge=0)
    """GB stored in S3 (checkpoints, artefacts), for the estimate."""
    load_balancers: NonNegativeInt = 0
    """Network Load Balancers created outside this program (by the AWS Load Balancer Controller
    for Services/Ingresses); those the program declares are priced from the plan."""
    prometheus: PrometheusConfig = PrometheusConfig()
    """The cost tool's Prometheus."""
    alerts: AlertConfig = AlertConfig()
    """Thresholds of the GPU alerts."""
    emails: list[str] = Field(default=[], max_length=10)
    """Who gets budget and GPU alerts by e-mail: subscribers of the stack's SNS topic, so each alert arrives once."""
    schedule: ScheduleConfig | None = None
    """Night/weekend scale-down; unset: on with the defaults outside prod, off in prod."""

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for i, addr in enumerate(v):
            if not EMAIL.match(addr):
                fail(f"[{i}]", addr, "an e-mail address (name@example.com)")
        if len(set(v)) != len(v):
            raise ValueError("distinct e-mail addresses")
        return v


def schedule_of(cfg: "StackConfig") -> ScheduleConfig | None:
    """The scale-down schedule in force: None in prod or when disabled."""
    if cfg.environment == "prod":
        return None
    sched = cfg.cost.schedule or ScheduleConfig()
    return sched if sched.enabled else None


def check(cfg: "StackConfig") -> None:
    """Cross-section rules for cost (called by StackConfig's validator): ``cost.busy`` and
    ``cost.schedule.pools`` name the stack's GPU pools, within their max sizes; no schedule
    in prod. The estimate against the budget is a rule on derived figures
    (``modules/checks/budget.py``)."""
    pools = {p.name: p for p in cfg.pools.gpu}
    names = ", ".join(pools) or "(none)"
    for name, busy in cfg.cost.busy.items():
        if name not in pools:
            fail(f"cost.busy.{name}", name, f"a GPU pool of this stack: {names}")
        if busy.nodes is not None and busy.nodes > pools[name].max:
            fail(f"cost.busy.{name}.nodes", busy.nodes, f"at most the pool's max ({pools[name].max})")
    sched = cfg.cost.schedule
    if sched is not None:
        if cfg.environment == "prod" and sched.enabled:
            fail("cost.schedule.enabled", True, "false in prod (scheduled scale-down is for non-prod GPU pools)")
        for name, ps in sched.pools.items():
            if name not in pools:
                fail(f"cost.schedule.pools.{name}", name, f"a GPU pool of this stack: {names}")
            if ps.work_hours_nodes > pools[name].max:
                fail(f"cost.schedule.pools.{name}.work_hours_nodes", ps.work_hours_nodes,
                     f"at most the pool's max ({pools[name].max})")
