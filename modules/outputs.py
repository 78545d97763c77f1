"""The stack's outputs, declared once: name, value and what each one is for."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import pulumi


def output(doc: str, *, secret: bool = False) -> Any:
    return field(metadata={"doc": doc, "secret": secret})


@dataclass
class StackOutputs:
    cluster_name: pulumi.Output[str] = output("EKS cluster name (aws eks update-kubeconfig --name <it>).")
    cluster_endpoint: pulumi.Output[str] = output("Kubernetes API server URL.")
    kubeconfig: pulumi.Output[str] = output("kubeconfig using `aws eks get-token` (no static credentials).", secret=True)
    oidc_provider_arn: pulumi.Output[str] | None = output(
        "IAM OIDC provider of the cluster, for IRSA (only with `cluster.irsa: true`; null otherwise).")
    vpc_id: pulumi.Output[str] = output("VPC of the cluster.")
    private_subnet_ids: pulumi.Output[list[str]] = output("Private subnets (one per AZ) where nodes run.")
    node_role_arn: pulumi.Output[str] = output("IAM role shared by the managed node groups.")
    gpu_pools: dict[str, Any] = output("GPU pools: node group name, instance types, capacity, sharing, sizes.")
    storage: dict[str, Any] = output("Storage: EFS file system, buckets, StorageClass names (modules/storage).")
    ml_platform: dict[str, Any] = output("ML stack: add-on releases, Kueue queues per team (modules/ml).")
    cost: dict[str, Any] = output("Cost guards: budget, cost tool, monthly estimate (modules/cost).")

    def export(self) -> None:
        for f in fields(self):
            pulumi.export(f.name, getattr(self, f.name))

    @classmethod
    def docs(cls) -> dict[str, str]:
        return {f.name: f.metadata["doc"] for f in fields(cls)}

    @classmethod
    def secret_names(cls) -> set[str]:
        return {f.name for f in fields(cls) if f.metadata["secret"]}
