"""``GpuOperator``: the NVIDIA GPU Operator on EKS NVIDIA AMIs, with MIG and time-slicing.

The AMIs ship the driver and the container toolkit, so the operator runs with both off
and manages the rest: the device plugin, GPU feature discovery, the MIG manager and the
DCGM exporter (GPU metrics for the cost tools).

Sharing, per pool, through node labels the node groups already carry:

- MIG pools: ``nvidia.com/mig.config=<config>``; the MIG manager partitions the GPUs
  (``WITH_REBOOT=true``: it may reboot a node whose GPUs cannot be reset in place), and
  with the ``mixed`` strategy each slice is advertised as ``nvidia.com/mig-<profile>``.
- Time-sliced pools: ``nvidia.com/device-plugin.config=<pool>`` selects the key of the
  same name in the device-plugin ConfigMap below (``replicas`` pods per GPU); every other
  node uses its ``default`` key.

The MIG-at-boot race (NVIDIA/gpu-operator#2670): a node scaled up from zero boots with
``nvidia.com/mig.config`` already set, and the device plugin can start before the MIG
manager has applied the layout (it then fails with "device 0 has no MIG devices
configured" until the MIG manager restarts it). Here no workload can land on such a
node's whole GPU in the meantime: with the ``mixed`` strategy MIG pods ask for
``nvidia.com/mig-<profile>``, which the node only advertises once the layout is in
place, and the MIG pool's Kueue flavor has no ``nvidia.com/gpu`` quota (see
:mod:`modules.ml.kueue`). The MIG manager restarts the device plugin after applying the
layout, so the node heals itself; the README (GPU and ML stack) says how to spot a node stuck
with ``nvidia.com/mig.config.state=failed`` (relabel it to re-run the MIG manager).

Confidential computing is off (``ccManager.enabled: false``; the chart turns it on, with
``defaultMode: "on"``). Today its DaemonSet would schedule nowhere: it selects nodes labelled
``nvidia.com/gpu.deploy.cc-manager=true``, which the operator sets only for the
``vm-passthrough`` / ``vm-vgpu`` workload configs, and ``nvidia.com/cc.capable=true``
(NVIDIA/gpu-operator ``assets/state-cc-manager/0500_daemonset.yaml``,
``controllers/state_manager.go``). Off, a node of an H100 pool (p5) relabelled for sandbox
workloads cannot be switched into CC mode behind the platform's back (a GPU reset, after which
the GPU serves only confidential VMs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from ..charts import CHARTS
from ..helm_addon import HelmAddon, HelmAddonArgs
from ..nodespec import NodeSpec
from ..schema.ml import DEVICE_PLUGIN_DEFAULT_KEY
from ..schema.pools import GpuPool

NAMESPACE = "gpu-operator"
DEVICE_PLUGIN_CONFIGMAP = "gpufleet-device-plugin"
MIG_STRATEGY = "mixed"


def tolerations(specs: Sequence[NodeSpec]) -> list[dict[str, str]]:
    """Tolerations for every taint of the given pools (the GPU taint first), deduplicated."""
    seen: dict[tuple[str, str, str], dict[str, str]] = {}
    for spec in specs:
        for key, value, effect in spec.taints:
            if (key, value, effect) not in seen:
                t = {"key": key, "operator": "Exists", "effect": effect} if not value else \
                    {"key": key, "operator": "Equal", "value": value, "effect": effect}
                seen[(key, value, effect)] = t
    return list(seen.values())


def device_plugin_config(pools: Sequence[GpuPool]) -> dict[str, str]:
    """The device-plugin ConfigMap data: one key per time-sliced pool (the pool's name,
    which its nodes' ``nvidia.com/device-plugin.config`` label selects) and ``default``."""
    data = {DEVICE_PLUGIN_DEFAULT_KEY: yaml.safe_dump({"version": "v1", "flags": {"migStrategy": MIG_STRATEGY}},
                                                      sort_keys=False)}
    for pool in pools:
        if pool.sharing != "timeslice":
            continue
        data[pool.name] = yaml.safe_dump({
            "version": "v1",
            "flags": {"migStrategy": "none"},
            "sharing": {"timeSlicing": {
                "failRequestsGreaterThanOne": True,
                "resources": [{"name": "nvidia.com/gpu", "replicas": pool.replicas}],
            }},
        }, sort_keys=False)
    return data


def chart_values(specs: Sequence[NodeSpec]) -> dict[str, Any]:
    """GPU Operator values for EKS NVIDIA AMIs (driver and toolkit come with the AMI)."""
    tol = tolerations(specs)
    return {
        "driver": {"enabled": False},
        "toolkit": {"enabled": False},
        "mig": {"strategy": MIG_STRATEGY},
        "migManager": {
            "enabled": True,
            "env": [{"name": "WITH_REBOOT", "value": "true"}],
            "config": {"default": "all-disabled"},
        },
        "devicePlugin": {
            "enabled": True,
            "config": {"create": False, "name": DEVICE_PLUGIN_CONFIGMAP, "default": DEVICE_PLUGIN_DEFAULT_KEY},
        },
        "gfd": {"enabled": True},
        "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": False}},
        # the chart's default is on, with defaultMode "on": no CC workloads here (see the module doc)
        "ccManager": {"enabled": False},
        "daemonsets": {"tolerations": tol},
        "node-feature-discovery": {"worker": {"tolerations": tol}},
    }


@dataclass(frozen=True)
class GpuOperatorArgs:
    pools: Sequence[GpuPool]
    #: node specs of the GPU pools (their taints become the operands' tolerations)
    specs: Sequence[NodeSpec]
    depends_on: Sequence[pulumi.Resource] = ()


class GpuOperator(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    config_map: k8s.core.v1.ConfigMap
    addon: HelmAddon

    def __init__(self, name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:GpuOperator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The namespace is this component's (not the add-on's): the device-plugin
        # ConfigMap must exist in it before the operator reads it.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={"app.kubernetes.io/managed-by": "pulumi",
                        # operands run privileged (device plugin, MIG manager, DCGM)
                        "pod-security.kubernetes.io/enforce": "privileged"},
            ),
            opts=child,
        )
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-device-plugin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DEVICE_PLUGIN_CONFIGMAP, namespace=NAMESPACE,
                                                labels={"app.kubernetes.io/part-of": "gpufleet"}),
            data=device_plugin_config(args.pools),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
        )
        self.addon = HelmAddon(name, HelmAddonArgs(
            chart=CHARTS["gpu-operator"],
            namespace=NAMESPACE,
            create_namespace=False,
            values=chart_values(args.specs),
            depends_on=[self.namespace, self.config_map, *args.depends_on],
        ), opts=child)
        self.register_outputs({"release": self.addon.release.name})
