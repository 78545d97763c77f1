"""``Serving``: KServe in ``Standard`` mode, after cert-manager.

Standard mode (formerly RawDeployment) serves an InferenceService as a plain Deployment,
Service and HPA (on cpu, through ``metrics.k8s.io``: :mod:`.metrics_server`): no Knative,
no Istio to run and pay for. Order, by explicit
dependencies so each CRD exists before anything that uses it:

1. cert-manager with its CRDs (``crds.enabled``; kept on uninstall);
2. the ``kserve-crd`` chart (InferenceService, ServingRuntime, ... CRDs);
3. ``kserve-resources`` (controller, webhooks with cert-manager certificates);
4. ``kserve-runtime-configs``: the ClusterServingRuntimes (KServe 0.20 moved them out of
   ``kserve-resources``, which renders none: without them no InferenceService finds a
   runtime for its ``modelFormat`` and none becomes Ready).

Runtimes: only the Hugging Face server (:data:`SUPPORTED_RUNTIMES`), for the
``huggingface`` model format: transformers models, and LLMs through its vLLM backend, on
the GPU serving pools. The others stay in the cluster as ``disabled`` (KServe never
selects them): the CPU-only servers (sklearn, xgboost, lightgbm, pmml, paddle, autogluon,
predictive, mlserver, TensorFlow Serving 2.6) would hold a GPU node for a CPU model;
TorchServe and Triton 23.05 are old images the platform neither documents nor tests; the
vLLM runtime pulls ``vllm/vllm-openai:latest`` (not pinned). The chart switches the
multi-node Hugging Face runtime with the single-node one; KServe picks it only for an
InferenceService with a ``workerSpec``.

Resources of a predictor: the chart's runtimes ask for 1 CPU / 2 GiB with the same
limits, and KServe's webhook fills each cpu/memory request and limit a predictor leaves
out from the ``inferenceservice-config`` defaults before merging the runtime's container
underneath (kserve ``setResourceRequirementDefaults``, ``MergeRuntimeContainers``). With
KServe's defaults (limit: 1 CPU) a predictor asking for 2 CPUs without a CPU limit is an
invalid pod. Here (:func:`predictor_defaults`) the default requests are KServe's, lowered
to one GPU unit's share of a serving node where that is smaller (so every MIG slice or
time-slice of a node can hold a default-sized predictor), and the default limits are one
whole serving node (as the team LimitRange's): a predictor that sets only requests, or
only a memory limit, stays valid.

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

from .. import sizing
from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from ..k8s_schema import chart_defaults
from ..nodespec import POOL_LABEL, NodeSpec
from .gpu_operator import tolerations
from .priorities import by_workload_class
from .quotas import Capacity, quantity
from .teams import ISVC_LABEL

CERT_MANAGER_NAMESPACE = "cert-manager"
KSERVE_NAMESPACE = "kserve"
DEPLOYMENT_MODE = "Standard"
#: runtimes of ``kserve-runtime-configs`` (its values keys) the platform serves with
SUPPORTED_RUNTIMES = ("huggingfaceserver",)
#: KServe's own default predictor requests (``kserve.inferenceservice.resources``)
KSERVE_DEFAULT_CPU_MILLIS = 1000
KSERVE_DEFAULT_MEMORY_MIB = 2048


@dataclass(frozen=True)
class PredictorDefaults:
    """What KServe's webhook gives a predictor container for each cpu/memory request or
    limit it leaves out; cpu in millicores, memory in MiB."""

    cpu_request_millis: int
    memory_request_mib: int
    cpu_limit_millis: int
    memory_limit_mib: int

    def as_config(self) -> dict[str, dict[str, str]]:
        """The chart's ``kserve.inferenceservice.resources``."""
        return {
            "requests": {"cpu": str(quantity("cpu", self.cpu_request_millis)),
                         "memory": str(quantity("memory", self.memory_request_mib))},
            "limits": {"cpu": str(quantity("cpu", self.cpu_limit_millis)),
                       "memory": str(quantity("memory", self.memory_limit_mib))},
        }


def predictor_defaults(node: Capacity) -> PredictorDefaults:
    """Defaults for a serving pool whose nodes offer ``node`` (cpu, memory and GPU units:
    MIG slices, time-slice replicas or whole GPUs): KServe's requests, at most one unit's
    share of the node; limits: the whole node."""
    units = max(sum(node.gpus.values()), 1)
    return PredictorDefaults(
        cpu_request_millis=min(KSERVE_DEFAULT_CPU_MILLIS, node.cpu_millis // units),
        memory_request_mib=min(KSERVE_DEFAULT_MEMORY_MIB, node.memory_mib // units),
        cpu_limit_millis=node.cpu_millis,
        memory_limit_mib=node.memory_mib,
    )


def cert_manager_values() -> dict[str, Any]:
    """CRDs with the chart (kept on uninstall); requests for each of its pods (the chart sets
    none: :mod:`modules.sizing`)."""
    def res(workload: str, container: str) -> dict[str, Any]:
        return sizing.platform(f"cert-manager/{workload}/{container}").values()

    return {
        "crds": {"enabled": True, "keep": True},
        "resources": res("Deployment/cert-manager", "cert-manager-controller"),
        "cainjector": {"resources": res("Deployment/cert-manager-cainjector", "cert-manager-cainjector")},
        "webhook": {"resources": res("Deployment/cert-manager-webhook", "cert-manager-webhook")},
        "startupapicheck": {"resources": res("Job/cert-manager-startupapicheck", "cert-manager-startupapicheck")},
    }


def kserve_values(defaults: PredictorDefaults | None = None) -> dict[str, Any]:
    kserve: dict[str, Any] = {"controller": {
        "deploymentMode": DEPLOYMENT_MODE,
        # no Istio and no ingress controller: predictors are reached through their Service
        "gateway": {"disableIstioVirtualHost": True, "disableIngressCreation": True},
    }}
    if defaults is not None:
        kserve["inferenceservice"] = {"resources": defaults.as_config()}
    return {"kserve": kserve}


def runtime_values() -> dict[str, Any]:
    """``kserve-runtime-configs``: the runtimes rendered, only :data:`SUPPORTED_RUNTIMES` enabled."""
    chart = CHARTS["kserve-runtime-configs"]
    assert chart.values_file is not None
    known = chart_defaults(chart.values_file)["kserve"]["servingruntime"]
    switches = {name: {"disabled": name not in SUPPORTED_RUNTIMES}
                for name, default in known.items() if isinstance(default, dict) and "disabled" in default}
    return {"kserve": {"servingruntime": {"enabled": True, **switches}}}


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
    #: predictor resource defaults from the serving pool (None: no GPU pool, KServe's own)
    predictor_defaults: PredictorDefaults | None = None
    depends_on: Sequence[pulumi.Resource] = ()


class Serving(pulumi.ComponentResource):
    cert_manager: HelmAddon
    kserve_crd: HelmAddon
    kserve: HelmAddon
    runtimes: HelmAddon

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
            values=kserve_values(args.predictor_defaults),
            depends_on=[self.cert_manager.release, self.kserve_crd.release, *(
                [self.kserve_crd.namespace] if self.kserve_crd.namespace is not None else [])]), opts=child)
        # after the controller: its webhook validates ServingRuntimes
        self.runtimes = HelmAddon("kserve-runtime-configs", HelmAddonArgs(
            chart=CHARTS["kserve-runtime-configs"], namespace=KSERVE_NAMESPACE, create_namespace=False,
            values=runtime_values(), depends_on=[self.kserve.release]), opts=child)
        self.register_outputs({"release": self.kserve.release.name})
