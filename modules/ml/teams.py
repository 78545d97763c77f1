"""``TeamNamespaces``: a namespace per team with the hygiene that keeps a shared cluster fair.

Per team ``team-<name>``:

- the namespace, labelled as a tenant (Kueue manages jobs only there; the admission
  policies apply only there) with Pod Security ``baseline`` enforced;
- a ``ResourceQuota``: requests of cpu, memory and each GPU resource up to the most the
  team's queue could ever be admitted (its ceilings, from :mod:`modules.ml.quotas`), so
  nothing bypasses Kueue for more; a pod and PVC count; no LoadBalancer or NodePort
  Services (endpoints go through the platform);
- a ``LimitRange``: default requests for containers that set none (the quota needs them)
  and no container larger than the team's largest node (it would never schedule and would
  keep the autoscaler busy);
- the service accounts the storage layer's bucket grants bind IAM roles to
  (``team-<name>/training`` by default: jobs that read datasets and write models run as it);
- ``NetworkPolicies`` (enforced by the VPC CNI, whose add-on configuration turns network
  policy on): default deny; all traffic between the namespace's own pods (distributed
  training: NCCL, torchrun rendezvous); DNS; the egress the platform needs (HTTPS for S3,
  ECR, STS and model hubs, the EKS Pod Identity agent, NFS to EFS inside the VPC);
  ingress to InferenceService pods from inside the cluster; and egress to the
  InferenceService predictor pods of every team namespace on their serving port (one
  team's job or service calling another team's model), nothing else of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ..schema.stack import StackConfig
from ..schema.storage import grants as storage_grants
from ..schema.teams import Team
from . import quotas

TENANT_LABEL = "gpufleet.io/tenant"
TENANT_VALUE = "team"
TEAM_LABEL = "gpufleet.io/team"
#: the EKS Pod Identity agent, on every node (link-local)
POD_IDENTITY_AGENT = "169.254.170.23/32"
#: KServe labels every pod of an InferenceService with its name under this key, and its
#: predictor pods also with ``component: predictor`` (kserve/kserve
#: pkg/constants/constants.go ``InferenceServicePodLabelKey``, ``KServiceComponentLabel``;
#: pkg/controller/v1beta1/inferenceservice/components/predictor.go ``buildObjectMeta``)
ISVC_LABEL = "serving.kserve.io/inferenceservice"
ISVC_COMPONENT_LABEL = "component"
ISVC_PREDICTOR = "predictor"
#: the predictor container's port (``InferenceServiceDefaultHttpPort``; its Service's port 80
#: targets it). NetworkPolicy ports are pod ports, so this is the port policies name.
ISVC_PORT = 8080
#: container defaults where a pod sets no requests
DEFAULT_REQUEST = {"cpu": "250m", "memory": "512Mi"}


def quota_hard(cfg: StackConfig, team: Team) -> dict[str, str]:
    """ResourceQuota ``hard``: what the team's queue could be admitted at most, plus counts."""
    hard = {"pods": str(team.max_pods), "persistentvolumeclaims": str(team.max_pvcs),
            "services.loadbalancers": "0", "services.nodeports": "0"}
    for resource, amount in sorted(quotas.team_ceiling(cfg, team).items()):
        hard[f"requests.{resource}"] = str(quotas.quantity(resource, amount))
    return hard


def limit_range_item(cfg: StackConfig, team: Team) -> k8s.core.v1.LimitRangeItemArgs:
    largest = quotas.largest_node(cfg, team)
    if largest is None:
        return k8s.core.v1.LimitRangeItemArgs(type="Container", default_request=dict(DEFAULT_REQUEST))
    biggest = {"cpu": str(quotas.quantity("cpu", largest.cpu_millis)),
               "memory": str(quotas.quantity("memory", largest.memory_mib))}
    # ``max`` needs a limit on every container: the default limit is the largest node.
    return k8s.core.v1.LimitRangeItemArgs(
        type="Container", default_request=dict(DEFAULT_REQUEST), default=dict(biggest), max=dict(biggest))


def _ports(protocol: str, *numbers: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=n) for n in numbers]


def predictor_pods() -> k8s.meta.v1.LabelSelectorArgs:
    """The pods KServe runs an InferenceService's predictor in (any InferenceService)."""
    return k8s.meta.v1.LabelSelectorArgs(
        match_labels={ISVC_COMPONENT_LABEL: ISVC_PREDICTOR},
        match_expressions=[k8s.meta.v1.LabelSelectorRequirementArgs(key=ISVC_LABEL, operator="Exists")])


def network_policies(team: Team, vpc_cidr: str) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgs]:
    """Policy name -> spec, for the team's namespace."""
    every_pod = k8s.meta.v1.LabelSelectorArgs()
    same_ns = [k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())]
    return {
        "default-deny": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod, policy_types=["Ingress", "Egress"]),
        "allow-same-namespace": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod, policy_types=["Ingress", "Egress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=same_ns)],
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=same_ns)]),
        "allow-dns": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod, policy_types=["Egress"],
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[k8s.networking.v1.NetworkPolicyPeerArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": "kube-system"}),
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}))],
                ports=_ports("UDP", 53) + _ports("TCP", 53))]),
        "allow-platform-egress": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod, policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr="0.0.0.0/0"))],
                    ports=_ports("TCP", 443)),
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=POD_IDENTITY_AGENT))],
                    ports=_ports("TCP", 80)),
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=vpc_cidr))],
                    ports=_ports("TCP", 2049)),
            ]),
        # calls to another team's model: its predictor pods only, in team namespaces only
        "allow-inference-egress": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=every_pod, policy_types=["Egress"],
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[k8s.networking.v1.NetworkPolicyPeerArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={TENANT_LABEL: TENANT_VALUE}),
                    pod_selector=predictor_pods())],
                ports=_ports("TCP", ISVC_PORT))]),
        "allow-inference-ingress": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_expressions=[
                k8s.meta.v1.LabelSelectorRequirementArgs(key=ISVC_LABEL, operator="Exists")]),
            policy_types=["Ingress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=k8s.meta.v1.LabelSelectorArgs())],
                ports=_ports("TCP", ISVC_PORT))]),
    }


def _meta(team: Team, name: str) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=team.namespace, labels={TEAM_LABEL: team.name})


@dataclass(frozen=True)
class TeamNamespacesArgs:
    cfg: StackConfig
    teams: Sequence[Team]


class TeamNamespaces(pulumi.ComponentResource):
    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(self, name: str, args: TeamNamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:TeamNamespaces", name, None, opts)
        cfg = args.cfg
        self.namespaces = {}
        for team in args.teams:
            ns_name = team.namespace
            ns = k8s.core.v1.Namespace(
                f"{name}-{team.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ns_name, labels={
                    "app.kubernetes.io/managed-by": "pulumi",
                    TENANT_LABEL: TENANT_VALUE,
                    TEAM_LABEL: team.name,
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/warn": "restricted",
                }),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.namespaces[team.name] = ns
            in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])

            k8s.core.v1.ResourceQuota(
                f"{name}-{team.name}-quota", metadata=_meta(team, "gpufleet-team-quota"),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=quota_hard(cfg, team)), opts=in_ns)
            k8s.core.v1.LimitRange(
                f"{name}-{team.name}-limits", metadata=_meta(team, "gpufleet-container-defaults"),
                spec=k8s.core.v1.LimitRangeSpecArgs(limits=[limit_range_item(cfg, team)]), opts=in_ns)
            # the service accounts the storage grants bind IAM roles to (EKS Pod Identity)
            for sa in sorted({g.service_account for g in storage_grants(cfg) if g.team == team.name}):
                k8s.core.v1.ServiceAccount(f"{name}-{team.name}-sa-{sa}", metadata=_meta(team, sa), opts=in_ns)
            for policy, spec in network_policies(team, str(cfg.network.cidr)).items():
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-{team.name}-{policy}", metadata=_meta(team, policy), spec=spec, opts=in_ns)
        self.register_outputs({"namespaces": {t: ns.metadata.name for t, ns in self.namespaces.items()}})
