"""``TeamDataAccess``: what one team's training service account may do with the buckets.

An IAM role bound by EKS Pod Identity to ``team-<name>/<service account>`` (the team
namespaces come from the ML stack). Reading covers the whole bucket; writing is limited to
the team's own prefix (``<team>/...``), so one team can never overwrite another's models.
Versioned objects can be replaced but never purged (no ``s3:DeleteObjectVersion``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from ..pod_identity import PodIdentityRole, PodIdentitySpec
from ..schema.storage import BucketGrant
from ..tags import Tagger

READ = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"]
WRITE = ["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:AbortMultipartUpload",
         "s3:ListMultipartUploadParts"]
KMS_READ = ["kms:Decrypt", "kms:DescribeKey"]
KMS_WRITE = ["kms:GenerateDataKey"]


def access_policy(team: str, grant: BucketGrant, buckets: dict[str, pulumi.Input[str]],
                  kms_key_arn: pulumi.Input[str]) -> dict[str, Any]:
    """IAM policy for one grant. ``buckets``: purpose (``datasets``, ``models``) -> bucket ARN."""
    statements: list[dict[str, Any]] = []
    writes = False
    for purpose, arn in buckets.items():
        level = getattr(grant, purpose)
        if level == "none":
            continue
        sid = purpose.capitalize()
        statements.append({"Sid": f"List{sid}", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                           "Resource": arn})
        statements.append({"Sid": f"Read{sid}", "Effect": "Allow", "Action": READ,
                           "Resource": pulumi.Output.concat(arn, "/*")})
        if level == "read-write":
            writes = True
            statements.append({"Sid": f"Write{sid}UnderTeamPrefix", "Effect": "Allow", "Action": WRITE,
                               "Resource": pulumi.Output.concat(arn, f"/{team}/*")})
    if statements:
        statements.append({"Sid": "UseDataKey", "Effect": "Allow",
                           "Action": KMS_READ + (KMS_WRITE if writes else []), "Resource": kms_key_arn})
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class TeamDataAccessArgs:
    team: str
    namespace: str
    grant: BucketGrant
    #: purpose -> bucket ARN
    buckets: dict[str, pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    tagger: Tagger


class TeamDataAccess(pulumi.ComponentResource):
    identity: PodIdentityRole

    def __init__(self, name: str, args: TeamDataAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:storage:TeamDataAccess", name, None, opts)
        policy = access_policy(args.team, args.grant, args.buckets, args.kms_key_arn)
        self.identity = PodIdentityRole(
            f"{name}-identity",
            cluster_name=args.cluster_name,
            spec=PodIdentitySpec(namespace=args.namespace, service_account=args.grant.service_account,
                                 policy=pulumi.Output.json_dumps(policy) if policy["Statement"] else None),
            tagger=args.tagger,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"role_arn": self.identity.role.arn})
