"""A bad stack file fails before any resource is declared, with one message that names
the file, the key path, the value given and what is allowed; exit code 2, no traceback."""

from __future__ import annotations

import pytest
import yaml

from gpufleet import cli, engine
from gpufleet.modules.config import ConfigError

from .helpers import DELETE, TEST_SOURCE, TEST_TODAY, apply_edits, assert_one_line_error, stack_source, validate

SRC = TEST_SOURCE

# (id, stack, edits [(path, value) or (path, DELETE)], key path in message, expected text in message)
CASES = [
    ("min-over-max", "dev", [("gpufleet:pools.gpu[1].min", 3), ("gpufleet:pools.gpu[1].max", 2)],
     "gpufleet:pools.gpu[1].min", "got 3; expected at most max (2)"),
    ("mig-on-a10g", "dev", [("gpufleet:pools.gpu[0].instance_types", ["g5.xlarge"]),
                            ("gpufleet:pools.gpu[0].sharing", "mig"), ("gpufleet:pools.gpu[0].replicas", DELETE)],
     "gpufleet:pools.gpu[0].sharing", "A10G 24GB (g5.xlarge) cannot be MIG-partitioned"),
    ("80gb-mig-config-on-p4d", "prod", [("gpufleet:pools.gpu[0].mig_config", "all-7g.80gb")],
     "gpufleet:pools.gpu[0].mig_config", "got 'all-7g.80gb'; expected a MIG config valid for p4d.24xlarge (A100 40GB): "),
    ("replicas-zero", "dev", [("gpufleet:pools.gpu[0].replicas", 0)],
     "gpufleet:pools.gpu[0].replicas", "got 0; expected an integer from 2 to 48 for a time-sliced pool"),
    ("spot-mixing-gpu-models", "dev", [("gpufleet:pools.gpu[1].instance_types", ["g6.12xlarge", "g5.12xlarge"])],
     "gpufleet:pools.gpu[1].instance_types[1]", "the same GPU model and count as g6.12xlarge"),
    ("efa-on-g5", "dev", [("gpufleet:pools.gpu[1].instance_types", ["g5.xlarge", "g5.2xlarge"]),
                          ("gpufleet:pools.gpu[1].efa", True)],
     "gpufleet:pools.gpu[1].instance_types[0]", "got 'g5.xlarge'; expected an instance type that supports EFA"),
    ("endpoint-open-to-world", "dev", [("gpufleet:cluster.endpoint.public_cidrs", ["0.0.0.0/0"])],
     "gpufleet:cluster.endpoint.public_cidrs[0]", "got '0.0.0.0/0'; expected never 0.0.0.0/0"),
    ("missing-cost-center-tag", "dev", [("gpufleet:tags.cost-center", DELETE)],
     "gpufleet:tags.cost-center", "got nothing (the key is missing); expected this required key to be set"),
    ("duplicate-pool-name", "dev", [("gpufleet:pools.gpu[1].name", "shared-l4")],
     "gpufleet:pools.gpu[1].name", "got 'shared-l4'; expected a pool name not used by another pool"),
    ("pool-name-not-a-label-value", "dev", [("gpufleet:pools.gpu[0].name", "Shared_L4")],
     "gpufleet:pools.gpu[0].name", "got 'Shared_L4'; expected a lowercase name of 1-40 characters a-z, 0-9 and '-'"),
    ("az-outside-region", "dev", [("gpufleet:network.azs", ["us-east-1a", "us-west-2b"])],
     "gpufleet:network.azs[1]", "got 'us-west-2b'; expected an availability zone of us-east-1"),
    ("unknown-key", "dev", [("gpufleet:pools.gpu[0].instance_type", "g6.xlarge")],
     "gpufleet:pools.gpu[0].instance_type", "got unknown key 'instance_type'; expected a key allowed here: name, purpose, instance_types"),
    ("negative-size", "dev", [("gpufleet:pools.gpu[0].max", -1)],
     "gpufleet:pools.gpu[0].max", "got -1; expected an integer greater than 0"),
    ("unknown-top-level-key", "dev", [("gpufleet:clustr", {"version": "1.35"})],
     "gpufleet:clustr", "got unknown key 'gpufleet:clustr'; expected a key allowed here: gpufleet:environment, aws:region, gpufleet:tags"),
    ("version-past-extended-support", "dev", [("gpufleet:cluster.version", "1.31")],
     "gpufleet:cluster.version", f"got '1.31'; expected a Kubernetes version EKS still offers on {TEST_TODAY} (extended support for 1.31 ended 2026-11-26"),
    ("tag-env-mismatch", "dev", [("gpufleet:tags.env", "prod")],
     "gpufleet:tags.env", "got 'prod'; expected the stack's environment (dev)"),
    ("prod-public-endpoint", "prod", [("gpufleet:cluster.endpoint", {"public": True, "public_cidrs": ["203.0.113.0/24"]})],
     "gpufleet:cluster.endpoint.public", "expected false in prod"),
    ("prod-two-azs", "prod", [("gpufleet:network.azs", ["us-east-1a", "us-east-1b"])],
     "gpufleet:network.azs", "expected at least 3 availability zones in prod"),
    ("spot-single-type", "dev", [("gpufleet:pools.gpu[1].instance_types", ["g6.12xlarge"])],
     "gpufleet:pools.gpu[1].instance_types", "at least two instance types for a spot pool"),
    ("min-without-always-on", "dev", [("gpufleet:pools.gpu[0].min", 1)],
     "gpufleet:pools.gpu[0].min", "got 1; expected 0 (GPU pools scale to zero); set always_on: true"),
    ("unknown-instance-type", "dev", [("gpufleet:pools.gpu[0].instance_types", ["g9.xlarge"])],
     "gpufleet:pools.gpu[0].instance_types[0]", "got 'g9.xlarge'; expected an EC2 instance type from the catalog"),
    ("cpu-type-in-gpu-pool", "dev", [("gpufleet:pools.gpu[0].instance_types", ["m7i.large"])],
     "gpufleet:pools.gpu[0].instance_types[0]", "expected an instance type with NVIDIA GPUs"),
    ("bad-admin-arn", "dev", [("gpufleet:cluster.admin_arns", ["admin"])],
     "gpufleet:cluster.admin_arns[0]", "got 'admin'; expected an IAM role or user ARN"),
    ("audit-log-missing", "staging", [("gpufleet:cluster.logs", ["api", "authenticator"])],  # dev may drop it
     "gpufleet:cluster.logs", "missing audit"),
    ("mig-config-without-mig", "dev", [("gpufleet:pools.gpu[1].mig_config", "all-1g.5gb")],
     "gpufleet:pools.gpu[1].mig_config", "expected only with sharing: mig"),
    ("unknown-environment", "dev", [("gpufleet:environment", "qa")],
     "gpufleet:environment", "got 'qa'; expected 'dev', 'staging' or 'prod'"),
    ("unknown-region", "dev", [("aws:region", "moon-1")],
     "aws:region", "got 'moon-1'; expected an AWS region: "),
    ("mixed-memory-mig-pool", "prod", [("gpufleet:pools.gpu[0].instance_types", ["p4d.24xlarge", "p4de.24xlarge"])],
     "gpufleet:pools.gpu[0].instance_types", "one GPU memory size in a MIG pool"),
    ("efa-az-not-in-stack", "prod", [("gpufleet:pools.gpu[1].efa_az", "us-east-1f")],
     "gpufleet:pools.gpu[1].efa_az", "got 'us-east-1f'; expected one of the stack's AZs"),
    ("world-cidr-vpc", "dev", [("gpufleet:network.cidr", "8.8.0.0/16")],
     "gpufleet:network.cidr", "expected a private (RFC 1918) range"),
]




@pytest.mark.parametrize("stack,edits,key_path,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_message(stack, edits, key_path, expected):
    assert_one_line_error(apply_edits(stack, edits), SRC, key_path, expected)


def test_there_are_at_least_fifteen_distinct_bad_inputs():
    assert len({c[0] for c in CASES}) >= 15


@pytest.mark.parametrize("case", [CASES[2], CASES[6], CASES[11]], ids=lambda c: c[0])
def test_cli_exits_2_with_one_line_and_no_traceback(case, tmp_path, capsys, monkeypatch):
    _, stack, edits, key_path, expected = case
    path = tmp_path / f"Pulumi.{stack}-broken.yaml"
    path.write_text(yaml.safe_dump({"config": apply_edits(stack, edits)}))
    monkeypatch.setattr(engine, "install", lambda *a, **k: pytest.fail("declared resources for a bad stack"))
    code = cli.main(["plan", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}: {key_path}: got ")
    assert expected in err


def test_yaml_syntax_error_names_the_line(tmp_path, capsys):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n  gpufleet:environment: dev\n   bad: [\n")
    assert cli.main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: line " in err and "expected valid YAML" in err


def test_unknown_stack_name(capsys):
    assert cli.main(["plan", "nosuchstack"]) == 2
    assert stack_source("nosuchstack") in capsys.readouterr().err


def test_more_problems_are_counted_in_the_same_line():
    raw = apply_edits("dev", [("gpufleet:environment", "qa"), ("gpufleet:pools.gpu[0].max", -1)])
    with pytest.raises(ConfigError) as info:
        validate(raw, SRC)
    assert "(and 1 more problem)" in str(info.value)
