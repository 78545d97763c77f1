"""``StorageClasses``: where a PVC's bytes go, by name.

- ``gp3`` (default class): encrypted gp3 EBS, reclaim Delete, bound where the pod lands.
- ``checkpoints``: encrypted gp3 EBS, reclaim **Retain** (a crashed or preempted job's
  checkpoints survive it and its PVC), WaitForFirstConsumer, expandable.
- ``shared-datasets``: EFS with a dynamic access point per PVC (ReadWriteMany), TLS always,
  reclaim Retain, a stable directory per namespace/PVC name.
- ``local-nvme`` (only when some always-on pool offers local PVs): the node's
  instance-store RAID0, no provisioner (the local-static-provisioner publishes the
  volumes), never default. Pools that scale from zero never get it: a pod whose PVC waits
  for a local PV cannot make the cluster-autoscaler add a node; their jobs take scratch as
  ``emptyDir`` on the same NVMe (see :mod:`modules.schema.storage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_kubernetes as k8s

from ..schema.storage import CheckpointsConfig, EfsConfig

DEFAULT_CLASS = "gp3"
CHECKPOINTS_CLASS = "checkpoints"
DATASETS_CLASS = "shared-datasets"
SCRATCH_CLASS = "local-nvme"
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
EBS_PROVISIONER = "ebs.csi.aws.com"
EFS_PROVISIONER = "efs.csi.aws.com"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
#: EFS directory under which every PVC gets ``<namespace>/<pvc name>``
EFS_BASE_PATH = "/datasets"


def ebs_parameters(kms_key_arn: pulumi.Input[str], *, purpose: str, iops: int | None = None,
                   throughput: int | None = None) -> dict[str, pulumi.Input[str]]:
    params: dict[str, pulumi.Input[str]] = {
        "type": "gp3",
        "encrypted": "true",
        "kmsKeyId": kms_key_arn,
        "csi.storage.k8s.io/fstype": "ext4",
        "tagSpecification_1": f"gpufleet.io/purpose={purpose}",
    }
    if iops is not None:
        params["iops"] = str(iops)
    if throughput is not None:
        params["throughput"] = str(throughput)
    return params


def efs_parameters(file_system_id: pulumi.Input[str], cfg: EfsConfig) -> dict[str, pulumi.Input[str]]:
    return {
        "provisioningMode": "efs-ap",
        "fileSystemId": file_system_id,
        "directoryPerms": cfg.directory_perms,
        "uid": str(cfg.uid),
        "gid": str(cfg.gid),
        "basePath": EFS_BASE_PATH,
        "subPathPattern": "${.PVC.namespace}/${.PVC.name}",
        # the same PVC name finds the same directory again (datasets outlive their PVCs)
        "ensureUniqueDirectory": "false",
    }


@dataclass(frozen=True)
class StorageClassesArgs:
    kms_key_arn: pulumi.Input[str]
    file_system_id: pulumi.Input[str]
    efs: EfsConfig
    checkpoints: CheckpointsConfig
    #: create ``local-nvme`` (some always-on pool offers NVMe local PVs)
    scratch: bool


class StorageClasses(pulumi.ComponentResource):
    classes: dict[str, k8s.storage.v1.StorageClass]

    def __init__(self, name: str, args: StorageClassesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:storage:StorageClasses", name, None, opts)
        self.classes = {}
        ckpt = args.checkpoints
        self._add(name, DEFAULT_CLASS, EBS_PROVISIONER, ebs_parameters(args.kms_key_arn, purpose="general"),
                  reclaim="Delete", binding="WaitForFirstConsumer", expand=True, default=True)
        self._add(name, CHECKPOINTS_CLASS, EBS_PROVISIONER,
                  ebs_parameters(args.kms_key_arn, purpose="checkpoints", iops=ckpt.iops,
                                 throughput=ckpt.throughput_mibps),
                  reclaim="Retain", binding="WaitForFirstConsumer", expand=True)
        self._add(name, DATASETS_CLASS, EFS_PROVISIONER, efs_parameters(args.file_system_id, args.efs),
                  reclaim="Retain", binding="Immediate", mount_options=["tls"])
        if args.scratch:
            self._add(name, SCRATCH_CLASS, NO_PROVISIONER, None, reclaim="Delete", binding="WaitForFirstConsumer")
        self.register_outputs({"names": list(self.classes)})

    def _add(self, name: str, cls: str, provisioner: str, parameters: Mapping[str, pulumi.Input[str]] | None, *,
             reclaim: str, binding: str, expand: bool | None = None, default: bool = False,
             mount_options: list[str] | None = None) -> None:
        self.classes[cls] = k8s.storage.v1.StorageClass(
            f"{name}-{cls}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cls,
                labels={"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "gpufleet"},
                annotations={DEFAULT_ANNOTATION: "true" if default else "false"},
            ),
            provisioner=provisioner,
            parameters=dict(parameters) if parameters else None,
            reclaim_policy=reclaim,
            volume_binding_mode=binding,
            allow_volume_expansion=expand,
            mount_options=mount_options,
            opts=pulumi.ResourceOptions(parent=self),
        )
