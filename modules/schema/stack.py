"""The root of a stack's configuration and the rules that span sections.

Only rules on the config itself (and catalog facts) live here and in the domain files:
the rules that need derived figures (cost estimate, quotas, time to ready, system-pool fit)
are the checks layer, :mod:`modules.checks`, which :mod:`modules.config` runs on the typed
config (``modules.config.validate`` / ``check``)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from .. import catalog
from . import cost, ml, storage, teams
from .base import StrictModel, fail
from .cost import CostConfig
from .foundation import ClusterConfig, CostTags, Environment, NetworkConfig, SharedStack, check_logs
from .ml import MlConfig
from .pools import GpuPool, SystemPool
from .storage import StorageConfig
from .teams import Team


class PoolsConfig(StrictModel):
    system: SystemPool = SystemPool()
    """Small nodes for the add-ons."""
    gpu: list[GpuPool] = []
    """GPU node groups, each scaling from zero unless ``always_on``."""

    @model_validator(mode="after")
    def _unique_names(self) -> "PoolsConfig":
        seen: set[str] = set()
        for i, pool in enumerate(self.gpu):
            if pool.name in seen:
                fail(f"gpu[{i}].name", pool.name, "a pool name not used by another pool of this stack")
            if pool.name == "system":
                fail(f"gpu[{i}].name", pool.name, "any name but 'system' (the system pool's name)")
            seen.add(pool.name)
        return self


class StackConfig(StrictModel):
    """Everything one stack (environment) declares. Keys are ``gpufleet:<field>``, except
    ``region``, which is the AWS provider's own ``aws:region``."""

    environment: Environment
    """The kind of environment: sets defaults (NAT, log retention) and what the policies allow."""
    region: str
    """AWS region (the AWS provider's own key ``aws:region``)."""
    tags: CostTags
    """Cost-allocation tags on every taggable resource (modules/tags.py)."""
    network: NetworkConfig
    """VPC, subnets and NAT (modules/network.py)."""
    cluster: ClusterConfig
    """EKS control plane (modules/cluster.py)."""
    pools: PoolsConfig = PoolsConfig()
    """The system node group and the GPU node groups (modules/nodepool.py)."""
    teams: list[Team] = []
    """Teams sharing the GPU pools: namespaces, Kueue queues, data access."""
    storage: StorageConfig = StorageConfig()
    """Where datasets, scratch, checkpoints and models live (modules/storage)."""
    ml: MlConfig = MlConfig()
    """GPU Operator, autoscaler, Kueue, training, serving (modules/ml)."""
    cost: CostConfig = CostConfig()
    """Budget, cost tool, pricing assumptions, scheduled scale-down (modules/cost)."""
    shared: SharedStack | None = None
    """Account-level values from the fleet's global stack, read through one ``pulumi.StackReference``."""

    @model_validator(mode="after")
    def _cross_section(self) -> "StackConfig":
        regions = catalog.regions()
        if self.region not in regions:
            fail("region", self.region, f"an AWS region: {', '.join(sorted(regions))}")
        for i, az in enumerate(self.network.azs):
            if az not in regions[self.region]:
                fail(f"network.azs[{i}]", az, f"an availability zone of {self.region}: {', '.join(regions[self.region])}")
        if self.tags.env != self.environment:
            fail("tags.env", self.tags.env, f"the stack's environment ({self.environment})")
        if self.environment == "prod":
            if len(self.network.azs) < 3:
                fail("network.azs", self.network.azs, "at least 3 availability zones in prod")
            if self.cluster.endpoint.public:
                fail("cluster.endpoint.public", True, "false in prod (private endpoint only; reach it through VPN or a bastion)")
            if self.network.nat == "instance":
                fail("network.nat", "instance", "single or per_az in prod: NAT gateways (a NAT instance is one "
                                                "small instance without a standby, for non-prod stacks)")
        check_logs(self.environment, self.cluster.logs)
        for i, pool in enumerate(self.pools.gpu):
            if pool.efa_az is not None and pool.efa_az not in self.network.azs:
                fail(f"pools.gpu[{i}].efa_az", pool.efa_az, f"one of the stack's AZs: {', '.join(self.network.azs)}")
        seen: set[str] = set()
        for i, team in enumerate(self.teams):
            if team.name in seen:
                fail(f"teams[{i}].name", team.name, "a team name not used by another team")
            seen.add(team.name)
        for section in (teams, storage, ml, cost):
            section.check(self)
        return self

    @property
    def nat(self) -> Literal["single", "per_az", "instance"]:
        """NAT strategy: the configured one, else ``per_az`` in prod and ``single`` elsewhere."""
        return self.network.nat or ("per_az" if self.environment == "prod" else "single")

    def pool(self, name: str) -> GpuPool:
        return next(p for p in self.pools.gpu if p.name == name)

    def team(self, name: str) -> Team:
        return next(t for t in self.teams if t.name == name)


SECTION_KEYS = tuple(f for f in StackConfig.model_fields if f != "region")
