"""What a node pool is, in the terms EKS and the cluster-autoscaler use (pure functions).

``NodeSpec`` is computed from the typed pool config; the ``NodePool`` component turns it
into AWS resources, the add-ons turn the same labels and taints into Kueue flavors and
tolerations, and the cost model reads its sizes. One derivation, many readers.
"""

from __future__ import annotations

import base64
import textwrap
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

import yaml

from .schema.pools import GpuPool, SystemPool

GPU_TAINT = ("nvidia.com/gpu", "true", "NoSchedule")
POOL_LABEL = "gpufleet.io/pool"
AMI_TYPES = {"al2023": "AL2023_x86_64_NVIDIA", "bottlerocket": "BOTTLEROCKET_x86_64_NVIDIA"}
SYSTEM_AMI_TYPE = "AL2023_x86_64_STANDARD"
EKS_TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
MIME_BOUNDARY = "==GPUFLEET=="
#: Pods per system node: the VPC CNI hands out /28 prefixes (prefix delegation, see
#: ``modules/cluster.py``), so a small node is no longer capped by its ENI slots (a
#: t3a.medium would take 17 pods); 110 is the kubelet's own default and EKS's advice
#: for instances under 30 vCPUs.
SYSTEM_MAX_PODS = 110


@dataclass(frozen=True)
class NodeSpec:
    name: str
    kind: Literal["system", "gpu"]
    instance_types: tuple[str, ...]
    capacity_type: Literal["ON_DEMAND", "SPOT"]
    ami_type: str
    min_size: int
    max_size: int
    disk_gb: int
    labels: Mapping[str, str]
    taints: tuple[tuple[str, str, str], ...] = ()
    #: extended resources one node advertises (nvidia.com/gpu, nvidia.com/mig-*, vpc.amazonaws.com/efa)
    resources: Mapping[str, int] = field(default_factory=dict)
    nvme_raid0: bool = False
    #: kubelet maxPods (None: the AMI's ENI-based default)
    max_pods: int | None = None
    efa_interfaces: int = 0
    #: the one AZ an EFA pool is pinned to (None: every private subnet)
    az: str | None = None

    @property
    def bottlerocket(self) -> bool:
        return self.ami_type.startswith("BOTTLEROCKET")

    @property
    def root_device(self) -> str:
        """Bottlerocket keeps images and pods on its second (data) volume."""
        return "/dev/xvdb" if self.bottlerocket else "/dev/xvda"


def system_spec(pool: SystemPool) -> NodeSpec:
    return NodeSpec(
        name="system",
        kind="system",
        instance_types=tuple(pool.instance_types),
        capacity_type="SPOT" if pool.capacity == "spot" else "ON_DEMAND",
        ami_type=SYSTEM_AMI_TYPE,
        min_size=pool.min,
        max_size=pool.max,
        disk_gb=pool.disk_gb,
        labels={POOL_LABEL: "system", "gpufleet.io/role": "system", "gpufleet.io/capacity": pool.capacity},
        max_pods=SYSTEM_MAX_PODS,
    )


def gpu_labels(pool: GpuPool) -> dict[str, str]:
    """Node labels of a GPU pool: identity, GPU model, sharing, capacity, plus the labels
    the GPU Operator acts on (MIG config, device-plugin config)."""
    labels = {
        POOL_LABEL: pool.name,
        "gpufleet.io/role": "gpu",
        "gpufleet.io/gpu": pool.gpu_label,
        "gpufleet.io/sharing": pool.sharing,
        "gpufleet.io/capacity": pool.capacity,
        "gpufleet.io/purpose": pool.purpose,
    }
    if pool.sharing == "mig":
        labels["nvidia.com/mig.config"] = pool.mig_config or ""
    if pool.sharing == "timeslice":
        labels["nvidia.com/device-plugin.config"] = pool.name
    if pool.always_on:
        labels["gpufleet.io/always-on"] = "true"  # the policy pack reads it without the stack config
    return {**pool.labels, **labels}


def gpu_spec(pool: GpuPool, azs: Sequence[str]) -> NodeSpec:
    resources = dict(pool.gpu_resources_per_node)
    if pool.efa:
        resources["vpc.amazonaws.com/efa"] = pool.efa_interfaces
    return NodeSpec(
        name=pool.name,
        kind="gpu",
        instance_types=tuple(pool.instance_types),
        capacity_type="SPOT" if pool.capacity == "spot" else "ON_DEMAND",
        ami_type=AMI_TYPES[pool.ami],
        min_size=pool.min,
        max_size=pool.max,
        disk_gb=pool.disk_gb,
        labels=gpu_labels(pool),
        taints=(GPU_TAINT, *((t.key, t.value, t.effect) for t in pool.taints)),
        resources=resources,
        nvme_raid0=pool.has_nvme,
        efa_interfaces=pool.efa_interfaces,
        az=(pool.efa_az or azs[0]) if pool.efa else None,
    )


def autoscaler_tags(spec: NodeSpec) -> dict[str, str]:
    """cluster-autoscaler node-template tags for the pool's Auto Scaling group: what a
    node *would* offer, so a pending pod can scale the pool up from zero."""
    tags = {f"{CA_TEMPLATE}/label/{k}": v for k, v in spec.labels.items()}
    tags.update({f"{CA_TEMPLATE}/taint/{k}": f"{v}:{effect}" for k, v, effect in spec.taints})
    tags.update({f"{CA_TEMPLATE}/resources/{k}": str(n) for k, n in spec.resources.items()})
    return tags


def user_data(spec: NodeSpec) -> str | None:
    """Base64 user data merged by EKS into the node bootstrap, or None when not needed.

    AL2023: a nodeadm ``NodeConfig`` MIME part that assembles the instance-store NVMe
    disks into one RAID0 array for kubelet and containerd (scratch for data loaders) and
    sets the kubelet's maxPods where the pool has one.
    Bottlerocket: TOML settings that do the same (``apiclient ephemeral-storage``,
    ``settings.kubernetes.max-pods``).
    """
    if not spec.nvme_raid0 and spec.max_pods is None:
        return None
    if spec.bottlerocket:
        body = ""
        if spec.max_pods is not None:
            body += f"[settings.kubernetes]\nmax-pods = {spec.max_pods}\n\n"
        if spec.nvme_raid0:
            body += textwrap.dedent("""\
                [settings.bootstrap-commands.k8s-ephemeral-storage]
                commands = [["apiclient", "ephemeral-storage", "init"],
                            ["apiclient", "ephemeral-storage", "bind", "--dirs", "/var/lib/containerd", "/var/lib/kubelet", "/var/log/pods"]]
                essential = true
                mode = "always"
                """)
        return base64.b64encode(body.encode()).decode()
    node_spec: dict = {}
    if spec.max_pods is not None:
        node_spec["kubelet"] = {"config": {"maxPods": spec.max_pods}}
    if spec.nvme_raid0:
        node_spec["instance"] = {"localStorage": {"strategy": "RAID0"}}
    node_config = yaml.safe_dump(
        {"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig", "spec": node_spec}, sort_keys=False)
    body = (f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"\n\n'
            f"--{MIME_BOUNDARY}\nContent-Type: application/node.eks.aws\n\n---\n{node_config}\n"
            f"--{MIME_BOUNDARY}--\n")
    return base64.b64encode(body.encode()).decode()


def efa_interface_layout(count: int) -> list[tuple[int, int]]:
    """(network_card_index, device_index) of each EFA interface: the primary interface is
    device 0 on card 0, every other card gets one interface as device 1 (the AWS layout
    for p4d/p5 with all network cards in use)."""
    return [(card, 0 if card == 0 else 1) for card in range(count)]
