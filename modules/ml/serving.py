"""``Serving``: KServe in ``Standard`` mode, after cert-manager.

Standard mode (formerly RawDeployment) serves an InferenceService as a plain Deployment,
Service and HPA: no Knative, no Istio to run and pay for. Order, by explicit
dependencies so each CRD exists before anything that uses it:

1. cert-manager with its CRDs (``crds.enabled``; kept on uninstall);
2. the ``kserve-crd`` chart (InferenceService, ServingRuntime, ... CRDs);
3. ``kserve-resources`` (controller, webhooks with cert-manager certificates).

Also here: the inference defaults every InferenceService of a team should carry (the
serving pool's node selector and tolerations, the high priority classes), and a
PodDisruptionBudget for InferenceServices that keep at least two replicas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from ..nodespec import POOL_LABEL, NodeSpec
from .gpu_operator import tolerations
from .priorities import by_workload_class
from .teams import ISVC_LABEL

CERT_MANAGER_NAMESPACE = "cert-manager"
KSERVE_NAMESPACE = "kserve"
DEPLOYMENT_MODE = "Standard"


def cert_manager_values() -> dict[str, Any]:
    return {"crds": {"enabled": True, "keep": True}}


def kserve_values() -> dict[str, Any]:
    return {"kserve": {"controller": {
        "deploymentMode": DEPLOYMENT_MODE,
        # no Istio and no ingress controller: predictors are reached through their Service
        "gateway": {"disableIstioVirtualHost": True, "disableIngressCreation": True},
    }}}


def inference_defaults(spec: NodeSpec) -> dict[str, Any]:
    """What a team's InferenceService predictor sets to land on the serving pool."""
    prio = by_workload_class("inference")
    return {
        "pool": spec.name,
        "nodeSelector": {POOL_LABEL: spec.name},
        "tolerations": tolerations([spec]),
        "priorityClassName": prio.pod_class,
        "labels": {"kueue.x-k8s.io/priority-class": prio.workload_class},
    }


def inference_pdb(isvc: Mapping[str, Any]) -> dict[str, Any] | None:
    """A PodDisruptionBudget for an InferenceService's predictor pods when it keeps at least
    two replicas (node drains and scale-downs then take one pod at a time); None otherwise."""
    predictor = isvc.get("spec", {}).get("predictor", {})
    if int(predictor.get("minReplicas", 1)) < 2:
        return None
    name, ns = isvc["metadata"]["name"], isvc["metadata"].get("namespace")
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": f"{name}-predictor", **({"namespace": ns} if ns else {})},
        "spec": {"maxUnavailable": 1,
                 "selector": {"matchLabels": {ISVC_LABEL: name, "component": "predictor"}}},
    }


def inference_pdb_resource(name: str, isvc: Mapping[str, Any],
                           opts: pulumi.ResourceOptions | None = None) -> k8s.policy.v1.PodDisruptionBudget | None:
    """Declare :func:`inference_pdb` for ``isvc`` (None when it has fewer than two replicas)."""
    pdb = inference_pdb(isvc)
    if pdb is None:
        return None
    meta, spec = pdb["metadata"], pdb["spec"]
    return k8s.policy.v1.PodDisruptionBudget(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=meta["name"], namespace=meta.get("namespace")),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=spec["maxUnavailable"],
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=spec["selector"]["matchLabels"])),
        opts=opts,
    )


@dataclass(frozen=True)
class ServingArgs:
    depends_on: Sequence[pulumi.Resource] = ()


class Serving(pulumi.ComponentResource):
    cert_manager: HelmAddon
    kserve_crd: HelmAddon
    kserve: HelmAddon

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:Serving", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.cert_manager = HelmAddon("cert-manager", HelmAddonArgs(
            chart=CHARTS["cert-manager"], namespace=CERT_MANAGER_NAMESPACE, values=cert_manager_values(),
            depends_on=list(args.depends_on)), opts=child)
        self.kserve_crd = HelmAddon("kserve-crd", HelmAddonArgs(
            chart=CHARTS["kserve-crd"], namespace=KSERVE_NAMESPACE,
            depends_on=[self.cert_manager.release]), opts=child)
        self.kserve = HelmAddon("kserve", HelmAddonArgs(
            chart=CHARTS["kserve-resources"], namespace=KSERVE_NAMESPACE, create_namespace=False,
            values=kserve_values(),
            depends_on=[self.cert_manager.release, self.kserve_crd.release, *(
                [self.kserve_crd.namespace] if self.kserve_crd.namespace is not None else [])]), opts=child)
        self.register_outputs({"release": self.kserve.release.name})
