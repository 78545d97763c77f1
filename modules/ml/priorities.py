"""``PriorityClasses``: who yields to whom, for the scheduler and for Kueue.

Two ladders, the same order: Kubernetes ``PriorityClass``es (kube-scheduler preemption
on a node) and Kueue ``WorkloadPriorityClass``es (which queued or admitted workload Kueue
preempts for another; created in :mod:`modules.ml.kueue`). Production inference is high;
experiments are low, below every unlabelled pod, and never preempt anyone — but never below
the cluster-autoscaler's ``--expendable-pods-priority-cutoff`` (-10): the autoscaler ignores
pods under it for scale-up and evicts them freely (kubernetes/autoscaler
``cluster-autoscaler/FAQ.md``, "How does Cluster Autoscaler work with Pod Priority and
Preemption?"), and every GPU pool sits at zero until a pod asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class Priority:
    #: ``kueue.x-k8s.io/priority-class`` value (the WorkloadPriorityClass name)
    workload_class: str
    #: ``priorityClassName`` of the pods
    pod_class: str
    pod_value: int
    workload_value: int
    preemption: Literal["PreemptLowerPriority", "Never"]
    description: str


PRIORITIES: tuple[Priority, ...] = (
    Priority("inference", "gpufleet-inference-prod", 100_000, 1000, "PreemptLowerPriority",
             "Production inference: preempts training and experiments when capacity is short."),
    Priority("training", "gpufleet-training", 10_000, 500, "PreemptLowerPriority",
             "Training jobs: preempt experiments, yield to production inference."),
    Priority("experiments", "gpufleet-experiments", -5, 100, "Never",
             "Experiments and notebooks: lowest, preemptible by everything, never preempt."),
)


def by_workload_class(name: str) -> Priority:
    return next(p for p in PRIORITIES if p.workload_class == name)


class PriorityClasses(pulumi.ComponentResource):
    classes: dict[str, k8s.scheduling.v1.PriorityClass]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:PriorityClasses", name, None, opts)
        self.classes = {
            p.workload_class: k8s.scheduling.v1.PriorityClass(
                f"{name}-{p.workload_class}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=p.pod_class, labels={"app.kubernetes.io/part-of": "gpufleet"}),
                value=p.pod_value,
                global_default=False,
                preemption_policy=p.preemption,
                description=p.description,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for p in PRIORITIES
        }
        self.register_outputs({})
