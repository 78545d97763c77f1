"""Local NVMe scratch: the instance-store RAID0 of NVMe pools offered as ``local-nvme`` PVs.

AL2023 nodes of a pool with instance store assemble their NVMe disks into one RAID0 array
(nodeadm ``localStorage: strategy: RAID0``, see :mod:`modules.nodespec`), which nodeadm's
``setup-local-disks`` mounts at ``/mnt/k8s-disks/0`` (XFS) and onto which it bind-mounts
kubelet, containerd and pod logs. The local-static-provisioner must never publish that
mount itself (cleaning a released PV would wipe kubelet's state), so an init container
carves ``/mnt/k8s-disks/0/local-nvme/vol-<i>`` directories and bind-mounts each at
``/mnt/local-nvme/vol-<i>``; the provisioner discovers those mount points and publishes
each as a ``local-nvme`` PV, and cleans only its directory when the PV is released.

The provisioner runs only on nodes of the pools that offer local PVs (node affinity on
``gpufleet.io/pool``) and tolerates their taints (the GPU taint and any pool taint). Those
are always-on pools (min ≥ 1, :func:`modules.schema.storage.offers_local_pv`): a pool at
zero has no node to publish a PV, and a pod waiting for one never makes the
cluster-autoscaler add a node (kubernetes/autoscaler#1658). When the autoscaler removes a
node above ``min``, its PVs point at a node that no longer exists; the node-cleanup
controller (:mod:`modules.storage.node_cleanup`) deletes them and their claims.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Sequence

import pulumi

from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from ..nodespec import GPU_TAINT, POOL_LABEL
from .classes import SCRATCH_CLASS

#: where nodeadm mounts the RAID0 array of instance-store disks (amazon-eks-ami setup-local-disks)
RAID_MOUNT = "/mnt/k8s-disks/0"
#: where the scratch volumes are bind-mounted for discovery (the provisioner's hostDir)
SCRATCH_HOST_DIR = f"/mnt/{SCRATCH_CLASS}"
NAMESPACE = "local-nvme"
#: small shell for the init container (busybox: sh, mkdir, mount, mountpoint)
INIT_IMAGE = "public.ecr.aws/docker/library/busybox:1.37.0"
HOST_MNT = "/host/mnt"


@dataclass(frozen=True)
class ScratchPool:
    name: str
    #: extra taints of the pool (key, value, effect) besides the GPU taint
    taints: tuple[tuple[str, str, str], ...] = ()


def prepare_script(volumes: int) -> str:
    """Create the scratch directories on the array and bind-mount each for discovery (idempotent)."""
    raid = f"{HOST_MNT}{RAID_MOUNT.removeprefix('/mnt')}"
    host_dir = f"{HOST_MNT}{SCRATCH_HOST_DIR.removeprefix('/mnt')}"
    return textwrap.dedent(f"""\
        set -eu
        if ! mountpoint -q {raid}; then
          echo "no instance-store RAID0 array at {RAID_MOUNT}: refusing to publish scratch on the root volume" >&2
          exit 1
        fi
        for i in $(seq 1 {volumes}); do
          src={raid}/{SCRATCH_CLASS}/vol-$i
          dst={host_dir}/vol-$i
          mkdir -p "$src" "$dst"
          chmod 1777 "$src"
          mountpoint -q "$dst" || mount --bind "$src" "$dst"
        done
        """)


def tolerations(pools: Sequence[ScratchPool]) -> list[dict[str, str]]:
    key, _, effect = GPU_TAINT
    result = [{"key": key, "operator": "Exists", "effect": effect}]
    for pool in pools:
        for k, v, e in pool.taints:
            tol = {"key": k, "operator": "Equal", "value": v, "effect": e} if v else {"key": k, "operator": "Exists", "effect": e}
            if tol not in result:
                result.append(tol)
    return result


def values(pools: Sequence[ScratchPool], volumes_per_node: int) -> dict[str, Any]:
    """Chart values of local-static-provisioner (checked against the pinned chart's defaults)."""
    return {
        "classes": [{
            "name": SCRATCH_CLASS,
            "hostDir": SCRATCH_HOST_DIR,
            "volumeMode": "Filesystem",
            "accessMode": "ReadWriteOnce",
            "namePattern": "vol-*",
        }],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": sorted(p.name for p in pools)}]},
        ]}}},
        "tolerations": tolerations(pools),
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "additionalVolumes": [{"name": "host-mnt", "hostPath": {"path": "/mnt", "type": "Directory"}}],
        "initContainers": [{
            "name": "prepare-scratch",
            "image": INIT_IMAGE,
            "command": ["sh", "-c", prepare_script(volumes_per_node)],
            "securityContext": {"privileged": True},
            "volumeMounts": [{"name": "host-mnt", "mountPath": HOST_MNT, "mountPropagation": "Bidirectional"}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        }],
        "podLabels": {"app.kubernetes.io/part-of": "gpufleet"},
    }


@dataclass(frozen=True)
class NvmeScratchArgs:
    pools: Sequence[ScratchPool]
    volumes_per_node: int = 1


def install(name: str, args: NvmeScratchArgs, opts: pulumi.ResourceOptions) -> HelmAddon:
    """The local-static-provisioner release (a privileged DaemonSet in its own namespace)."""
    return HelmAddon(name, HelmAddonArgs(
        chart=CHARTS["local-static-provisioner"],
        namespace=NAMESPACE,
        values=values(args.pools, args.volumes_per_node),
        # the DaemonSet mounts host paths and bind-mounts on the host: privileged by design
        namespace_labels={"pod-security.kubernetes.io/enforce": "privileged"},
    ), opts=opts)
