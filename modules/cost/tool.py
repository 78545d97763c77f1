"""``CostTool``: Kubecost (default) or OpenCost, each with a small Prometheus.

Kubecost (``cost-analyzer``) brings its own Prometheus and Alertmanager; the platform
sizes them for the system pool, pins them there, adds the GPU recording and alert rules
(``modules.cost.rules``) to the Prometheus rule files the chart loads
(``prometheus.serverFiles``), routes alerts to the stack's SNS topic (Alertmanager with
a Pod Identity role allowed to publish there) and keeps the chart's DCGM exporter scrape
job (``prometheus.extraScrapeConfigs``) so GPU metrics are collected.

Hardening (issue #10, finding 7):

- Kubecost's Grafana is off (``global.grafana.enabled``). The chart's Grafana has anonymous
  access on (``org_role: Editor`` by default) and the admin password ``strongpassword``;
  its only alternative to that password is ``randAlphaNum`` at render time, which changes
  the release's rendered checksum on every preview (a Helm upgrade and a new password on
  every ``pulumi up``), and it reads no existing Secret. Costs are read in Kubecost's own
  UI; the GPU dashboard ConfigMap (:mod:`modules.cost.dashboards`) is for a Grafana whose
  dashboard sidecar watches its label. ``global.grafana.proxy`` is off too: with Grafana
  off the frontend's nginx would otherwise proxy ``/grafana/`` to a host that does not
  exist and fail to start.
- Every image the rendered chart runs has a version tag. The chart's Prometheus and
  Alertmanager default to ``cgr.dev/chainguard/...:latest``, and Chainguard's free
  registry serves only ``latest``: they come from the upstream images at the releases
  current when cost-analyzer 2.4.2 shipped (late 2024: the Prometheus 2.x line, before 3.0
  changed query and scrape defaults).

OpenCost's chart has no Prometheus: :class:`modules.cost.prometheus.SmallPrometheus`
runs one with the same scrape jobs and rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from .. import sizing
from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from ..pod_identity import PodIdentitySpec
from ..schema.pools import SystemPool
from ..schema.stack import StackConfig
from ..tags import Tagger
from . import rules
from .model import KUBECOST_VOLUMES, tool_volumes
from .prometheus import SmallPrometheus, SmallPrometheusArgs

NAMESPACE = {"kubecost": "kubecost", "opencost": "opencost"}
SYSTEM_SELECTOR = {"gpufleet.io/role": "system"}
ALERTMANAGER_SA = "kubecost-alertmanager"
#: images for the cost-analyzer 2.4.2 components whose chart default is ``latest``
KUBECOST_IMAGES = {
    "prometheus": {"repository": "quay.io/prometheus/prometheus", "tag": "v2.55.1"},
    "alertmanager": {"repository": "quay.io/prometheus/alertmanager", "tag": "v0.27.0"},
}


def prometheus_resources(system: SystemPool) -> dict[str, dict[str, str]]:
    """Prometheus requests sized for the system pool's smallest node (:func:`modules.sizing.prometheus`)."""
    return sizing.prometheus(system).values()


def _kubecost(workload: str, container: str) -> dict[str, Any]:
    return sizing.platform(f"cost-analyzer/Deployment/{workload}/{container}").values()


def alertmanager_config(topic_arn: pulumi.Input[str], region: str, env: str) -> dict[str, Any]:
    """Alertmanager routes every alert to the stack's SNS topic (SigV4, Pod Identity credentials).

    A plain mapping with the topic ARN as its only (possibly unknown) leaf, so the chart
    value check sees every key."""
    return {
        "global": {},
        "receivers": [{"name": "sns", "sns_configs": [{
            "topic_arn": topic_arn,
            "sigv4": {"region": region},
            "subject": f"[gpufleet {env}] {{{{ .CommonLabels.alertname }}}}",
            "send_resolved": True,
        }]}],
        "route": {"receiver": "sns", "group_wait": "1m", "group_interval": "10m", "repeat_interval": "12h"},
    }


def kubecost_values(cfg: StackConfig, cluster_name: str, topic_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Chart values for cost-analyzer 2.4.2 (every key exists in the chart's defaults)."""
    volumes = tool_volumes(cfg.cost)
    prom = cfg.cost.prometheus
    return {
        "nodeSelector": SYSTEM_SELECTOR,
        "persistentVolume": {"size": f"{volumes['cost-analyzer']}Gi"},
        # the forecasting model pod (200m / 300Mi) only where forecasts matter
        "forecasting": {"enabled": cfg.environment == "prod", "nodeSelector": SYSTEM_SELECTOR},
        # singlepod aggregator and its cloud-cost container: the chart sets no requests (modules/sizing.py)
        "kubecostAggregator": {
            "resources": _kubecost("kubecost-cost-analyzer", "aggregator"),
            "cloudCost": {"resources": _kubecost("kubecost-cost-analyzer", "cloud-cost")},
        },
        # no Grafana (anonymous access, a default or per-render admin password): see the module doc
        "global": {"grafana": {"enabled": False, "proxy": False}},
        "prometheus": {
            "server": {
                "image": dict(KUBECOST_IMAGES["prometheus"]),
                "nodeSelector": SYSTEM_SELECTOR,
                "persistentVolume": {"enabled": True, "size": f"{volumes['prometheus']}Gi"},
                "retention": f"{prom.retention_days}d",
                "resources": prometheus_resources(cfg.pools.system),
                "global": {"external_labels": {"cluster_id": cluster_name}},
            },
            "serverFiles": {
                "recording_rules.yml": {"groups": [rules.recording_rules(cfg)]},
                "alerting_rules.yml": {"groups": [rules.alert_rules(cfg)]},
            },
            "alertmanager": {
                "enabled": True,
                "image": dict(KUBECOST_IMAGES["alertmanager"]),
                "nodeSelector": SYSTEM_SELECTOR,
                "persistentVolume": {"enabled": True, "size": f"{KUBECOST_VOLUMES['alertmanager']}Gi"},
                "resources": _kubecost("kubecost-prometheus-alertmanager", "prometheus-alertmanager"),
            },
            "serviceAccounts": {"alertmanager": {"create": True, "name": ALERTMANAGER_SA}},
            "alertmanagerFiles": {"alertmanager.yml": alertmanager_config(topic_arn, cfg.region, cfg.environment)},
        },
    }


def opencost_values(cfg: StackConfig, cluster_name: str, namespace: str, prometheus_service: str) -> dict[str, Any]:
    """Chart values for opencost 2.5.17: its exporter reads the stack's small Prometheus."""
    return {
        "opencost": {
            "exporter": {"defaultClusterId": cluster_name,
                         "resources": sizing.platform("opencost/Deployment/opencost/opencost").values()},
            "prometheus": {"internal": {"enabled": True, "serviceName": prometheus_service,
                                        "namespaceName": namespace, "port": 80}},
            "ui": {"enabled": True},
            "nodeSelector": SYSTEM_SELECTOR,
        },
    }


def sns_publish_policy(topic_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn}]})


@dataclass(frozen=True)
class CostToolArgs:
    cfg: StackConfig
    cluster_name: str
    eks_cluster_name: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    tagger: Tagger


class CostTool(pulumi.ComponentResource):
    addon: HelmAddon
    namespace: str
    prometheus: SmallPrometheus | None

    def __init__(self, name: str, args: CostToolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:cost:CostTool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, tool = args.cfg, args.cfg.cost.tool
        self.namespace = NAMESPACE[tool]
        self.prometheus = None
        if tool == "kubecost":
            self.addon = HelmAddon(name, HelmAddonArgs(
                chart=CHARTS["cost-analyzer"],
                namespace=self.namespace,
                values=kubecost_values(cfg, args.cluster_name, args.topic_arn),
                pod_identity=PodIdentitySpec(
                    namespace=self.namespace, service_account=ALERTMANAGER_SA,
                    policy=pulumi.Output.from_input(args.topic_arn).apply(sns_publish_policy)),
                cluster_name=args.eks_cluster_name,
                tagger=args.tagger,
            ), opts=child)
        else:
            self.addon = HelmAddon(name, HelmAddonArgs(
                chart=CHARTS["opencost"],
                namespace=self.namespace,
                values=opencost_values(cfg, args.cluster_name, self.namespace, SmallPrometheus.SERVICE),
            ), opts=child)
            self.prometheus = SmallPrometheus(f"{name}-prometheus", SmallPrometheusArgs(
                cfg=cfg, namespace=self.namespace, scrape_opencost=f"{name}.{self.namespace}.svc:9003",
                cluster_name=args.cluster_name,
            ), opts=pulumi.ResourceOptions(parent=self, depends_on=[self.addon]))
        self.register_outputs({"tool": tool, "namespace": self.namespace})
