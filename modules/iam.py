"""``ServiceRole``: an IAM role for one AWS service or workload, with its policies.

Modelled on pulumi-eks ``servicerole.ts``: one component owns the role, its managed
policy attachments and an optional inline policy, so callers never repeat that shape.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

from .tags import Tagger

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def assume_role_policy(service: str) -> str:
    """Trust policy for an AWS service principal; EKS Pod Identity also needs sts:TagSession."""
    actions = ["sts:AssumeRole", "sts:TagSession"] if service == POD_IDENTITY_PRINCIPAL else ["sts:AssumeRole"]
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
    })


def managed_policy_arn(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


class ServiceRole(pulumi.ComponentResource):
    """An IAM role assumable by ``service`` with AWS-managed and inline policies."""

    role: aws.iam.Role

    def __init__(
        self,
        name: str,
        *,
        service: str,
        tagger: Tagger,
        description: str,
        managed_policies: Sequence[str] = (),
        inline_policy: pulumi.Input[str] | dict[str, Any] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gpufleet:iam:ServiceRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy(service),
            description=description,
            tags=tagger(f"{name}-role"),
            opts=child,
        )
        for policy in managed_policies:
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy}",
                role=self.role.name,
                policy_arn=managed_policy_arn(policy),
                opts=child,
            )
        if inline_policy is not None:
            document = json.dumps(inline_policy) if isinstance(inline_policy, dict) else inline_policy
            aws.iam.RolePolicy(f"{name}-inline", role=self.role.id, policy=document, opts=child)
        self.register_outputs({"role_arn": self.role.arn})
