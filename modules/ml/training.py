"""``Training``: the Kubeflow training operator the teams submit jobs to.

- ``trainer`` (default): Kubeflow Trainer v2 (``TrainJob``), chart ``kubeflow-trainer``,
  which also installs JobSet; the ``torch-distributed`` ClusterTrainingRuntime is on.
- ``pytorchjob``: the v1 training operator (``PyTorchJob``). It has no Helm chart: it is
  the ``standalone`` kustomize overlay of release v1.9.0, declared as a
  ``kustomize.v2.Directory``. That resource is rendered by the Kubernetes provider at
  deploy time, so offline it shows as one resource naming the overlay, with nothing
  inside; what the platform can check offline is the Kueue side (the
  ``kubeflow.org/pytorchjob`` integration) and the PyTorchJob CRD schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs

TRAINER_NAMESPACE = "kubeflow-system"
TRAINER_RELEASE = "kubeflow-trainer"
#: ClusterTrainingRuntime the examples and docs use
TORCH_RUNTIME = "torch-distributed"
#: The v1 training operator has no chart; its kustomize overlay is pinned here (release v1.9.0,
#: the version of the PyTorchJob CRD schema in modules/data/reference/crds).
TRAINING_OPERATOR_VERSION = "v1.9.0"
TRAINING_OPERATOR_OVERLAY = (
    f"https://github.com/kubeflow/training-operator/tree/{TRAINING_OPERATOR_VERSION}/manifests/overlays/standalone")
TRAINING_OPERATOR_NAMESPACE = "kubeflow"


def trainer_values() -> dict[str, Any]:
    return {
        "jobset": {"install": True},
        "runtimes": {"torchDistributed": {"enabled": True}},
    }


@dataclass(frozen=True)
class TrainingArgs:
    kind: Literal["trainer", "pytorchjob"]
    depends_on: Sequence[pulumi.Resource] = ()


class Training(pulumi.ComponentResource):
    #: what must exist before Kueue starts (the training CRDs)
    ready: pulumi.Resource

    def __init__(self, name: str, args: TrainingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:Training", name, None, opts)
        if args.kind == "trainer":
            addon = HelmAddon(TRAINER_RELEASE, HelmAddonArgs(
                chart=CHARTS["kubeflow-trainer"], namespace=TRAINER_NAMESPACE, values=trainer_values(),
                depends_on=list(args.depends_on)), opts=pulumi.ResourceOptions(parent=self))
            self.ready = addon.release
        else:
            self.ready = k8s.kustomize.v2.Directory(
                f"{name}-training-operator",
                directory=TRAINING_OPERATOR_OVERLAY,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
        self.register_outputs({})
