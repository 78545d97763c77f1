"""Config models for node pools: the system pool and the GPU pools."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from .. import catalog, node_model
from .base import Name, StrictModel, check_labels, fail

Capacity = Literal["on-demand", "spot"]
Sharing = Literal["none", "mig", "timeslice"]
Purpose = Literal["training", "inference", "experiments", "general"]
AmiFamily = Literal["al2023", "bottlerocket"]
#: Label keys the platform sets itself on every pool; config may not override them.
RESERVED_LABEL_PREFIXES = ("gpufleet.io/", "nvidia.com/", "kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")
MAX_TIMESLICE_REPLICAS = 48


class Taint(StrictModel):
    key: str = Field(min_length=1, max_length=253)
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


def _known_types(v: list[str], *, gpu: bool) -> list[str]:
    if len(set(v)) != len(v):
        raise ValueError("distinct instance types")
    for i, name in enumerate(v):
        it = catalog.instance_type(name)
        if it is None:
            fail(f"[{i}]", name, "an EC2 instance type from the catalog (modules/data/instance_types.json)")
        if gpu and not it.has_gpu:
            fail(f"[{i}]", name, "an instance type with NVIDIA GPUs (g5, g6, g6e, p4d, p4de, p5, ...)")
        if not gpu and it.has_gpu:
            fail(f"[{i}]", name, "a CPU instance type for the system pool (GPU nodes belong in a GPU pool)")
        if it.arch != "amd64":
            fail(f"[{i}]", name, "an x86_64 instance type (the NVIDIA EKS AMIs used here are x86_64)")
    # one launch template (one kubelet config) serves every type of a pool
    pods = [node_model.max_pods(catalog.instance_type(t)) for t in v]
    for i, name in enumerate(v[1:], start=1):
        if pods[i] != pods[0]:
            fail(f"[{i}]", name, f"an instance type with the same pods per node as {v[0]} ({pods[0]}; {name} takes "
                                 f"{pods[i]}): types below and from {node_model.LARGE_VCPUS} vCPUs belong in separate pools")
    return v


class SystemPool(StrictModel):
    """Small on-demand nodes for cluster add-ons (no taint, no GPU)."""

    instance_types: list[str] = Field(default=["m7i.large"], min_length=1)
    """CPU instance types (spot needs at least two)."""
    capacity: Capacity = "on-demand"
    """``spot`` only where interruptions are acceptable (dev)."""
    min: PositiveInt = 2
    """Nodes always running."""
    max: PositiveInt = 3
    """Upper bound for the cluster-autoscaler."""
    disk_gb: int = Field(default=50, ge=20, le=1000)
    """Encrypted gp3 root volume size (GiB)."""

    @field_validator("instance_types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        return _known_types(v, gpu=False)

    @model_validator(mode="after")
    def _sizes(self) -> "SystemPool":
        if self.min > self.max:
            fail("min", self.min, f"at most max ({self.max})")
        if self.capacity == "spot" and len(self.instance_types) < 2:
            fail("instance_types", self.instance_types, "at least two instance types for a spot pool")
        return self


class GpuPool(StrictModel):
    """A managed node group of GPU instances, tainted ``nvidia.com/gpu=true:NoSchedule``."""

    name: Name
    """Pool name: node label ``gpufleet.io/pool`` and part of resource names."""
    purpose: Purpose = "general"
    """What runs there; the policy pack uses it (spot for training outside prod, no spot for prod inference)."""
    instance_types: list[str] = Field(min_length=1)
    """GPU instance types, all with the same GPU model and count."""
    capacity: Capacity = "on-demand"
    """``spot`` (capacity type SPOT) or ``on-demand``."""
    sharing: Sharing = "none"
    """GPU sharing: whole GPUs, MIG partitions, or time-slicing."""
    mig_config: str | None = None
    """``sharing: mig``: the MIG manager config (value of ``nvidia.com/mig.config``)."""
    replicas: int | None = None
    """``sharing: timeslice``: how many pods share one GPU."""
    min: NonNegativeInt = 0
    """Nodes kept running: 0 unless ``always_on``."""
    max: PositiveInt
    """Upper bound for the cluster-autoscaler (prices the pool's worst case)."""
    always_on: bool = False
    """Keep ``min`` nodes running even when idle (GPU pools scale to zero otherwise)."""
    ami: AmiFamily = "al2023"
    """EKS NVIDIA AMI: AL2023 (default) or Bottlerocket."""
    disk_gb: int = Field(default=100, ge=50, le=4000)
    """Encrypted gp3 root volume size (GiB)."""
    efa: bool = False
    """Multi-node training: placement group, one AZ, EFA interfaces."""
    efa_az: str | None = None
    """With ``efa``: the AZ the pool is pinned to (default: the first AZ)."""
    labels: dict[str, str] = {}
    """Extra node labels (not under the platform's own prefixes)."""
    taints: list[Taint] = []
    """Extra taints (the ``nvidia.com/gpu=true:NoSchedule`` taint is always set)."""

    @field_validator("instance_types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        _known_types(v, gpu=True)
        first = catalog.instance_type(v[0])
        for i, name in enumerate(v[1:], start=1):
            it = catalog.instance_type(name)
            if (it.gpu_name, it.gpu_count) != (first.gpu_name, first.gpu_count):
                fail(f"[{i}]", name,
                     f"the same GPU model and count as {first.name} ({first.gpu_count} × {first.gpu_model.label}); "
                     f"{name} has {it.gpu_count} × {it.gpu_model.label}")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        check_labels("", v)
        for key in v:
            if key.startswith(RESERVED_LABEL_PREFIXES):
                fail(f".{key}", key, f"a label key outside the prefixes the platform sets ({', '.join(RESERVED_LABEL_PREFIXES)})")
        return v

    @model_validator(mode="after")
    def _pool_rules(self) -> "GpuPool":
        if self.min > self.max:
            fail("min", self.min, f"at most max ({self.max})")
        if self.min > 0 and not self.always_on:
            fail("min", self.min, "0 (GPU pools scale to zero); set always_on: true to keep nodes running")
        if self.always_on and self.min == 0:
            fail("always_on", True, "only with min ≥ 1 (always_on keeps min nodes running)")
        self._sharing_rules()
        if self.capacity == "spot" and len(self.instance_types) < 2:
            fail("instance_types", self.instance_types,
                 "at least two instance types for a spot pool (same GPU model and count), so one interrupted type is not an outage")
        if self.efa:
            for i, name in enumerate(self.instance_types):
                if catalog.instance_type(name).efa == 0:
                    efa_types = "p4d.24xlarge, p4de.24xlarge, p5.48xlarge, g5.12xlarge, ..."
                    fail(f"instance_types[{i}]", name, f"an instance type that supports EFA ({efa_types})")
        elif self.efa_az is not None:
            fail("efa_az", self.efa_az, "only with efa: true")
        return self

    def _sharing_rules(self) -> None:
        model = self.gpu_model
        if self.sharing == "mig":
            if not model.mig_capable:
                fail("sharing", "mig", f"none or timeslice: {model.label} ({self.instance_types[0]}) cannot be MIG-partitioned")
            mixed = [t for t in self.instance_types if catalog.instance_type(t).gpu_model != model]
            if mixed:
                fail("instance_types", self.instance_types,
                     f"one GPU memory size in a MIG pool (MIG profiles differ): {mixed[0]} is not {model.label}")
            if self.mig_config is None:
                fail("mig_config", None, f"a MIG config for {model.label}: {', '.join(catalog.valid_mig_configs(model))}")
            if catalog.mig_layout(self.mig_config, model) is None:
                fail("mig_config", self.mig_config,
                     f"a MIG config valid for {self.instance_types[0]} ({model.label}): "
                     f"{', '.join(catalog.valid_mig_configs(model))}")
        elif self.mig_config is not None:
            fail("mig_config", self.mig_config, "only with sharing: mig")
        if self.sharing == "timeslice":
            if self.replicas is None or not 2 <= self.replicas <= MAX_TIMESLICE_REPLICAS:
                fail("replicas", self.replicas, f"an integer from 2 to {MAX_TIMESLICE_REPLICAS} for a time-sliced pool")
        elif self.replicas is not None:
            fail("replicas", self.replicas, "only with sharing: timeslice")

    # ---- derived facts (pure; used by components, cost model, policies) ----

    @property
    def instance(self) -> catalog.InstanceType:
        """The pool's first (reference) instance type: all types share GPU model and count."""
        return catalog.instance_type(self.instance_types[0])

    @property
    def gpu_model(self) -> catalog.GpuModel:
        return self.instance.gpu_model

    @property
    def gpu_label(self) -> str:
        """GPU model key (``a100-40gb``) or, when the pool mixes memory sizes, the GPU name (``a100``)."""
        models = {catalog.instance_type(t).gpu_model.key for t in self.instance_types}
        return models.pop() if len(models) == 1 else self.instance.gpu_name

    @property
    def has_nvme(self) -> bool:
        """Every instance type of the pool has local NVMe instance store."""
        return all(catalog.instance_type(t).has_nvme for t in self.instance_types)

    @property
    def efa_interfaces(self) -> int:
        return min(catalog.instance_type(t).efa for t in self.instance_types) if self.efa else 0

    @cached_property
    def mig_layout(self) -> dict[str, int]:
        if self.sharing != "mig" or self.mig_config is None:
            return {}
        return catalog.mig_layout(self.mig_config, self.gpu_model) or {}

    @property
    def gpu_resources_per_node(self) -> dict[str, int]:
        """Extended resources one node of this pool advertises to the scheduler."""
        gpus = self.instance.gpu_count
        if self.sharing == "mig":
            return {catalog.mig_resource_name(p): n * gpus for p, n in self.mig_layout.items()}
        if self.sharing == "timeslice":
            return {"nvidia.com/gpu": gpus * (self.replicas or 1)}
        return {"nvidia.com/gpu": gpus}
