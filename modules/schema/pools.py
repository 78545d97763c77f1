"""Config models for node pools: the system pool and the GPU pools."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from .. import catalog, node_model
from .base import LABEL_VALUE_RE, Name, StrictModel, check_labels, fail

Capacity = Literal["on-demand", "spot"]
Sharing = Literal["none", "mig", "timeslice"]
Purpose = Literal["training", "inference", "experiments", "general"]
AmiFamily = Literal["al2023", "bottlerocket"]
#: Label keys the platform sets itself on every pool; config may not override them.
RESERVED_LABEL_PREFIXES = ("gpufleet.io/", "nvidia.com/", "kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")
MAX_TIMESLICE_REPLICAS = 48
#: the fewest pods per system node a stack may set: a node's DaemonSets alone take about 6
MIN_SYSTEM_PODS = 16
#: EKS: "Nodes per managed node group", default quota 450
#: (docs.aws.amazon.com/eks/latest/userguide/service-quotas.html).
MAX_NODES_PER_NODE_GROUP = 450
#: EKS: at most 50 taints per managed node group (aws.eks.NodeGroup ``taints``, from the
#: Terraform/Pulumi AWS provider docs of ``aws_eks_node_group``), the platform's GPU taint included.
MAX_TAINTS_PER_NODE_GROUP = 50
#: The taint every GPU node carries (``modules/nodespec.py`` ``GPU_TAINT``: nvidia.com/gpu=true:NoSchedule);
#: a pool may not repeat or change it.
GPU_TAINT_KEY = "nvidia.com/gpu"
#: EKS API ``Taint``: key 1-63 characters, value 0-63 (docs.aws.amazon.com/eks/latest/APIReference/API_Taint.html);
#: the 63 bounds the whole key, prefix included (stricter than Kubernetes' 253 + 63).
TAINT_KEY_MAX = 63
TAINT_VALUE_MAX = 63
#: Kubernetes qualified name (``[prefix/]name``): prefix a DNS-1123 subdomain, name 1-63
#: characters [A-Za-z0-9-_.] alphanumeric at both ends (k8s.io/apimachinery validation IsQualifiedName).
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
#: EKS API ``CreateNodegroup`` labels: key 1-63 characters in all (prefix included, stricter than
#: Kubernetes' 253 + 63), value 1-63 (no empty value); ``modules/data/service_limits.json``
_LIMITS = catalog.load("service_limits.json")["limits"]
LABEL_KEY_MAX: int = _LIMITS["eks_nodegroup_label_key_max"]["value"]
LABEL_VALUE_MIN, LABEL_VALUE_MAX = _LIMITS["eks_nodegroup_label_value"]["value"]
TAINT_KEY_RULE = (f"a taint key [prefix/]name of at most {TAINT_KEY_MAX} characters in all (EKS's limit): "
                  "name of A-Z, a-z, 0-9, '-', '_', '.' and alphanumeric at both ends, "
                  "optional prefix a lowercase DNS subdomain (e.g. example.com/dedicated)")


def is_taint_key(key: str) -> bool:
    """Kubernetes' qualified-name syntax within EKS's 63-character limit for a taint key."""
    if not isinstance(key, str) or not 1 <= len(key) <= TAINT_KEY_MAX or key.count("/") > 1:
        return False
    prefix, _, name = key.rpartition("/")
    if "/" in key and not (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return len(name) <= 63 and _QUALIFIED_NAME.fullmatch(name) is not None


def is_taint_value(value: str) -> bool:
    """A Kubernetes label value (empty allowed) within EKS's 63 characters."""
    return isinstance(value, str) and len(value) <= TAINT_VALUE_MAX and LABEL_VALUE_RE.fullmatch(value) is not None


class Taint(StrictModel):
    """One extra taint of a GPU pool (Kubernetes' syntax, EKS's limits)."""

    key: str
    """``[prefix/]name``, at most 63 characters (e.g. ``example.com/dedicated``); not ``nvidia.com/gpu``."""
    value: str = ""
    """At most 63 characters of A-Z, a-z, 0-9, ``-``, ``_``, ``.``, alphanumeric at both ends; may be empty."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """What the taint does to pods that do not tolerate it."""

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not is_taint_key(v):
            fail("", v, TAINT_KEY_RULE)
        if v == GPU_TAINT_KEY:
            fail("", v, f"a key other than {GPU_TAINT_KEY}: the platform sets {GPU_TAINT_KEY}=true:NoSchedule "
                        "on every GPU node, and a second taint with that key would repeat or contradict it")
        return v

    @field_validator("value")
    @classmethod
    def _value(cls, v: str) -> str:
        if not is_taint_value(v):
            fail("", v, f"a taint value of at most {TAINT_VALUE_MAX} characters A-Z, a-z, 0-9, '-', '_', '.', "
                        "alphanumeric at both ends (or empty)")
        return v


def _max_nodes(max_nodes: int) -> None:
    if max_nodes > MAX_NODES_PER_NODE_GROUP:
        fail("max", max_nodes, f"at most {MAX_NODES_PER_NODE_GROUP} (EKS's quota of nodes per managed node group)")


def system_type_problem(it: catalog.InstanceType) -> str | None:
    """Why ``it`` may not run the system pool (None: it may), by the allowlist in
    ``modules/data/system_pool_types.json``."""
    rule = catalog.load("system_pool_types.json")
    if it.family not in rule["families"]:
        return f"{it.family} is not a family for cluster add-ons"
    if not rule["min_vcpu"] <= it.vcpu <= rule["max_vcpu"]:
        return f"it has {it.vcpu} vCPUs"
    if it.memory_mib < rule["min_memory_mib"]:
        return f"it has {it.memory_mib / 1024:g} GiB of memory"
    return None


def system_type_rule() -> str:
    rule = catalog.load("system_pool_types.json")
    return (f"an instance type for cluster add-ons: general purpose, compute or memory optimized or burstable "
            f"(m5+, c5+, r5+, t3, t3a; Graviton m6g+, c6g+, r6g+, t4g; modules/data/system_pool_types.json) with "
            f"{rule['min_vcpu']}-{rule['max_vcpu']} vCPUs and at least {rule['min_memory_mib'] // 1024} GiB")


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
        if gpu and it.arch != "amd64":
            fail(f"[{i}]", name, "an x86_64 GPU instance type (the NVIDIA EKS AMIs used here are x86_64)")
        first = catalog.instance_type(v[0])
        if it.arch != first.arch:
            fail(f"[{i}]", name, f"an instance type of the pool's architecture ({first.arch}, as {v[0]}): one "
                                 f"launch template and one EKS AMI type serve every type of a pool")
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
    """CPU instance types (spot needs at least two), one architecture, from the add-on allowlist: m5+, c5+, r5+,
    t3, t3a and Graviton (arm64) m6g+, c6g+, r6g+, t4g families, 2-16 vCPUs, at least 4 GiB
    (``modules/data/system_pool_types.json``). Graviton nodes boot ``AL2023_ARM_64_STANDARD``; every image the
    stack runs on them must have an arm64 variant (``modules/data/image_architectures.json``)."""
    capacity: Capacity = "on-demand"
    """``spot`` only where interruptions are acceptable (dev)."""
    min: PositiveInt = 2
    """Nodes always running."""
    max: PositiveInt = 3
    """Upper bound for the cluster-autoscaler (at most 450, EKS's nodes per managed node group)."""
    disk_gb: int = Field(default=50, ge=20, le=1000)
    """Encrypted gp3 root volume size (GiB)."""
    max_pods: int | None = Field(default=None, ge=MIN_SYSTEM_PODS)
    """Pods per system node (kubelet ``maxPods``), below what EKS sets with prefix delegation (110 under 30
    vCPUs); the kubelet's memory reserve follows it (11 MiB per pod + 255 MiB), so fewer pod slots give the
    add-ons memory back on small nodes. Default: the prefix-delegation figure. The add-ons must still fit
    (checked against ``min`` nodes)."""

    @field_validator("instance_types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        _known_types(v, gpu=False)
        for i, name in enumerate(v):
            problem = system_type_problem(catalog.instance_type(name))
            if problem:
                fail(f"[{i}]", name, f"{system_type_rule()} ({name}: {problem})")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> "SystemPool":
        _max_nodes(self.max)
        if self.min > self.max:
            fail("min", self.min, f"at most max ({self.max})")
        if self.capacity == "spot" and len(self.instance_types) < 2:
            fail("instance_types", self.instance_types, "at least two instance types for a spot pool")
        if self.max_pods is not None:
            most = min(node_model.max_pods(catalog.instance_type(t)) for t in self.instance_types)
            if self.max_pods > most:
                fail("max_pods", self.max_pods, f"an integer from {MIN_SYSTEM_PODS} to {most} (what EKS sets with "
                                                f"prefix delegation on {self.instance_types[0]}; leave it unset for that)")
        return self

    @property
    def architecture(self) -> str:
        """``amd64`` or ``arm64``: every type of the pool has the same (checked above)."""
        return catalog.instance_type(self.instance_types[0]).arch


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
    """Upper bound for the cluster-autoscaler (prices the pool's worst case); at most 450, EKS's nodes per
    managed node group."""
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
    """Extra node labels (not under the platform's own prefixes): key at most 63 characters in all, value 1-63 (EKS's limits for node group labels)."""
    taints: list[Taint] = []
    """Extra taints, distinct keys, at most 49 (the ``nvidia.com/gpu=true:NoSchedule`` taint is always set;
    EKS allows 50 per node group), and fewer where the pool's Auto Scaling group would pass EC2 Auto Scaling's
    50 tags: 5 that EKS sets and one cluster-autoscaler node-template tag per label, taint and resource (about
    30 extra taints; ``modules/checks/aws_limits.py``)."""

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

    @field_validator("taints")
    @classmethod
    def _taints(cls, v: list[Taint]) -> list[Taint]:
        most = MAX_TAINTS_PER_NODE_GROUP - 1
        if len(v) > most:
            fail("", len(v), f"at most {most} taints, not {len(v)} (EKS allows {MAX_TAINTS_PER_NODE_GROUP} "
                             f"per node group, one of them the platform's {GPU_TAINT_KEY} taint)")
        seen: dict[str, int] = {}
        for i, taint in enumerate(v):
            if taint.key in seen:
                fail(f"[{i}].key", taint.key,
                     f"a key not already used by taints[{seen[taint.key]}] (one taint per key: the "
                     "cluster-autoscaler's node-template tag holds one value:effect per key)")
            seen[taint.key] = i
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        check_labels("", v)
        for key, value in v.items():
            if key.startswith(RESERVED_LABEL_PREFIXES):
                fail(f".{key}", key, f"a label key outside the prefixes the platform sets ({', '.join(RESERVED_LABEL_PREFIXES)})")
            if len(key) > LABEL_KEY_MAX:
                fail(f".{key}", key, f"a label key of at most {LABEL_KEY_MAX} characters in all, prefix included, not "
                                     f"{len(key)} (EKS's limit for a node group label key)")
            if not LABEL_VALUE_MIN <= len(value) <= LABEL_VALUE_MAX:
                fail(f".{key}", value, f"a label value of {LABEL_VALUE_MIN}-{LABEL_VALUE_MAX} characters (EKS refuses "
                                       "an empty node group label value)")
        return v

    @model_validator(mode="after")
    def _pool_rules(self) -> "GpuPool":
        _max_nodes(self.max)
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
