"""GPU visibility as data (pure): Prometheus recording and alert rules, the Grafana dashboard.

Metrics used (scraped by the cost tool's Prometheus):

- DCGM exporter (GPU Operator): ``DCGM_FI_DEV_GPU_UTIL`` (%), ``DCGM_FI_DEV_FB_USED``
  (MiB), labelled with ``Hostname`` (the node) and, for GPUs held by a pod,
  ``namespace``/``pod``;
- the cost model's exporter (Kubecost or OpenCost, KSM v1 style): ``kube_node_labels``
  (``label_gpufleet_io_pool``), ``container_gpu_allocation``, ``node_gpu_hourly_cost``.

Time-sliced pools advertise ``replicas`` schedulable GPUs per physical GPU, so a pod
holding one slice holds ``1/replicas`` of a GPU: ``gpufleet:node_gpu_share`` carries
that factor per node (from the pool config) and the per-team GPU and cost rules use it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig

POOL_LABEL = "label_gpufleet_io_pool"
GROUP_RECORDING = "gpufleet-gpu-cost"
GROUP_ALERTS = "gpufleet-gpu-alerts"
DASHBOARD_UID = "gpufleet-gpus"


def _node_pool(selector: str) -> str:
    return f'max by (node) (kube_node_labels{{{POOL_LABEL}{selector}}})'


def recording_rules(cfg: "StackConfig") -> dict[str, Any]:
    """``gpufleet:node_gpu_share`` per GPU node (1/replicas on time-sliced pools, 1
    elsewhere), then physical GPUs and GPU cost per namespace."""
    rules: list[dict[str, Any]] = []
    sliced = [p for p in cfg.pools.gpu if p.sharing == "timeslice"]
    whole = [p.name for p in cfg.pools.gpu if p.sharing != "timeslice"]
    for p in sliced:
        nodes = _node_pool('="' + p.name + '"')
        rules.append({"record": "gpufleet:node_gpu_share", "labels": {"pool": p.name},
                      "expr": f"{nodes} / {p.replicas}"})
    if whole:
        nodes = _node_pool('=~"' + "|".join(whole) + '"')
        rules.append({"record": "gpufleet:node_gpu_share", "expr": nodes})
    allocation = "sum by (namespace, pod, node) (container_gpu_allocation)"
    rules += [
        {"record": "gpufleet:namespace_gpus_physical",
         "expr": f"sum by (namespace) ({allocation} * on (node) group_left () max by (node) (gpufleet:node_gpu_share))"},
        {"record": "gpufleet:namespace_gpu_cost_hourly",
         "expr": (f"sum by (namespace) ({allocation} * on (node) group_left () "
                  "(max by (node) (gpufleet:node_gpu_share) * on (node) max by (node) (node_gpu_hourly_cost)))")},
    ]
    return {"name": GROUP_RECORDING, "interval": "1m", "rules": rules}


def alert_rules(cfg: "StackConfig") -> dict[str, Any]:
    """GPUs allocated but idle; GPU jobs running longer than their team's ``max_job_hours``."""
    a = cfg.cost.alerts
    rules: list[dict[str, Any]] = [{
        "alert": "GpuAllocatedButIdle",
        "expr": f'avg_over_time(DCGM_FI_DEV_GPU_UTIL{{namespace!="", pod!=""}}[10m]) < {a.idle_gpu_percent}',
        "for": f"{a.idle_gpu_minutes}m",
        "labels": {"severity": "warning", "stack_env": cfg.environment},
        "annotations": {
            "summary": "GPU allocated but idle",
            "description": (f"Pod {{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}} holds GPU {{{{ $labels.gpu }}}} on "
                            f"{{{{ $labels.Hostname }}}} at under {a.idle_gpu_percent} % utilisation for "
                            f"{a.idle_gpu_minutes} minutes: release it (delete the pod or finish the notebook)."),
        },
    }]
    for team in cfg.teams:
        limit = team.max_job_hours
        held = (f'timestamp(sum by (namespace, pod) (container_gpu_allocation{{namespace="{team.namespace}"}}) > 0)'
                f"[{limit + 1}h:5m]")
        rules.append({
            "alert": "GpuJobOverTeamLimit",
            "expr": f"time() - min_over_time({held}) > {limit * 3600}",
            "labels": {"severity": "warning", "team": team.name, "stack_env": cfg.environment},
            "annotations": {
                "summary": f"GPU job of team {team.name} over its {limit} h limit",
                "description": (f"Pod {{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}} has held GPUs for more than "
                                f"{limit} h (team {team.name}'s max_job_hours): check it is not a forgotten job."),
            },
        })
    return {"name": GROUP_ALERTS, "rules": rules}


def rule_groups(cfg: "StackConfig") -> dict[str, Any]:
    """A Prometheus rule file (``groups:``) with both groups."""
    return {"groups": [recording_rules(cfg), alert_rules(cfg)]}


# ------------------------------------------------------------------ Grafana dashboard

def _panel(pid: int, title: str, expr: str, legend: str, unit: str, x: int, y: int, kind: str = "timeseries") -> dict:
    return {
        "id": pid, "type": kind, "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
    }


def _with_pool(metric: str) -> str:
    node = f'label_replace({metric}, "node", "$1", "Hostname", "(.*)")'
    pools = f'label_replace(max by (node, {POOL_LABEL}) (kube_node_labels{{{POOL_LABEL}!=""}}), "pool", "$1", "{POOL_LABEL}", "(.*)")'
    return f"{node} * on (node) group_left (pool) {pools}"


def dashboard(cfg: "StackConfig") -> dict[str, Any]:
    """GPU utilisation and memory per node, pool and team namespace; idle allocated GPUs;
    GPU cost per team with time-sliced GPUs counted at their share."""
    idle = cfg.cost.alerts.idle_gpu_percent
    panels = [
        _panel(1, "GPU utilisation per node", "avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL)", "{{Hostname}}", "percent", 0, 0),
        _panel(2, "GPU memory used per node", "sum by (Hostname) (DCGM_FI_DEV_FB_USED) * 1024 * 1024",
               "{{Hostname}}", "bytes", 12, 0),
        _panel(3, "GPU utilisation per pool", f"avg by (pool) ({_with_pool('DCGM_FI_DEV_GPU_UTIL')})", "{{pool}}",
               "percent", 0, 8),
        _panel(4, "GPU memory used per pool", f"sum by (pool) ({_with_pool('DCGM_FI_DEV_FB_USED')}) * 1024 * 1024",
               "{{pool}}", "bytes", 12, 8),
        _panel(5, "GPU utilisation per team namespace", 'avg by (namespace) (DCGM_FI_DEV_GPU_UTIL{namespace=~"team-.*"})',
               "{{namespace}}", "percent", 0, 16),
        _panel(6, f"Allocated but idle GPUs (< {idle} % over 10 min)",
               f'count(avg_over_time(DCGM_FI_DEV_GPU_UTIL{{namespace!="", pod!=""}}[10m]) < {idle}) or vector(0)',
               "idle GPUs", "none", 12, 16, kind="stat"),
        _panel(7, "Physical GPUs held per team (time-sliced at their share)", "gpufleet:namespace_gpus_physical",
               "{{namespace}}", "none", 0, 24),
        _panel(8, "GPU cost per team, USD per month at the current rate", "gpufleet:namespace_gpu_cost_hourly * 730",
               "{{namespace}}", "currencyUSD", 12, 24),
    ]
    return {
        "uid": DASHBOARD_UID,
        "title": f"gpufleet GPUs ({cfg.environment})",
        "tags": ["gpufleet", "gpu", "cost"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}]},
        "panels": panels,
    }


def dashboard_json(cfg: "StackConfig") -> str:
    return json.dumps(dashboard(cfg), indent=1, sort_keys=True)
