"""What the foundation hands to the layers built on it (storage, ML stack, cost guards)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .cluster import Cluster
from .iam import ServiceRole
from .network import Network
from .nodepool import NodePool
from .schema.stack import StackConfig
from .tags import Tagger


@dataclass(frozen=True)
class PlatformContext:
    cfg: StackConfig
    stack: str
    cluster_name: str
    tagger: Tagger
    aws_provider: aws.Provider
    network: Network
    cluster: Cluster
    node_role: ServiceRole
    system_pool: NodePool
    gpu_pools: dict[str, NodePool]
    #: outputs of the fleet's global stack (``gpufleet:shared``), by name
    shared: dict[str, pulumi.Output] = field(default_factory=dict)

    @property
    def k8s_provider(self) -> k8s.Provider:
        return self.cluster.provider

    @property
    def aws_opts(self) -> pulumi.ResourceOptions:
        """Options for a top-level component that creates AWS resources."""
        return pulumi.ResourceOptions(providers=[self.aws_provider])

    @property
    def k8s_opts(self) -> pulumi.ResourceOptions:
        """Options for a top-level component that creates Kubernetes (and AWS) resources."""
        return pulumi.ResourceOptions(providers=[self.aws_provider, self.cluster.provider])
