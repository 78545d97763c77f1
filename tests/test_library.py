"""gpufleet as a library (issue #13, section 1): a team's own Pulumi program imports the
platform (``gpufleet.build``) and composes its own resources next to it.

``examples/own-program/`` runs in-process under the recording mock engine as its own project
and stack, like ``pulumi up`` would run it: the platform it declares is the shipped program's,
resource for resource; its own resources are wired to the platform's providers and outputs;
a typed change reaches the node group; a config that breaks a rule stops with one line before
any resource is declared."""

from __future__ import annotations

import runpy
import subprocess
import sys
from typing import Any

import pulumi
import pytest
import yaml

import gpufleet
from gpufleet import components, engine
from gpufleet import config as typed_config
from gpufleet.modules import config as stack_config
from gpufleet.modules.k8s_schema import manifest, validate_builtin

from .helpers import FIXTURE_STACKS, ROOT, raw_config, stack_path

EXAMPLE = ROOT / "examples" / "own-program"
PROJECT = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())["name"]
AWS_PROVIDER = "pulumi:providers:aws"
K8S_PROVIDER = "pulumi:providers:kubernetes"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


class Run:
    """One program run under the recording mock engine: its records and the program's globals."""

    def __init__(self, monitor: engine.RecordingMonitor, namespace: dict[str, Any]):
        self.records = list(monitor.records.values())
        self.namespace = namespace

    def get(self, typ: str, name: str) -> engine.Recorded:
        return next(r for r in self.records if r.type == typ and r.name == name)

    def urn_of(self, typ: str, name: str) -> str:
        return self.get(typ, name).urn


def run(program_file, project: str, stack: str, *, raw: dict[str, Any] | None = None,
        own: dict[str, str] | None = None) -> Run:
    """Run a Pulumi program file as ``project``/``stack``: Pulumi config ``raw`` (``gpufleet:*``,
    ``aws:region``) plus the project's own keys ``own``."""
    monitor = engine.install(project, stack, raw or {}, "us-east-1")
    for key, value in (own or {}).items():
        pulumi.runtime.set_config(f"{project}:{key}", value)
    stack_config.forget()
    namespace: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        namespace.update(runpy.run_path(str(program_file), run_name="__main__"))

    program()
    return Run(monitor, namespace)


def run_library(project: str, stack: str, build, raw: dict[str, Any] | None = None) -> engine.RecordingMonitor:
    """Run ``build()`` (a call of the library) as a program of ``project``/``stack``."""
    monitor = engine.install(project, stack, raw or {}, "us-east-1")
    stack_config.forget()

    @pulumi.runtime.test
    def program():
        build()

    program()
    return monitor


@pytest.fixture(scope="module")
def example() -> Run:
    return run(EXAMPLE / "__main__.py", PROJECT, "dev")


def platform_records(r: Run) -> list[engine.Recorded]:
    """The platform's records, without the program's own resources."""
    own = {rec.urn for rec in r.records if rec.name.startswith("feature-store")}
    return [rec for rec in r.records if rec.urn not in own]


def comparable(rec: engine.Recorded, project: str) -> tuple:
    """A record with its project's name taken out of every URN it holds."""
    def strip(urn: str | None) -> str | None:
        return urn.replace(f"::{project}::", "::<project>::").replace(f"Stack::{project}-", "Stack::<project>-") \
            if urn else urn

    return (strip(rec.urn), rec.type, rec.name, strip(rec.parent), strip(rec.provider), rec.inputs,
            [strip(u) for u in rec.depends_on], rec.protect, rec.retain_on_delete, rec.ignore_changes)


# ---------------------------------------------------------------- the example program


def test_example_declares_the_shipped_programs_platform_under_its_own_project_and_stack(example):
    """Resource for resource what the shipped ``__main__.py`` declares for the same config (same
    logical names, inputs, options): only the project in the URNs differs."""
    cfg = example.namespace["platform"].config
    shipped = run(ROOT / "__main__.py", "gpufleet", "dev", raw=typed_config.stack_file_config(cfg))
    ours = platform_records(example)
    assert {r.urn.split("::")[1] for r in example.records} == {PROJECT}
    assert all(r.urn.startswith(f"urn:pulumi:dev::{PROJECT}::") for r in example.records)
    assert sorted(comparable(r, PROJECT) for r in ours) == sorted(comparable(r, "gpufleet") for r in shipped.records)
    # the platform's physical names come from the stack, as in the shipped program
    assert example.get("aws:eks/cluster:Cluster", "cluster-eks").inputs["name"] == "gpufleet-dev"


def test_example_builds_its_config_from_typed_objects_and_gets_what_it_declared(example):
    platform = example.namespace["platform"]
    assert isinstance(platform, gpufleet.Platform)
    assert platform.config == typed_config.check(example.namespace["BASE"])  # no change without ml-infra:train_max
    assert platform.source == typed_config.PYTHON_SOURCE
    assert {p.name for p in platform.config.pools.gpu} == {"notebooks", "train-spot"}
    team_ns = example.get("kubernetes:core/v1:Namespace", "teams-features")
    assert team_ns.inputs["metadata"]["name"] == "team-features"
    assert example.get(NODE_GROUP, "pool-train-spot-ng").inputs["scalingConfig"]["maxSize"] == 2


def test_the_programs_bucket_uses_the_platforms_aws_provider_and_data_key(example):
    platform_aws = example.urn_of(AWS_PROVIDER, "aws")
    data_key = example.get("aws:kms/key:Key", "data-key-key")
    bucket = example.get("aws:s3/bucket:Bucket", "feature-store-bucket")
    assert bucket.provider.startswith(f"{platform_aws}::")
    assert bucket.inputs["bucket"] == f"{PROJECT}-dev-features-{engine.ACCOUNT}-us-east-1"
    # the stack's cost-allocation tags (the platform's tagger), as on the platform's own buckets
    assert bucket.inputs["tags"]["project"] == "ml-infra" and bucket.inputs["tags"]["env"] == "dev"
    sse = example.get("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                      "feature-store-encryption")
    assert sse.provider.startswith(f"{platform_aws}::")
    rule = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert rule == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": data_key.outputs["arn"]}
    access = example.get("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "feature-store-public-access-block")
    assert all(access.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))


def test_the_programs_kubernetes_objects_use_the_clusters_provider_and_name_the_bucket(example):
    cluster_k8s = example.urn_of(K8S_PROVIDER, "cluster-k8s")
    ns = example.get("kubernetes:core/v1:Namespace", "feature-store")
    cm = example.get("kubernetes:core/v1:ConfigMap", "feature-store")
    for obj in (ns, cm):
        assert obj.provider.startswith(f"{cluster_k8s}::")
        assert engine.qualified_type(obj.parent) == engine.STACK_TYPE  # the program's own, next to the platform
        assert validate_builtin(manifest(obj.type, obj.inputs), example.namespace["config"].cluster.version) == []
    assert cm.inputs["metadata"]["namespace"] == ns.inputs["metadata"]["name"]
    assert ns.urn in cm.depends_on
    bucket = example.get("aws:s3/bucket:Bucket", "feature-store-bucket")
    assert cm.inputs["data"] == {"bucket": bucket.inputs["bucket"], "region": "us-east-1", "cluster": "gpufleet-dev"}
    assert bucket.urn in cm.depends_on


def test_a_typed_change_from_the_projects_own_config_reaches_the_node_group():
    changed = run(EXAMPLE / "__main__.py", PROJECT, "research-dev", own={"train_max": "1"})
    platform = changed.namespace["platform"]
    assert platform.config.pool("train-spot").max == 1
    assert changed.get(NODE_GROUP, "pool-train-spot-ng").inputs["scalingConfig"]["maxSize"] == 1
    assert changed.get(NODE_GROUP, "pool-notebooks-ng").inputs["scalingConfig"]["maxSize"] == 2
    assert platform.outputs.gpu_pools["train-spot"]["max"] == 1
    assert changed.get("aws:eks/cluster:Cluster", "cluster-eks").inputs["name"] == "gpufleet-research-dev"


def test_a_typed_change_over_the_ceiling_stops_the_program_before_any_resource():
    """train-spot at 4 nodes is $13,644 a month at max: above dev's ceiling. One line, as a stack
    file would get it, and the mock engine recorded nothing."""
    monitor = engine.install(PROJECT, "dev", {}, "us-east-1")
    pulumi.runtime.set_config(f"{PROJECT}:train_max", "4")

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")

    with pytest.raises(typed_config.ConfigError) as info:
        program()
    message = str(info.value)
    assert message.startswith("<python>: gpufleet:cost.budget_usd: got 8500.0; expected at least $"), message
    assert "train-spot $13,644" in message and "\n" not in message
    assert isinstance(info.value, pulumi.RunError)  # Pulumi prints the line, no traceback
    assert monitor.records == {}


def test_the_stack_name_still_decides_the_environment():
    monitor = engine.install(PROJECT, "prod", {}, "us-east-1")

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")

    with pytest.raises(gpufleet.PlatformConfigError, match=r"^<python>: gpufleet:environment: got 'dev'; expected "
                                                           r"'prod', the environment the stack name 'prod' says"):
        program()
    assert monitor.records == {}


# ---------------------------------------------------------------- build() on its own


def dev_config() -> typed_config.StackConfig:
    return typed_config.from_file(stack_path("dev"))


def with_budget(cfg: typed_config.StackConfig, budget: float) -> typed_config.StackConfig:
    return cfg.model_copy(update={"cost": cfg.cost.model_copy(update={"budget_usd": budget})})


def test_build_refuses_spend_over_the_budget_before_any_resource():
    """``model_copy`` validates nothing; build checks the derived figures as for a stack file."""
    cfg = with_budget(dev_config(), 100)
    seen: list = []
    with pytest.raises(gpufleet.ConfigError) as info:
        run_library("gpufleet", "dev", lambda: seen.append(gpufleet.build(cfg, source="team.py")))
    assert str(info.value).startswith("team.py: gpufleet:cost.budget_usd: got 100.0; expected "), str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert (info.value.source, info.value.key_path, info.value.given) == ("team.py", "gpufleet:cost.budget_usd", 100.0)
    assert seen == []


def test_build_refuses_a_field_rule_that_model_copy_skipped():
    cfg = dev_config()
    pools = cfg.pools.model_copy(update={"gpu": [cfg.pools.gpu[0].model_copy(update={"max": -1}), *cfg.pools.gpu[1:]]})
    bad = cfg.model_copy(update={"pools": pools})
    with pytest.raises(gpufleet.ConfigError, match=r"^<python>: gpufleet:pools\.gpu\[0\]\.max: got -1; expected "):
        run_library("gpufleet", "dev", lambda: gpufleet.build(bad))


def test_build_refuses_what_is_not_a_config():
    with pytest.raises(TypeError, match="a StackConfig, a stack file path or None"):
        run_library("gpufleet", "dev", lambda: gpufleet.build({"gpufleet:environment": "dev"}))


@pytest.mark.parametrize("how", ["stack file", "pulumi config"])
def test_build_from_a_stack_file_or_the_stacks_config_is_the_shipped_plan(how, dev_plan):
    def build():
        platform = gpufleet.build(stack_path("dev")) if how == "stack file" else gpufleet.build()
        assert platform.config == dev_plan.config

    monitor = run_library("gpufleet", "dev", build, raw=raw_config("dev") if how == "pulumi config" else None)
    assert sorted(comparable(r, "gpufleet") for r in monitor.records.values()) == \
        sorted(comparable(r, "gpufleet") for r in dev_plan.resources)


def test_a_partial_platform_from_the_foundation_and_chosen_layers():
    """The foundation and the ML layer only: no storage (EFS, buckets) and no cost layer."""
    cfg = dev_config()
    got: dict[str, Any] = {}

    def build():
        ctx = gpufleet.foundation(cfg)
        got["ctx"], got["ml"] = ctx, components.compose_ml(ctx)

    records = list(run_library("gpufleet", "dev", build).records.values())
    types = {r.type for r in records}
    assert {"aws:eks/cluster:Cluster", NODE_GROUP, "gpufleet:ml:Kueue"} <= types
    assert not types & {"aws:efs/fileSystem:FileSystem", "aws:s3/bucket:Bucket", "aws:budgets/budget:Budget"}
    assert set(got["ctx"].gpu_pools) == {p.name for p in cfg.pools.gpu}
    assert "kueue" in got["ml"]


# ---------------------------------------------------------------- the typed config API


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_stack_files_config_round_trips_through_python(stack):
    cfg = typed_config.from_file(stack_path(stack))
    assert typed_config.check(cfg) == cfg
    assert stack_config.validate(typed_config.stack_file_config(cfg), "x") == cfg


def test_template_is_the_shipped_stack_of_the_environment(monkeypatch):
    from gpufleet import project

    monkeypatch.setattr(project, "TEMPLATES_DIR", FIXTURE_STACKS)  # the fixture's copies of the shipped stacks
    assert typed_config.template("prod") == typed_config.from_file(stack_path("prod"))
    with pytest.raises(typed_config.ConfigError, match=r"environment: got 'test'; expected one of dev, staging, prod"):
        typed_config.template("test")


def test_the_public_names_and_importing_gpufleet_without_pulumi():
    from gpufleet import api

    assert gpufleet.build is api.build and gpufleet.Platform is api.Platform
    assert gpufleet.StackConfig is typed_config.StackConfig is stack_config.StackConfig
    assert set(gpufleet.__all__) == set(gpufleet._LAZY) and set(gpufleet.__all__) <= set(dir(gpufleet))
    assert all(hasattr(typed_config, n) for n in typed_config.__all__)
    assert all(hasattr(components, n) for n in components.__all__)
    with pytest.raises(AttributeError):
        gpufleet.no_such_name  # noqa: B018
    code = ("import sys, gpufleet, gpufleet.config, gpufleet.cli; "
            "print(sorted(m for m in sys.modules if m == 'pulumi' or m.startswith(('pulumi.', 'pulumi_'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout
