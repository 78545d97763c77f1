"""``PodIdentityRole``: an IAM role for one Kubernetes service account via EKS Pod Identity.

One mechanism for every workload that calls AWS (add-on controllers, CSI drivers, team
training jobs): a role trusted by ``pods.eks.amazonaws.com`` and a Pod Identity
association binding it to ``namespace/service_account`` in this cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

from .iam import POD_IDENTITY_PRINCIPAL, ServiceRole
from .tags import Tagger


@dataclass(frozen=True)
class PodIdentitySpec:
    namespace: str
    service_account: str
    #: inline IAM policy document (least privilege, scoped by tags or ARNs)
    policy: pulumi.Input[str] | dict[str, Any] | None = None
    managed_policies: Sequence[str] = field(default_factory=tuple)


class PodIdentityRole(pulumi.ComponentResource):
    role: aws.iam.Role
    association: aws.eks.PodIdentityAssociation

    def __init__(self, name: str, *, cluster_name: pulumi.Input[str], spec: PodIdentitySpec, tagger: Tagger,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:iam:PodIdentityRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        service_role = ServiceRole(
            name,
            service=POD_IDENTITY_PRINCIPAL,
            tagger=tagger,
            description=f"Pod Identity for {spec.namespace}/{spec.service_account}",
            managed_policies=spec.managed_policies,
            inline_policy=spec.policy,
            opts=child,
        )
        self.role = service_role.role
        self.association = aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=cluster_name,
            namespace=spec.namespace,
            service_account=spec.service_account,
            role_arn=self.role.arn,
            tags=tagger(f"{name}-association"),
            opts=child,
        )
        self.register_outputs({"role_arn": self.role.arn})
