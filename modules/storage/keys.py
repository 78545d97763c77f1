"""``DataKey``: the customer-managed KMS key that encrypts the stack's data at rest.

One key for the EFS file system, the EBS volumes of the ``gp3`` and ``checkpoints``
StorageClasses and the S3 buckets: rotated yearly, 30-day deletion window, protected
(deleting it would make every dataset, checkpoint and model unreadable), and retained
whenever the data it encrypts is retained.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from ..tags import Tagger


class DataKey(pulumi.ComponentResource):
    key: aws.kms.Key

    def __init__(self, name: str, *, cluster_name: str, tagger: Tagger, retain_on_delete: bool = False,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:storage:DataKey", name, None, opts)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Data at rest of {cluster_name}: EFS datasets, EBS checkpoints, S3 datasets and models",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tagger(f"{cluster_name}-data"),
            # data kept in AWS after the stack is gone stays readable only with its key
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=retain_on_delete),
        )
        aws.kms.Alias(f"{name}-alias", name=f"alias/{cluster_name}-data", target_key_id=self.key.key_id,
                      opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"key_arn": self.key.arn})

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.key.arn
