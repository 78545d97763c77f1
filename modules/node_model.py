"""What a node of a pool offers: the ready node, and the template node the cluster-autoscaler
imagines while the pool is at zero (pure functions over catalog facts).

One module holds these rules so the node pools (user data, node-template tags), the config
checks and the "will it run" checks read the same figures. Each rule names its source.

**Pods per node** — the VPC CNI runs with prefix delegation (``modules/cluster.py``), so
EKS gives a node ``maxPods`` from the max-pods calculator in prefix mode: 110 below 30
vCPUs, 250 from 30 vCPUs, never above what the ENIs' /28 prefixes hold
(amazon-eks-ami ``templates/al2023/runtime/max-pods-calculator.sh``; amazon-eks-user-guide
``cni-increase-ip-addresses``). The catalog's ``allocatable.pods`` is the ENI-slot count
``ENIs × (IPs per ENI − 1) + 2``; with prefixes each slot holds 16 addresses.

**kubelet reservations** — nodeadm sizes ``kubeReserved`` from the ENI-slot pod count, not
from a ``maxPods`` a NodeConfig sets (amazon-eks-ami ``nodeadm/internal/kubelet/config.go``,
``withDefaultReservedResources`` called with ``GetClassicMaxPods``): memory
``11 × maxPods + 255`` MiB, CPU 6 % of the first core, 1 % of the second, 0.5 % of the
next two and 0.25 % of the rest, ephemeral-storage 1 GiB; eviction at 100 MiB memory and
10 % of the node filesystem. A pool that runs more pods than its ENI slots must therefore
set the matching ``kubeReserved`` itself (``kubelet_config``). Bottlerocket derives its
reserve from its own ``max-pods`` setting with the same formula (bottlerocket
``sources/api/schnauzer``, ``kube_reserve_memory``).

**Memory capacity** — the kernel keeps part of the instance's memory; the ready node
reports about 7.5 % less (karpenter-provider-aws ``pkg/providers/instancetype``,
``VM_MEMORY_OVERHEAD_PERCENT`` default 0.075).

**Huge pages** — EFA jobs request ``hugepages-2Mi`` (amazon-eks-user-guide ``ml/node-efa``);
EFA pools pre-allocate ``EFA_HUGEPAGES_2MI`` pages at boot (the aws-efa-installer's figure),
which kubelet reports as capacity and takes out of allocatable memory.

**Ephemeral storage** — kubelet's and containerd's directories live on the instance-store
RAID0 when the pool has NVMe (nodeadm ``setup-local-disks``; Bottlerocket
``apiclient ephemeral-storage``), else on the root (AL2023) or data (Bottlerocket) volume.

**The template node** — with a pool at zero the cluster-autoscaler builds a node from the
instance type (vCPU, memory, ``nvidia.com/gpu`` = the type's GPU count, 110 pods), then
overrides capacity with the ASG's ``k8s.io/cluster-autoscaler/node-template/resources/*``
tags and adds ``.../label/*`` and ``.../taint/*`` (kubernetes/autoscaler
``cluster-autoscaler/cloudprovider/aws/aws_manager.go``, ``buildNodeFromTemplate``). A pod
scales a pool from zero only if it fits that template, so the tags carry every resource the
ready node reports that the instance facts get wrong or miss: MIG slices and
``nvidia.com/gpu: 0`` on MIG pools (the ``mixed`` strategy hides whole GPUs), time-sliced
replicas, EFA devices, huge pages, ephemeral storage, pods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from . import catalog

GIB = 1024 ** 3
#: prefix delegation: addresses per ENI slot (a /28 prefix)
IPS_PER_PREFIX = 16
#: max-pods calculator caps in prefix mode (below / from 30 vCPUs)
MAX_PODS_SMALL, MAX_PODS_LARGE, LARGE_VCPUS = 110, 250, 30
#: what the cluster-autoscaler's AWS template assumes for pods (aws_manager.go)
TEMPLATE_PODS = 110
#: kubelet hard eviction thresholds nodeadm configures
EVICTION_MEMORY_MIB = 100
EVICTION_NODEFS_FRACTION = 0.10
KUBE_RESERVED_EPHEMERAL_GIB = 1
#: memory the kernel and firmware keep from the instance's nominal memory
VM_MEMORY_OVERHEAD = 0.075
#: 2 MiB huge pages pre-allocated on EFA nodes (aws-efa-installer default)
EFA_HUGEPAGES_2MI = 5128
#: filesystem metadata on the volume that holds kubelet's directory
FS_OVERHEAD = 0.02
GPU_RESOURCE = "nvidia.com/gpu"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
HUGEPAGES = "hugepages-2Mi"
EPHEMERAL = "ephemeral-storage"


def max_pods(instance: catalog.InstanceType) -> int:
    """Pods per node with prefix delegation (max-pods calculator, prefix mode)."""
    eni_slots = int(instance.allocatable.get("pods", "0"))
    cap = MAX_PODS_LARGE if instance.vcpu >= LARGE_VCPUS else MAX_PODS_SMALL
    return min(cap, max(eni_slots - 2, 0) * IPS_PER_PREFIX + 2)


def reserved_memory_mib(pods: int) -> int:
    """kubeReserved memory for ``pods`` pods (nodeadm ``GetMemoryMebibytesToReserve``)."""
    return 11 * pods + 255


def reserved_cpu_millicores(vcpu: int) -> int:
    """kubeReserved CPU (nodeadm ``getCPUMillicoresToReserve``)."""
    steps = ((1, 0.06), (1, 0.01), (2, 0.005), (math.inf, 0.0025))
    left, total = vcpu, 0.0
    for cores, share in steps:
        n = min(left, cores)
        total += n * 1000 * share
        left -= n
        if left <= 0:
            break
    return int(total)


@dataclass(frozen=True)
class NodeShape:
    """What a node of one instance type in one pool reports once ready (allocatable), and
    the kubelet settings that make it so."""

    instance: str
    pods: int
    cpu_millicores: int
    memory_mib: int
    ephemeral_gib: int
    #: extended resources (GPUs, MIG slices, EFA devices, huge pages in MiB)
    extended: Mapping[str, int]
    kube_reserved: Mapping[str, str]

    def allocatable(self) -> dict[str, int]:
        """Allocatable in scheduler units: cpu in millicores, memory in MiB, storage in GiB."""
        return {"cpu": self.cpu_millicores, "memory": self.memory_mib, EPHEMERAL: self.ephemeral_gib,
                "pods": self.pods, **self.extended}


def node_shape(instance_name: str, *, disk_gb: int, nvme_raid0: bool, hugepages_2mi: int,
               extended: Mapping[str, int], pods_per_node: int | None = None) -> NodeShape:
    """The ready node of ``instance_name`` in a pool with these settings (``pods_per_node``:
    a maxPods below the prefix-delegation figure, with the memory reserve that matches it)."""
    it = catalog.instance_type(instance_name)
    if it is None:
        raise KeyError(instance_name)
    pods = max_pods(it) if pods_per_node is None else min(pods_per_node, max_pods(it))
    reserved_mem = reserved_memory_mib(pods)
    reserved_cpu = reserved_cpu_millicores(it.vcpu)
    huge_mib = hugepages_2mi * 2
    memory_capacity = int(it.memory_mib * (1 - VM_MEMORY_OVERHEAD))
    memory = memory_capacity - reserved_mem - EVICTION_MEMORY_MIB - huge_mib
    storage_bytes = it.nvme_gb * 10 ** 9 if nvme_raid0 and it.nvme_gb else disk_gb * GIB
    storage_gib = storage_bytes * (1 - FS_OVERHEAD) / GIB
    ephemeral = math.floor(storage_gib * (1 - EVICTION_NODEFS_FRACTION) - KUBE_RESERVED_EPHEMERAL_GIB)
    ext = dict(extended)
    if huge_mib:
        ext[HUGEPAGES] = huge_mib
    return NodeShape(
        instance=instance_name, pods=pods, cpu_millicores=it.vcpu * 1000 - reserved_cpu, memory_mib=memory,
        ephemeral_gib=ephemeral, extended=ext,
        kube_reserved={"cpu": f"{reserved_cpu}m", "memory": f"{reserved_mem}Mi",
                       EPHEMERAL: f"{KUBE_RESERVED_EPHEMERAL_GIB}Gi"})


def template_capacity(instance_name: str, tags: Mapping[str, str]) -> dict[str, int]:
    """The capacity of the cluster-autoscaler's template node for ``instance_name`` with the
    ASG's node-template ``tags`` (aws_manager.go ``buildNodeFromTemplate``), in the units of
    :meth:`NodeShape.allocatable` (tag quantities parsed as Kubernetes quantities)."""
    from .k8s_quantity import parse_quantity

    it = catalog.instance_type(instance_name)
    capacity: dict[str, int] = {"cpu": it.vcpu * 1000, "memory": it.memory_mib, "pods": TEMPLATE_PODS,
                                GPU_RESOURCE: it.gpu_count}
    prefix = "k8s.io/cluster-autoscaler/node-template/resources/"
    for key, value in tags.items():
        if not key.startswith(prefix):
            continue
        resource = key.removeprefix(prefix)
        q = parse_quantity(value)
        if resource == "cpu":
            capacity[resource] = int(q * 1000)
        elif resource in ("memory", HUGEPAGES):
            capacity[resource] = int(q / 2 ** 20)
        elif resource == EPHEMERAL:
            capacity[resource] = int(q / GIB)
        else:
            capacity[resource] = int(q)
    return capacity


def template_tags(shape: NodeShape) -> dict[str, str]:
    """The ``resources/*`` node-template tags (suffix -> quantity) that make the template
    node offer what the ready node reports, for everything but cpu and memory (the template
    keeps the instance's nominal figures there: a known optimism of the autoscaler, which the
    fit checks account for by fitting pods to ``NodeShape``, not to the template)."""
    tags = {name: str(n) for name, n in sorted(shape.extended.items()) if name != HUGEPAGES}
    if HUGEPAGES in shape.extended:
        tags[HUGEPAGES] = f"{shape.extended[HUGEPAGES]}Mi"
    tags[EPHEMERAL] = f"{shape.ephemeral_gib}Gi"
    tags["pods"] = str(shape.pods)
    return tags


def pool_shape(instance_types: tuple[str, ...] | list[str], *, disk_gb: int, nvme_raid0: bool,
               hugepages_2mi: int = 0, extended: Mapping[str, int] | None = None,
               pods_per_node: int | None = None) -> NodeShape:
    """The node a pool guarantees whichever of its instance types EC2 launches: the
    smallest figure of each resource across the types (what the autoscaler's template takes
    too, ``updateMinResource`` in aws_manager.go)."""
    shapes = [node_shape(t, disk_gb=disk_gb, nvme_raid0=nvme_raid0, hugepages_2mi=hugepages_2mi,
                         extended=extended or {}, pods_per_node=pods_per_node) for t in instance_types]
    first = shapes[0]
    return NodeShape(
        instance=first.instance,
        pods=min(s.pods for s in shapes),
        cpu_millicores=min(s.cpu_millicores for s in shapes),
        memory_mib=min(s.memory_mib for s in shapes),
        ephemeral_gib=min(s.ephemeral_gib for s in shapes),
        extended={k: min(s.extended[k] for s in shapes) for k in first.extended},
        kube_reserved=first.kube_reserved,
    )


def ephemeral_storage_gib(spec) -> int:
    """Ephemeral storage (GiB) a ready node of the pool described by ``spec`` (a
    ``modules.nodespec.NodeSpec``) offers pods: emptyDir scratch is sized against it."""
    return spec.shape.ephemeral_gib
