"""What a node pool is, in the terms EKS and the cluster-autoscaler use (pure functions).

``NodeSpec`` is computed from the typed pool config; the ``NodePool`` component turns it
into AWS resources, the add-ons turn the same labels and taints into Kueue flavors and
tolerations, and the cost model reads its sizes. One derivation, many readers.
"""

from __future__ import annotations

import base64
import textwrap
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Mapping, Sequence

import yaml

from . import node_model
from .node_model import EFA_HUGEPAGES_2MI, NodeShape
from .schema.pools import GpuPool, SystemPool

GPU_TAINT = ("nvidia.com/gpu", "true", "NoSchedule")
POOL_LABEL = "gpufleet.io/pool"
AMI_TYPES = {"al2023": "AL2023_x86_64_NVIDIA", "bottlerocket": "BOTTLEROCKET_x86_64_NVIDIA"}
#: the system pool's EKS AMI type by the architecture of its instance types (all of a pool's
#: types share one architecture: ``modules.schema.pools``)
SYSTEM_AMI_TYPES = {"amd64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}
SYSTEM_AMI_TYPE = SYSTEM_AMI_TYPES["amd64"]
EKS_TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
MIME_BOUNDARY = "==GPUFLEET=="
#: the label the cluster-autoscaler's AWS provider reads to know a node has GPUs
#: (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md, "Special note on
#: GPU instances"): without it the autoscaler may scale out again while the device plugin
#: (and, on MIG pools, the MIG reboot) has not yet published the GPUs
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"
#: labels that configure a node's software (read by the GPU Operator, the autoscaler, the
#: policy pack), not labels that select a pool: a Kueue flavor leaves them out (it holds at
#: most 8 node labels, and ``gpufleet.io/pool`` already selects the pool)
NODE_ONLY_LABELS = (ACCELERATOR_LABEL, "gpufleet.io/always-on", "nvidia.com/mig.config",
                    "nvidia.com/device-plugin.config")


def flavor_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The node labels a Kueue ResourceFlavor selects a pool's nodes by."""
    return {k: v for k, v in labels.items() if k not in NODE_ONLY_LABELS}


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
    efa_interfaces: int = 0
    #: the one AZ an EFA pool is pinned to (None: every private subnet)
    az: str | None = None
    #: 2 MiB huge pages pre-allocated at boot (EFA pools)
    hugepages_2mi: int = 0
    #: kubelet maxPods below the prefix-delegation figure (the system pool's ``max_pods``)
    pods_per_node: int | None = None

    @property
    def flavor_labels(self) -> dict[str, str]:
        """The labels that select this pool's nodes (a Kueue ResourceFlavor's nodeLabels)."""
        return flavor_labels(self.labels)

    @cached_property
    def shape(self) -> NodeShape:
        """What a ready node of this pool reports (``modules.node_model``)."""
        return node_model.pool_shape(self.instance_types, disk_gb=self.disk_gb, nvme_raid0=self.nvme_raid0,
                                     hugepages_2mi=self.hugepages_2mi, extended=self.resources,
                                     pods_per_node=self.pods_per_node)

    @property
    def max_pods(self) -> int:
        """kubelet maxPods: what EKS sets with prefix delegation on; the pool's user data
        sets it too, with the matching memory reserve."""
        return self.shape.pods

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
        ami_type=SYSTEM_AMI_TYPES[pool.architecture],
        min_size=pool.min,
        max_size=pool.max,
        disk_gb=pool.disk_gb,
        labels={POOL_LABEL: "system", "gpufleet.io/role": "system", "gpufleet.io/capacity": pool.capacity},
        pods_per_node=pool.max_pods,
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
    if pool.sharing == "mig":
        resources["nvidia.com/gpu"] = 0  # the mixed strategy advertises slices only
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
        labels={**gpu_labels(pool), ACCELERATOR_LABEL: f"nvidia-{pool.instance.gpu_name}"},
        taints=(GPU_TAINT, *((t.key, t.value, t.effect) for t in pool.taints)),
        resources=resources,
        nvme_raid0=pool.has_nvme,
        efa_interfaces=pool.efa_interfaces,
        az=(pool.efa_az or azs[0]) if pool.efa else None,
        hugepages_2mi=EFA_HUGEPAGES_2MI if pool.efa else 0,
    )


def autoscaler_tags(spec: NodeSpec) -> dict[str, str]:
    """cluster-autoscaler node-template tags for the pool's Auto Scaling group: what a
    node *would* offer, so a pending pod can scale the pool up from zero. Resources come
    from ``node_model`` (the ready node's figures), including ``nvidia.com/gpu: 0`` on MIG
    pools, whose instance type would otherwise advertise whole GPUs."""
    tags = {f"{CA_TEMPLATE}/label/{k}": v for k, v in spec.labels.items()}
    tags.update({f"{CA_TEMPLATE}/taint/{k}": f"{v}:{effect}" for k, v, effect in spec.taints})
    tags.update({f"{CA_TEMPLATE}/resources/{k}": q for k, q in node_model.template_tags(spec.shape).items()})
    return tags


def kubelet_config(spec: NodeSpec) -> dict[str, object]:
    """The kubelet settings a pool's NodeConfig carries: maxPods (what EKS derives with
    prefix delegation on) and the memory reserve that matches it, since nodeadm sizes its
    own from the ENI-slot pod count (see ``modules.node_model``). The kubelet merges the
    drop-in over nodeadm's config key by key, so nodeadm's CPU and storage reserves stay."""
    return {"maxPods": spec.max_pods, "kubeReserved": {"memory": spec.shape.kube_reserved["memory"]}}


def user_data(spec: NodeSpec) -> str:
    """Base64 user data merged by EKS into the node bootstrap.

    AL2023: a nodeadm ``NodeConfig`` MIME part with the kubelet settings of
    :func:`kubelet_config` and, on pools with instance store, the NVMe disks assembled into
    one RAID0 array for kubelet and containerd (so emptyDir scratch is on NVMe); on EFA
    pools, a shell part that pre-allocates the huge pages before nodeadm starts the kubelet
    (cloud-init runs it before ``nodeadm-run``).
    Bottlerocket: TOML settings that do the same (``settings.kubernetes.max-pods``, from
    which Bottlerocket derives its memory reserve; ``apiclient ephemeral-storage``;
    ``settings.kernel.sysctl``).
    """
    if spec.bottlerocket:
        body = f"[settings.kubernetes]\nmax-pods = {spec.max_pods}\n\n"
        if spec.hugepages_2mi:
            body += f'[settings.kernel.sysctl]\n"vm.nr_hugepages" = "{spec.hugepages_2mi}"\n\n'
        if spec.nvme_raid0:
            body += textwrap.dedent("""\
                [settings.bootstrap-commands.k8s-ephemeral-storage]
                commands = [["apiclient", "ephemeral-storage", "init"],
                            ["apiclient", "ephemeral-storage", "bind", "--dirs", "/var/lib/containerd", "/var/lib/kubelet", "/var/log/pods"]]
                essential = true
                mode = "always"
                """)
        return base64.b64encode(body.encode()).decode()
    node_spec: dict = {"kubelet": {"config": kubelet_config(spec)}}
    if spec.nvme_raid0:
        node_spec["instance"] = {"localStorage": {"strategy": "RAID0"}}
    node_config = yaml.safe_dump(
        {"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig", "spec": node_spec}, sort_keys=False)
    parts = [f"Content-Type: application/node.eks.aws\n\n---\n{node_config}"]
    if spec.hugepages_2mi:
        parts.append("Content-Type: text/x-shellscript; charset=\"us-ascii\"\n\n"
                     f"#!/bin/bash\nset -euo pipefail\nsysctl -w vm.nr_hugepages={spec.hugepages_2mi}\n"
                     f"echo 'vm.nr_hugepages = {spec.hugepages_2mi}' > /etc/sysctl.d/90-gpufleet-hugepages.conf\n")
    body = f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"\n\n'
    body += "".join(f"--{MIME_BOUNDARY}\n{part}\n" for part in parts) + f"--{MIME_BOUNDARY}--\n"
    return base64.b64encode(body.encode()).decode()


def efa_interface_layout(count: int) -> list[tuple[int, int]]:
    """(network_card_index, device_index) of each EFA interface: the primary interface is
    device 0 on card 0, every other card gets one interface as device 1 (the AWS layout
    for p4d/p5 with all network cards in use)."""
    return [(card, 0 if card == 0 else 1) for card in range(count)]
