"""``SecureBucket``: one S3 bucket of the data layer (raw datasets, or the model registry).

Every public access path blocked, objects owned by the bucket owner (no ACLs), SSE-KMS
with the stack's data key (and an S3 bucket key, so KMS requests stay cheap), a bucket
policy that refuses anything but TLS 1.2+, lifecycle rules (IA transition, abort
incomplete multipart uploads after 7 days, expiry of old versions), versioning where asked,
and ``protect=True`` (``retain_on_delete`` where config asks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ..tags import Tagger

ABORT_MULTIPART_DAYS = 7


def bucket_name(cluster_name: str, purpose: str, account_id: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """Globally unique, stable physical name: ``gpufleet-dev-datasets-123456789012-us-east-1``."""
    return pulumi.Output.concat(cluster_name, "-", purpose, "-", account_id, "-", region)


def tls_only_policy(bucket_arn: pulumi.Input[str]) -> dict[str, Any]:
    objects = pulumi.Output.concat(bucket_arn, "/*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [bucket_arn, objects], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "DenyOldTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [bucket_arn, objects], "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
        ],
    }


@dataclass(frozen=True)
class SecureBucketArgs:
    bucket: pulumi.Input[str]
    purpose: str
    #: the Name tag (``gpufleet-dev-datasets``)
    label: str
    kms_key_arn: pulumi.Input[str]
    tagger: Tagger
    versioned: bool = False
    #: current objects move to STANDARD_IA this many days after creation (None: never)
    ia_after_days: int | None = None
    #: versioned buckets: keep this many older versions, each at least ``noncurrent_days``
    noncurrent_versions_kept: int | None = None
    noncurrent_days: int | None = None
    retain_on_delete: bool = False


def lifecycle_rules(args: SecureBucketArgs) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    everything = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
    rules = [aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="abort-incomplete-multipart-uploads", status="Enabled", filter=everything,
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=ABORT_MULTIPART_DAYS))]
    if args.ia_after_days is not None:
        rules.append(aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="to-infrequent-access", status="Enabled", filter=everything,
            transitions=[aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                days=args.ia_after_days, storage_class="STANDARD_IA")]))
    if args.versioned and args.noncurrent_days is not None:
        rules.append(aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-old-versions", status="Enabled", filter=everything,
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=args.noncurrent_days, newer_noncurrent_versions=args.noncurrent_versions_kept)))
    return rules


class SecureBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:storage:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket,
            force_destroy=False,
            tags=args.tagger(args.label, {"gpufleet.io/data": args.purpose}),
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=args.retain_on_delete),
        )
        bucket_id = self.bucket.id
        access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=(
                    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn)),
                bucket_key_enabled=True)],
            opts=child,
        )
        versioning = None
        if args.versioned:
            versioning = aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=bucket_id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=child,
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=lifecycle_rules(args),
            # lifecycle rules on noncurrent versions need versioning first
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning] if versioning else None),
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket_id,
            policy=pulumi.Output.json_dumps(tls_only_policy(self.bucket.arn)),
            # S3 rejects a bucket policy while the public access block is being set up
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access_block]),
        )
        self.register_outputs({"bucket": bucket_id, "arn": self.bucket.arn})

    @property
    def bucket_name(self) -> pulumi.Output[str]:
        return self.bucket.bucket

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.bucket.arn
