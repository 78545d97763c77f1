"""Storage: EFS and S3 encrypted at rest, S3 public access blocked."""

from __future__ import annotations

from typing import Any, Iterable

from pulumi_policy import (ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs,
                           StackValidationPolicy)

from ._policy import mandatory
from ._props import get, known, plain

EFS = "aws:efs/fileSystem:FileSystem"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
SSE = ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
       "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def efs_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != EFS:
        return
    encrypted = get(args.props, "encrypted", False)
    if known(encrypted) and encrypted is not True:
        report(f"EFS file system '{args.name}' is not encrypted at rest: set encrypted: true "
               f"(it cannot be turned on after creation)")


def _attached(bucket: Any, resources: Iterable[Any], types: tuple[str, ...]) -> list[Any]:
    """Resources of ``types`` that configure ``bucket``: they depend on it (its id is their
    ``bucket`` input) or name it by its physical name."""
    name = get(bucket.props, "bucket")
    out = []
    for r in resources:
        if r.resource_type not in types:
            continue
        deps = [getattr(d, "urn", None) for d in (getattr(r, "dependencies", None) or [])]
        deps += [getattr(d, "urn", None) for d in (getattr(r, "property_dependencies", None) or {}).get("bucket", [])]
        target = get(r.props, "bucket")
        if bucket.urn in deps or (known(name) and name is not None and target == name):
            out.append(r)
    return out


def _sse_rules(props: Any) -> list[dict]:
    rules = plain(get(props, "rules", []))
    return rules if isinstance(rules, list) else []


def s3_encrypted(args: StackValidationArgs, report: ReportViolation) -> None:
    require_kms = bool(args.get_config().get("requireKms", False))
    for bucket in [r for r in args.resources if r.resource_type in BUCKETS]:
        rules = [rule for sse in _attached(bucket, args.resources, SSE) for rule in _sse_rules(sse.props)]
        inline = plain(get(bucket.props, "serverSideEncryptionConfiguration.rule", None))
        if isinstance(inline, dict):
            rules.append(inline)
        algos = [str(((r or {}).get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm", ""))
                 for r in rules if isinstance(r, dict)]
        if not algos:
            report(f"S3 bucket '{bucket.name}' has no server-side encryption configuration: add a "
                   f"BucketServerSideEncryptionConfiguration (aws:kms with a bucket key)", bucket.urn)
        elif require_kms and not any(a.startswith("aws:kms") for a in algos):
            report(f"S3 bucket '{bucket.name}' is encrypted with {', '.join(algos)}, not a KMS key "
                   f"(requireKms)", bucket.urn)


def s3_public_access_blocked(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in [r for r in args.resources if r.resource_type in BUCKETS]:
        blocks = _attached(bucket, args.resources, (PUBLIC_ACCESS_BLOCK,))
        if not blocks:
            report(f"S3 bucket '{bucket.name}' has no public access block: add a BucketPublicAccessBlock "
                   f"with {', '.join(f'{f}: true' for f in BLOCK_FLAGS)}", bucket.urn)
            continue
        off = [f for f in BLOCK_FLAGS if all(get(b.props, f, False) is False for b in blocks)]
        if off:
            report(f"S3 bucket '{bucket.name}' public access block leaves {', '.join(off)} off: set all four "
                   f"to true", bucket.urn)


POLICIES = [
    mandatory(ResourceValidationPolicy, "efs-encrypted",
              "EFS file systems are encrypted at rest.",
              efs_encrypted),
    mandatory(StackValidationPolicy, "s3-encrypted",
              "Every S3 bucket has a server-side encryption configuration.",
              s3_encrypted, {
                  "requireKms": {"type": "boolean", "description": "require aws:kms (default false: SSE-S3 is enough)"},
              }),
    mandatory(StackValidationPolicy, "s3-public-access-blocked",
              "Every S3 bucket blocks public access (all four settings).",
              s3_public_access_blocked),
]
