"""Compose the platform from typed config: the whole Pulumi program, minus the exports."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from . import cost, ml, storage
from .cluster import Cluster, ClusterArgs
from .context import PlatformContext
from .cost.schedules import scheduled_pool_names
from .eks_addons import AFTER_NODES, NODE_PREREQUISITES, CoreAddons, CoreAddonsArgs
from .iam import ServiceRole
from .network import Network, NetworkArgs
from .nodepool import NodePool, NodePoolArgs
from .nodespec import gpu_spec, system_spec
from .outputs import StackOutputs
from .schema.stack import StackConfig
from .tags import Tagger

NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)


def cluster_name(stack: str) -> str:
    """Physical cluster name; logical names stay independent of it."""
    return f"gpufleet-{stack}"


def foundation(cfg: StackConfig) -> PlatformContext:
    """The foundation the layers build on (providers, network, cluster, node role, core add-ons,
    node pools, the global stack's shared values): the context ``storage``, ``ml`` and ``cost`` take."""
    stack = pulumi.get_stack()
    name = cluster_name(stack)
    tagger = Tagger(cfg.tags, stack)
    aws_provider = aws.Provider(
        "aws",
        region=cfg.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=tagger.base),
    )
    on_aws = pulumi.ResourceOptions(providers=[aws_provider])

    network = Network("network", NetworkArgs(
        cidr=cfg.network.cidr, azs=cfg.network.azs, nat=cfg.nat, region=cfg.region,
        cluster_name=name, tagger=tagger, nat_instance_type=cfg.network.nat_instance_type), opts=on_aws)
    cluster = Cluster("cluster", ClusterArgs(
        cluster_name=name, config=cfg.cluster, environment=cfg.environment, region=cfg.region,
        subnet_ids=network.private_subnet_ids, tagger=tagger), opts=on_aws)
    node_role = ServiceRole(
        "nodes", service="ec2.amazonaws.com", tagger=tagger,
        description=f"Worker nodes of {name}", managed_policies=NODE_POLICIES, opts=on_aws)

    # networking first: a node boots with prefix delegation already on (see eks_addons)
    core = CoreAddons("core", CoreAddonsArgs(
        cluster_name=cluster.eks.name, tagger=tagger, addons=NODE_PREREQUISITES,
        versions=cfg.cluster.addon_versions, kubernetes_version=cfg.cluster.version), opts=on_aws)

    def pool(spec):
        return NodePool(f"pool-{spec.name}", NodePoolArgs(
            spec=spec, cluster_name=cluster.eks.name, node_role_arn=node_role.role.arn,
            subnets={az: s.id for az, s in network.private_subnets.items()}, vpc_id=network.vpc.id,
            cluster_security_group_id=cluster.security_group_id, tagger=tagger,
            after=list(core.addons.values()), scheduled=spec.name in scheduled_pool_names(cfg),
            kubernetes_version=cfg.cluster.version), opts=on_aws)

    system = pool(system_spec(cfg.pools.system))
    gpu_pools = {p.name: pool(gpu_spec(p, cfg.network.azs)) for p in cfg.pools.gpu}
    CoreAddons("core-dns", CoreAddonsArgs(
        cluster_name=cluster.eks.name, tagger=tagger, addons=AFTER_NODES,
        versions=cfg.cluster.addon_versions, kubernetes_version=cfg.cluster.version,
        nodes=[system.node_group]), opts=on_aws)

    shared: dict[str, pulumi.Output] = {}
    if cfg.shared is not None:
        ref = pulumi.StackReference("global", stack_name=cfg.shared.stack)
        shared = {key: ref.get_output(key) for key in cfg.shared.outputs}

    ctx = PlatformContext(
        cfg=cfg, stack=stack, cluster_name=name, tagger=tagger, aws_provider=aws_provider, network=network,
        cluster=cluster, node_role=node_role, system_pool=system, gpu_pools=gpu_pools, shared=shared)
    return ctx


def compose(cfg: StackConfig) -> tuple[PlatformContext, StackOutputs]:
    """The whole platform: its context (components, providers) and its outputs."""
    ctx = foundation(cfg)
    network, cluster, node_role, gpu_pools = ctx.network, ctx.cluster, ctx.node_role, ctx.gpu_pools
    storage_out = storage.compose(ctx)
    ml_out = ml.compose(ctx)
    cost_out = cost.compose(ctx)

    return ctx, StackOutputs(
        cluster_name=cluster.eks.name,
        cluster_endpoint=cluster.eks.endpoint,
        kubeconfig=cluster.kubeconfig,
        oidc_provider_arn=cluster.oidc_provider.arn if cluster.oidc_provider else None,
        vpc_id=network.vpc.id,
        private_subnet_ids=pulumi.Output.all(*network.private_subnet_ids),
        node_role_arn=node_role.role.arn,
        gpu_pools={
            p.name: {
                "node_group": gpu_pools[p.name].node_group.node_group_name,
                "instance_types": p.instance_types,
                "capacity": p.capacity,
                "sharing": p.sharing,
                "min": p.min,
                "max": p.max,
            }
            for p in cfg.pools.gpu
        },
        storage=storage_out,
        ml_platform=ml_out,
        cost=cost_out,
    )


def build(cfg: StackConfig) -> StackOutputs:
    """The whole platform; its stack outputs (what ``__main__.py`` exports)."""
    return compose(cfg)[1]
