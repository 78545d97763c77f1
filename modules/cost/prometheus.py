"""``SmallPrometheus``: one Prometheus server for OpenCost (whose chart has none).

Plain Kubernetes objects, validated like every built-in object: a service account with
read-only discovery RBAC, a ConfigMap with ``prometheus.yml`` (OpenCost, cAdvisor and
DCGM exporter scrape jobs) and ``rules.yml`` (the GPU rules of :mod:`modules.cost.rules`),
a PVC sized from config, a single-replica Deployment on the system pool, a Service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..schema.stack import StackConfig
from . import rules
from .model import tool_volumes

IMAGE = "quay.io/prometheus/prometheus:v3.5.0"
PORT = 9090
#: the DCGM exporter's pods carry ``app=nvidia-dcgm-exporter`` (GPU Operator) or
#: ``app.kubernetes.io/name=dcgm-exporter`` (standalone chart)
DCGM_KEEP = "(?i)(.*dcgm-exporter.*)"


def scrape_configs(opencost_target: str) -> list[dict[str, Any]]:
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    return [
        {"job_name": "opencost", "honor_labels": True, "scrape_interval": "1m", "scrape_timeout": "10s",
         "metrics_path": "/metrics", "static_configs": [{"targets": [opencost_target]}]},
        {"job_name": "kubernetes-nodes-cadvisor", "scheme": "https", "tls_config": {"ca_file": ca},
         "bearer_token_file": token, "kubernetes_sd_configs": [{"role": "node"}],
         "relabel_configs": [
             {"target_label": "__address__", "replacement": "kubernetes.default.svc:443"},
             {"source_labels": ["__meta_kubernetes_node_name"], "regex": "(.+)", "target_label": "__metrics_path__",
              "replacement": "/api/v1/nodes/$1/proxy/metrics/cadvisor"},
         ]},
        {"job_name": "dcgm-exporter", "kubernetes_sd_configs": [{"role": "endpoints"}],
         "relabel_configs": [
             {"source_labels": ["__meta_kubernetes_pod_label_app", "__meta_kubernetes_pod_label_app_kubernetes_io_name"],
              "action": "keep", "regex": DCGM_KEEP},
             {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
         ]},
    ]


def prometheus_config(opencost_target: str, cluster_name: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1m", "evaluation_interval": "1m", "external_labels": {"cluster_id": cluster_name}},
        "rule_files": ["/etc/prometheus/rules.yml"],
        "scrape_configs": scrape_configs(opencost_target),
    }


@dataclass(frozen=True)
class SmallPrometheusArgs:
    cfg: StackConfig
    namespace: str
    #: host:port of the OpenCost exporter's metrics
    scrape_opencost: str
    cluster_name: str = ""


class SmallPrometheus(pulumi.ComponentResource):
    SERVICE = "gpufleet-prometheus"

    def __init__(self, name: str, args: SmallPrometheusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:cost:SmallPrometheus", name, None, opts)
        from .tool import SYSTEM_SELECTOR, prometheus_resources  # local: tool imports this module

        child = pulumi.ResourceOptions(parent=self)
        cfg, ns, svc = args.cfg, args.namespace, self.SERVICE
        meta = lambda n: k8s.meta.v1.ObjectMetaArgs(name=n, namespace=ns, labels={"app.kubernetes.io/name": svc})  # noqa: E731
        labels = {"app.kubernetes.io/name": svc}
        k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta(svc), opts=child)
        k8s.rbac.v1.ClusterRole(
            f"{name}-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{ns}-{svc}", labels=labels),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["nodes", "nodes/proxy", "nodes/metrics", "services",
                                                                        "endpoints", "pods"], verbs=["get", "list", "watch"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=["discovery.k8s.io"], resources=["endpointslices"],
                                           verbs=["get", "list", "watch"]),
                k8s.rbac.v1.PolicyRuleArgs(non_resource_urls=["/metrics"], verbs=["get"]),
            ],
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{ns}-{svc}", labels=labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=f"{ns}-{svc}"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=svc, namespace=ns)],
            opts=child,
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=meta(f"{svc}-config"),
            data={
                "prometheus.yml": json.dumps(prometheus_config(args.scrape_opencost, args.cluster_name or cfg.environment),
                                             indent=1),
                "rules.yml": json.dumps(rules.rule_groups(cfg), indent=1),
            },
            opts=child,
        )
        gb = tool_volumes(cfg.cost)["prometheus"]
        k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata=meta(f"{svc}-data"),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{gb}Gi"}),
            ),
            opts=child,
        )
        res = prometheus_resources(cfg.pools.system)
        k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata=meta(svc),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=svc,
                        node_selector=SYSTEM_SELECTOR,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=65534, run_as_group=65534, fs_group=65534,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="prometheus",
                            image=IMAGE,
                            args=[
                                "--config.file=/etc/prometheus/prometheus.yml",
                                "--storage.tsdb.path=/prometheus",
                                f"--storage.tsdb.retention.time={cfg.cost.prometheus.retention_days}d",
                                f"--storage.tsdb.retention.size={max(1, int(gb * 0.8))}GB",
                                "--web.enable-lifecycle",
                            ],
                            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT)],
                            resources=k8s.core.v1.ResourceRequirementsArgs(requests=res["requests"], limits=res["limits"]),
                            readiness_probe=k8s.core.v1.ProbeArgs(
                                http_get=k8s.core.v1.HTTPGetActionArgs(path="/-/ready", port=PORT)),
                            security_context=k8s.core.v1.SecurityContextArgs(
                                allow_privilege_escalation=False, read_only_root_filesystem=True,
                                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])),
                            volume_mounts=[
                                k8s.core.v1.VolumeMountArgs(name="config", mount_path="/etc/prometheus"),
                                k8s.core.v1.VolumeMountArgs(name="data", mount_path="/prometheus"),
                            ],
                        )],
                        volumes=[
                            k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                name=f"{svc}-config")),
                            k8s.core.v1.VolumeArgs(name="data", persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                                claim_name=f"{svc}-data")),
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config]),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(svc),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=labels,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port=PORT)],
            ),
            opts=child,
        )
        self.register_outputs({"service": f"{svc}.{ns}.svc"})
