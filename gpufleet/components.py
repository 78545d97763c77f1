"""gpufleet's components, for a program that composes part of the platform itself.

:func:`gpufleet.build` declares the whole platform. A program that wants less (or more)
starts from :func:`gpufleet.foundation` (providers, network, cluster, node role, core
add-ons, node pools; the config checked first, like ``build``) and adds the layers it
wants, each taking the :class:`PlatformContext` the foundation returns::

    ctx = gpufleet.foundation(config)
    storage = compose_storage(ctx)   # EFS, data key, CSI drivers, buckets, team data access
    ml = compose_ml(ctx)             # GPU Operator, autoscaler, Kueue, training, serving, teams
    cost = compose_cost(ctx)         # cost tool, GPU alerts, budget, scheduled scale-down

(``build`` is exactly these four steps, plus the stack outputs.) The single components take
typed, frozen ``...Args`` dataclasses and are ``ComponentResource`` s typed
``gpufleet:<module>:<Type>`` (DEVELOPING.md, "Rules"): pass the platform's providers once,
at the top (``pulumi.ResourceOptions(providers=[ctx.aws_provider, ctx.k8s_provider])``,
or ``ctx.aws_opts`` / ``ctx.k8s_opts``). A layer skipped is a layer the checks still priced
and sized (a config describes the whole platform); the policy pack judges what is declared.
"""

from __future__ import annotations

from typing import Any

from gpufleet.modules import cost as _cost
from gpufleet.modules import ml as _ml
from gpufleet.modules import storage as _storage
from gpufleet.modules.cluster import Cluster, ClusterArgs
from gpufleet.modules.context import PlatformContext
from gpufleet.modules.eks_addons import AFTER_NODES, NODE_PREREQUISITES, CoreAddons, CoreAddonsArgs
from gpufleet.modules.helm_addon import HelmAddon, HelmAddonArgs
from gpufleet.modules.iam import ServiceRole
from gpufleet.modules.network import Network, NetworkArgs
from gpufleet.modules.nodepool import NodePool, NodePoolArgs
from gpufleet.modules.nodespec import NodeSpec, gpu_spec, system_spec
from gpufleet.modules.outputs import StackOutputs
from gpufleet.modules.platform import NODE_POLICIES, cluster_name
from gpufleet.modules.pod_identity import PodIdentityRole, PodIdentitySpec
from gpufleet.modules.storage.buckets import SecureBucket, SecureBucketArgs
from gpufleet.modules.tags import Tagger

__all__ = [
    "PlatformContext", "StackOutputs", "Tagger", "cluster_name", "NODE_POLICIES",
    "compose_storage", "compose_ml", "compose_cost",
    "Network", "NetworkArgs", "Cluster", "ClusterArgs", "ServiceRole",
    "CoreAddons", "CoreAddonsArgs", "NODE_PREREQUISITES", "AFTER_NODES",
    "NodePool", "NodePoolArgs", "NodeSpec", "gpu_spec", "system_spec",
    "HelmAddon", "HelmAddonArgs", "PodIdentityRole", "PodIdentitySpec",
    "SecureBucket", "SecureBucketArgs",
]


def compose_storage(ctx: PlatformContext) -> dict[str, Any]:
    """The storage layer (``modules/storage``); returns the ``storage`` stack output."""
    return _storage.compose(ctx)


def compose_ml(ctx: PlatformContext) -> dict[str, Any]:
    """The GPU and ML stack (``modules/ml``); returns the ``ml_platform`` stack output."""
    return _ml.compose(ctx)


def compose_cost(ctx: PlatformContext) -> dict[str, Any]:
    """The cost layer (``modules/cost``); returns the ``cost`` stack output."""
    return _cost.compose(ctx)
