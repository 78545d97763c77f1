"""A team's own Pulumi program with gpufleet's platform inside it (README, "Use gpufleet as a
library").

- The platform's config is built here from typed objects (``gpufleet.config``), not read from
  a stack file; one value comes from this project's own config (``ml-infra:train_max``).
- ``gpufleet.build`` checks it like a stack file (field rules, cost estimate within the
  budget, ceilings, the stack name's environment) before it declares any resource, then
  declares the whole platform: the same resources as the shipped program.
- Next to it, the team's own resources, wired to what the platform returns: a feature-store
  bucket (gpufleet's ``SecureBucket``, encrypted with the platform's data key, through the
  platform's AWS provider) and a namespace with a ConfigMap that names it (through the
  cluster's Kubernetes provider).

``pulumi up --stack dev`` deploys it (``pip install -r requirements.txt`` first); tests run it
offline under gpufleet's recording mock engine (``tests/test_library.py``).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

import gpufleet
from gpufleet.components import SecureBucket, SecureBucketArgs
from gpufleet.config import (Busy, ClusterConfig, CostConfig, CostTags, EndpointConfig, GpuPool, NetworkConfig,
                             PoolsConfig, StackConfig, SystemPool, Team)

REGION = "us-east-1"

#: The dev platform, as typed objects (constructing a model validates its fields).
BASE = StackConfig(
    environment="dev",
    region=REGION,
    tags=CostTags(team="ml-infra", cost_center="cc-ml-0420", env="dev", project="ml-infra"),
    network=NetworkConfig(cidr="10.42.0.0/16", azs=["us-east-1a", "us-east-1b"], nat="instance"),
    cluster=ClusterConfig(
        version="1.36",
        endpoint=EndpointConfig(public=True, public_cidrs=["203.0.113.0/24"]),
        admin_arns=["arn:aws:iam::111122223333:role/PlatformAdmin"],
        deployer_arn="arn:aws:iam::111122223333:role/ml-infra-deploy-dev",
        logs=["authenticator"],
    ),
    pools=PoolsConfig(
        system=SystemPool(instance_types=["t4g.medium", "c7g.large"], capacity="spot", min=2, max=4, disk_gb=30,
                          max_pods=40),
        gpu=[
            GpuPool(name="notebooks", purpose="experiments", instance_types=["g6.xlarge"], sharing="timeslice",
                    replicas=4, max=2),
            GpuPool(name="train-spot", purpose="training", capacity="spot",
                    instance_types=["g6.12xlarge", "g6.24xlarge"], max=2),
        ],
    ),
    teams=[Team(name="features", shares={"notebooks": 100, "train-spot": 100}, max_job_hours=12)],
    cost=CostConfig(budget_usd=8500, busy={"notebooks": Busy(hours=80, nodes=1), "train-spot": Busy(hours=24)},
                    emails=["ml-infra-alerts@example.com"]),
)


def with_pool(cfg: StackConfig, name: str, **changes: object) -> StackConfig:
    """``cfg`` with GPU pool ``name``'s fields changed (``model_copy`` validates nothing:
    ``gpufleet.build`` checks the result)."""
    gpu = [p.model_copy(update=changes) if p.name == name else p for p in cfg.pools.gpu]
    return cfg.model_copy(update={"pools": cfg.pools.model_copy(update={"gpu": gpu})})


own = pulumi.Config()  # this project's own keys: ml-infra:*
config = with_pool(BASE, "train-spot", max=own.get_int("train_max") or BASE.pool("train-spot").max)

platform = gpufleet.build(config)
platform.export()

# ---------------------------------------------------------------- the team's own resources

account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(provider=platform.aws_provider)).account_id
features = SecureBucket("feature-store", SecureBucketArgs(
    bucket=pulumi.Output.concat(pulumi.get_project(), "-", platform.stack, "-features-", account, "-", REGION),
    purpose="features",
    label=f"{pulumi.get_project()}-{platform.stack}-features",
    kms_key_arn=platform.outputs.storage["kms_key_arn"],  # the platform's data key
    tagger=platform.tagger,
    versioned=True, noncurrent_versions_kept=3, noncurrent_days=14,
), opts=pulumi.ResourceOptions(providers=[platform.aws_provider]))

on_cluster = pulumi.ResourceOptions(provider=platform.k8s_provider)
namespace = k8s.core.v1.Namespace(
    "feature-store",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="feature-store", labels={"app.kubernetes.io/part-of": "ml-infra"}),
    opts=on_cluster)
k8s.core.v1.ConfigMap(
    "feature-store",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="feature-store", namespace=namespace.metadata.name),
    data={"bucket": features.bucket_name, "region": REGION, "cluster": platform.outputs.cluster_name},
    opts=on_cluster)

pulumi.export("feature_store_bucket", features.bucket_name)
