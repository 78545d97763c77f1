"""``Training``: the Kubeflow training operator the teams submit jobs to.

- ``trainer`` (default): Kubeflow Trainer v2 (``TrainJob``), chart ``kubeflow-trainer``,
  which also installs JobSet and the Trainer CRDs. The ClusterTrainingRuntimes the platform
  uses (``torch-distributed``) are Pulumi ``CustomResource``s created after the release,
  not the chart's: kubeflow-trainer 2.3.0 applies its runtimes with a post-install hook Job
  that pulls ``docker.io/alpine`` and runs ``apk add kubectl`` (Docker Hub and the Alpine
  mirrors at install time), and with ``atomic`` a failed pull (no egress, a rate limit)
  rolls the whole release back. Any enabled runtime turns that installer on, so every
  runtime of the chart is off. The runtimes' objects are the chart's own, as it renders
  them, kept in ``modules/data/reference/trainer-runtimes-<chart version>.json``
  (tests/test_trainer_runtimes.py checks it against the vendored archive).
- ``pytorchjob``: the v1 training operator (``PyTorchJob``). It has no Helm chart: it is
  the ``standalone`` kustomize overlay of release v1.9.0, declared as a
  ``kustomize.v2.Directory``. That resource is rendered by the Kubernetes provider at
  deploy time, so offline it shows as one resource naming the overlay, with nothing
  inside; what the platform can check offline is the Kueue side (the
  ``kubeflow.org/pytorchjob`` integration) and the PyTorchJob CRD schema.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from .. import sizing
from ..catalog import DATA_DIR
from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from .crs import custom_resource

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


#: the ClusterTrainingRuntimes the platform installs, by name
PLATFORM_RUNTIMES = (TORCH_RUNTIME,)


def runtimes_file(version: str | None = None) -> Path:
    """The chart's runtimes as data (``version``: the pinned chart's by default)."""
    return DATA_DIR / "reference" / f"trainer-runtimes-{version or CHARTS['kubeflow-trainer'].version}.json"


@cache
def chart_runtimes() -> dict[str, dict[str, Any]]:
    """Name -> ClusterTrainingRuntime object, as the pinned chart renders it (read once)."""
    doc = json.loads(runtimes_file().read_text())
    return {r["metadata"]["name"]: r for r in doc["runtimes"]}


def runtime_object(name: str) -> dict[str, Any]:
    """The object the platform creates for runtime ``name``: the chart's, labelled as Pulumi's."""
    obj = json.loads(json.dumps(chart_runtimes()[name]))  # a copy
    obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), "app.kubernetes.io/managed-by": "pulumi"}
    return obj


def trainer_values() -> dict[str, Any]:
    return {
        # the subchart defaults to the moving `main` tag of a staging registry, pulled Always:
        # pin the JobSet release the chart vendors (jobset 0.12.0)
        "jobset": {"install": True, "image": {"repository": "registry.k8s.io/jobset/jobset", "tag": "v0.12.0",
                                              "pullPolicy": "IfNotPresent"}},
        # no built-in runtime, so no runtimes installer hook Job (see the module doc)
        "runtimes": {"defaultEnabled": False, "torchDistributed": {"enabled": False}},
        # the chart sets none (modules/sizing.py)
        "manager": {"resources": sizing.platform(
            "kubeflow-trainer/Deployment/kubeflow-trainer-controller-manager/manager").values()},
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
            # after the release: it installs the CRDs (and the webhook the runtimes' label skips)
            for runtime in PLATFORM_RUNTIMES:
                custom_resource(f"{name}-runtime-{runtime}", runtime_object(runtime),
                                pulumi.ResourceOptions(parent=self, depends_on=[addon.release]))
        else:
            self.ready = k8s.kustomize.v2.Directory(
                f"{name}-training-operator",
                directory=TRAINING_OPERATOR_OVERLAY,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
        self.register_outputs({})
