"""How many GB a month of control-plane logs a stack sends to CloudWatch (pure).

``gpufleet:cost.logs_gb`` when the stack sets it (measure yours: the ``IncomingBytes`` metric
of the log group ``/aws/eks/<cluster>/cluster``). Otherwise an estimate from first
principles of the one stream an idle cluster cannot avoid, the audit log of lease renewals:

    GB/month = (controllers / renew period + nodes / node-lease period)      requests per second
               × (bytes per audit event + CloudWatch's 26 bytes per event)  bytes per request
               × 730 h × 3,600 s / 2^30                                      seconds, GB

Each factor and its source is in ``modules/data/control_plane_logs.json``. It is a floor for
an idle cluster: every other API request (``kubectl``, controllers' reconciles, jobs) adds
its own events, and the ``controllerManager`` and ``scheduler`` log types (on in prod) add
theirs. The audit log stays on in staging and prod (``cluster.logs`` must include ``api``,
``audit`` and ``authenticator`` there); dev may turn it off, and then the estimate has no
audit stream to count: the log types it keeps (``api``, ``authenticator``) are priced at
``gpufleet:cost.logs_gb`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from .. import catalog
from .basis import HOURS_PER_MONTH

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig

SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600


@cache
def factors() -> dict[str, float]:
    return {k: float(v["value"]) for k, v in catalog.load("control_plane_logs.json")["factors"].items()}


def audit_gb_per_month(controllers: float, nodes: float, *, renew_s: float, node_renew_s: float,
                       bytes_per_event: float, overhead_bytes: float, bytes_per_gb: float) -> float:
    """GB a month of audit events from lease renewals (see the module doc)."""
    requests_per_s = controllers / renew_s + nodes / node_renew_s
    return requests_per_s * (bytes_per_event + overhead_bytes) * SECONDS_PER_MONTH / bytes_per_gb


def idle_nodes(cfg: "StackConfig") -> int:
    """Nodes an idle stack runs: the system pool's min and every always-on GPU pool's min."""
    return cfg.pools.system.min + sum(p.min for p in cfg.pools.gpu if p.always_on)


def estimated_gb(cfg: "StackConfig") -> float:
    """The audit stream's GB a month (0 when the stack does not send the audit log)."""
    if "audit" not in cfg.cluster.logs:
        return 0.0
    f = factors()
    return round(audit_gb_per_month(f["leader_elected_controllers"], idle_nodes(cfg),
                                    renew_s=f["lease_renew_seconds"], node_renew_s=f["node_lease_renew_seconds"],
                                    bytes_per_event=f["bytes_per_audit_event"],
                                    overhead_bytes=f["cloudwatch_overhead_bytes_per_event"],
                                    bytes_per_gb=f["bytes_per_gb"]), 1)


@dataclass(frozen=True)
class LogVolume:
    gb: float
    #: True: gpufleet:cost.logs_gb; False: the first-principles estimate
    configured: bool
    estimate_gb: float
    #: how the estimate is made, in one line
    basis: str


def control_plane_logs(cfg: "StackConfig") -> LogVolume:
    f = factors()
    est = estimated_gb(cfg)
    nodes = idle_nodes(cfg)
    basis = (f"audit events of lease renewals: ({f['leader_elected_controllers']:g} controllers / "
             f"{f['lease_renew_seconds']:g} s + {nodes} nodes / {f['node_lease_renew_seconds']:g} s) × "
             f"{f['bytes_per_audit_event'] + f['cloudwatch_overhead_bytes_per_event']:g} B × 730 h = {est:g} GB/month "
             "(modules/data/control_plane_logs.json)")
    if "audit" not in cfg.cluster.logs:
        kept = ", ".join(cfg.cluster.logs) or "no log types"
        basis = (f"audit log off (gpufleet:cluster.logs keeps {kept}): no lease-renewal audit stream to estimate; "
                 "the kept types are priced at gpufleet:cost.logs_gb only")
    if "logs_gb" in cfg.cost.model_fields_set:
        return LogVolume(cfg.cost.logs_gb, True, est, basis)
    return LogVolume(est, False, est, basis)
