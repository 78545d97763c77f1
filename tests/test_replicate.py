"""``gpufleet replicate``: a stack copied into another region, written only to a temp stacks dir."""
# ruff: noqa: F811  (pytest fixtures imported from test_preflight are redefined as test parameters)

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet import replicate as rep
from gpufleet.replicate_input import BadInput
from gpufleet.modules import catalog
from gpufleet.modules import config as stack_config

from .helpers import raw_config, render, stack_source, validate
from .test_preflight import aws, no_credentials, quotas, run, stacks  # noqa: F401 (fixtures)

SUBNET = "aws:ec2/subnet:Subnet"


def written(stacks_dir, stack: str) -> dict:
    return yaml.safe_load((stacks_dir / f"Pulumi.{stack}.yaml").read_text())["config"]


def test_offline_replica_plans_cleanly_in_the_new_region(stacks, capsys):
    code, out, err = run(capsys, "replicate", "dev", "dev-west", "--region", "us-west-2", "--offline",
                         "--stacks-dir", str(stacks))
    assert code == 0, err
    assert "AWS checks skipped: --offline" in out
    raw = written(stacks, "dev-west")
    assert raw["aws:region"] == "us-west-2"
    assert raw["gpufleet:network"]["azs"] == ["us-west-2a", "us-west-2b"]
    source = raw_config("dev")
    for key in ("gpufleet:pools", "gpufleet:teams", "gpufleet:tags", "gpufleet:cluster"):
        assert raw[key] == source[key], key  # pools, teams (with their quotas) unchanged
    plan = render(raw, stack="dev-west")
    assert {s.inputs["availabilityZone"] for s in plan.by_type(SUBNET)} == {"us-west-2a", "us-west-2b"}
    assert plan.get("pulumi:providers:aws", "aws").inputs["region"] == "us-west-2"
    assert {p.name for p in plan.config.pools.gpu} == {"shared-l4", "train-spot"}


def test_efa_az_follows_its_position_with_explicit_azs(stacks, capsys):
    code, _, err = run(capsys, "replicate", "prod", "prod-east2", "--region", "us-east-2", "--offline",
                       "--azs", "us-east-2b,us-east-2c,us-east-2a", "--stacks-dir", str(stacks))
    assert code == 0, err
    raw = written(stacks, "prod-east2")
    assert raw["gpufleet:network"]["azs"] == ["us-east-2b", "us-east-2c", "us-east-2a"]
    efa = next(p for p in raw["gpufleet:pools"]["gpu"] if p.get("efa"))
    assert efa["efa_az"] == "us-east-2b"  # was us-east-1a, the first AZ
    validate(raw)


def test_set_edits_existing_keys_with_yaml_values(stacks, capsys):
    old_max = next(p for p in raw_config("prod")["gpufleet:pools"]["gpu"] if p["name"] == "train-a100")["max"]
    code, out, err = run(capsys, "replicate", "prod", "prod-west", "--region", "us-west-2", "--offline",
                         "--set", f"pools.gpu[train-a100].max={old_max + 2}",
                         "--set", "gpufleet:network.cidr=10.40.0.0/16",
                         "--set", "gpufleet:pools.gpu[2].always_on=true",
                         # two more p4d/p4de nodes at max: the budget must cover them (ceiling guard)
                         "--set", "gpufleet:cost.budget_usd=130000",
                         "--stacks-dir", str(stacks))
    assert code == 0, err
    raw = written(stacks, "prod-west")
    train = next(p for p in raw["gpufleet:pools"]["gpu"] if p["name"] == "train-a100")
    assert train["max"] == old_max + 2 and isinstance(train["max"], int)
    assert raw["gpufleet:network"]["cidr"] == "10.40.0.0/16"
    assert raw["gpufleet:pools"]["gpu"][2]["always_on"] is True
    assert f"gpufleet:pools.gpu[train-a100].max (--set): {old_max} -> {old_max + 2}" in out


def test_refuses_to_overwrite_an_existing_stack(stacks, capsys):
    before = (stacks / "Pulumi.staging.yaml").read_text()
    code, out, err = run(capsys, "replicate", "dev", "staging", "--region", "us-west-2", "--offline",
                         "--stacks-dir", str(stacks))
    assert code == 2 and out == ""
    assert "Pulumi.staging.yaml already exists: gpufleet replicate never overwrites a stack" in err
    assert (stacks / "Pulumi.staging.yaml").read_text() == before


def test_unknown_source_stack(stacks, capsys):
    code, _, err = run(capsys, "replicate", "nope", "x", "--region", "us-west-2", "--offline", "--stacks-dir", str(stacks))
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: unknown source stack 'nope': no file {stacks}/Pulumi.nope.yaml (stacks there: dev, prod, staging)"]


def test_set_path_that_does_not_exist(stacks, capsys):
    code, _, err = run(capsys, "replicate", "dev", "dev-x", "--region", "us-west-2", "--offline",
                       "--set", "pools.gpu[0].maxx=3", "--stacks-dir", str(stacks))
    assert code == 2
    assert err.startswith("error: --set gpufleet:pools.gpu[0].maxx: no key 'maxx' at gpufleet:pools.gpu[0] (keys there: name,")
    assert not (stacks / "Pulumi.dev-x.yaml").exists()
    code, _, err = run(capsys, "replicate", "dev", "dev-x", "--region", "us-west-2", "--offline",
                       "--set", "pools.gpu[big-h100].max=3", "--stacks-dir", str(stacks))
    assert code == 2 and "no item named 'big-h100' in gpufleet:pools.gpu (names: shared-l4, train-spot)" in err


def test_a_set_value_that_breaks_the_stack_is_rejected_before_writing(stacks, capsys):
    code, _, err = run(capsys, "replicate", "dev", "dev-x", "--region", "us-west-2", "--offline",
                       "--set", "pools.gpu[shared-l4].replicas=99", "--stacks-dir", str(stacks))
    assert code == 2
    assert f"{stack_source('dev-x')}: gpufleet:pools.gpu[0].replicas: got 99" in err
    assert not (stacks / "Pulumi.dev-x.yaml").exists()


@pytest.mark.parametrize("args, message", [
    (["prod", "prod-w1", "--region", "us-west-1"], "--region us-west-1: has 2 AZs (us-west-1a, us-west-1c); the source stack uses 3"),
    (["dev", "dev-x", "--region", "mars-1"], "--region 'mars-1': not a region gpufleet knows"),
    (["dev", "Dev_X", "--region", "us-west-2"], f"{stack_source('Dev_X')}: stack name: got 'Dev_X'; expected a lowercase name of 1-17"),
    (["dev", "dev-x", "--region", "us-west-2", "--azs", "us-west-2a"], "--azs: give 2 distinct AZs"),
    (["dev", "dev-x", "--region", "us-west-2", "--set", "novalue"], "--set 'novalue': expected key.path=value"),
])
def test_bad_input_is_one_clear_error(stacks, capsys, args, message):
    code, out, err = run(capsys, "replicate", *args, "--offline", "--stacks-dir", str(stacks))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_without_credentials_checks_are_skipped_and_the_stack_is_written(no_credentials, stacks, capsys):
    code, out, err = run(capsys, "replicate", "staging", "staging-eu", "--region", "eu-central-1", "--stacks-dir", str(stacks))
    assert code == 0, err
    assert "AWS checks skipped: no AWS credentials found" in out
    cfg = validate(written(stacks, "staging-eu"))
    assert cfg.region == "eu-central-1" and cfg.network.azs == ["eu-central-1a", "eu-central-1b"]


def test_with_credentials_a_region_without_the_instance_types_is_an_error(aws, stacks, capsys):
    code, out, err = run(capsys, "replicate", "dev", "dev-sg", "--region", "ap-southeast-1", "--stacks-dir", str(stacks))
    assert code == 2 and out == ""
    assert "error: ap-southeast-1 cannot host a replica of dev as is (nothing written)" in err
    assert "pool shared-l4: no instance type of the pool is offered in ap-southeast-1a, ap-southeast-1b" in err
    assert not (stacks / "Pulumi.dev-sg.yaml").exists()


def test_with_credentials_offerings_pass_and_low_quotas_warn(aws, quotas, stacks, capsys):
    replica = rep.replicate("dev", "dev-east2", "us-east-2", directory=stacks, offline=True, write=False)
    quotas(replica.config, {"L-DB2E81BA": 8, "L-3819A6DF": 0})
    code, out, err = run(capsys, "replicate", "dev", "dev-east2", "--region", "us-east-2", "--stacks-dir", str(stacks))
    assert code == 0, err
    assert "ok   offerings: pool train-spot: g6.12xlarge, g6.24xlarge offered in us-east-2a, us-east-2b" in out
    assert "WARN quotas: All G and VT Spot Instance Requests (L-3819A6DF) is 0 vCPUs in us-east-2, below the 192" in out
    assert "AWS checks skipped" not in out
    assert validate(written(stacks, "dev-east2")).region == "us-east-2"


def test_rewrite_changes_region_specific_strings_only():
    raw = {
        "aws:region": "us-east-1",
        "gpufleet:storage": {"efs": {"one_zone_az": "us-east-1b"},
                             "kms": "arn:aws:kms:us-east-1:111122223333:key/abc",
                             "bucket": "gpufleet-dev-models", "other": "gpufleet-devtools", "note": "us-east-1bx"},
        "gpufleet:cluster": {"admin_arns": ["arn:aws:iam::111122223333:role/PlatformAdmin"]},
        "gpufleet:pools": {"gpu": [{"max": 4}]},
    }
    changes = rep.rewrite(raw, "dev", "dev-eu", "us-east-1", "eu-west-1",
                          {"us-east-1a": "eu-west-1a", "us-east-1b": "eu-west-1b"})
    assert raw["aws:region"] == "eu-west-1"
    assert raw["gpufleet:storage"] == {"efs": {"one_zone_az": "eu-west-1b"},
                                       "kms": "arn:aws:kms:eu-west-1:111122223333:key/abc",
                                       "bucket": "gpufleet-dev-eu-models", "other": "gpufleet-devtools",
                                       "note": "eu-west-1bx"}
    assert raw["gpufleet:cluster"]["admin_arns"] == ["arn:aws:iam::111122223333:role/PlatformAdmin"]
    assert ("gpufleet:storage.efs.one_zone_az", "us-east-1b", "eu-west-1b") in changes


@settings(deadline=None, max_examples=48)  # 16 regions × 3 stacks; the machine is shared, timings vary
@given(st.sampled_from(sorted(catalog.regions())), st.sampled_from(["dev", "staging", "prod"]))
def test_any_region_with_enough_azs_gives_a_valid_stack(region, source):
    raw = raw_config(source)
    cfg = validate(raw)
    if len(catalog.regions()[region]) < len(cfg.network.azs):
        with pytest.raises(BadInput):
            rep.choose_azs(list(cfg.network.azs), region)
        return
    azs = rep.choose_azs(list(cfg.network.azs), region)
    rep.rewrite(raw, source, "copy", cfg.region, region, dict(zip(cfg.network.azs, azs)))
    new = stack_config.validate(raw, stack_source("copy"))
    assert new.region == region and len(new.network.azs) == len(cfg.network.azs)
    assert all(az.startswith(region) for az in new.network.azs)
    assert all(p.efa_az is None or p.efa_az in new.network.azs for p in new.pools.gpu)


def _enough(cfg) -> dict[str, float]:
    from gpufleet import aws_checks

    return {code: 10_000 for code in aws_checks.vcpu_needs(cfg)}


def test_with_credentials_azs_are_chosen_where_the_types_are_offered(aws, quotas, stacks, capsys):
    # moto (like AWS) offers g6 in eu-west-3b and eu-west-3c only: the region's first AZs (a, b) would fail.
    offline = rep.replicate("dev", "dev-paris", "eu-west-3", directory=stacks, offline=True, write=False)
    assert offline.config.network.azs == ["eu-west-3a", "eu-west-3b"]
    quotas(offline.config, _enough(offline.config))
    code, out, err = run(capsys, "replicate", "dev", "dev-paris", "--region", "eu-west-3", "--stacks-dir", str(stacks))
    assert code == 0, err
    assert validate(written(stacks, "dev-paris")).network.azs == ["eu-west-3b", "eu-west-3c"]
    assert "chosen from the AZs where the account is offered the pools' instance types" in out
    assert "WARN" not in out


def test_with_credentials_the_efa_pool_gets_the_az_that_offers_all_its_types(aws, quotas, stacks, capsys):
    # In us-east-1 p4de.24xlarge is offered in 1b and 1c only; prod's EFA pool (p4d + p4de) sits in the first AZ.
    replica = rep.replicate("prod", "prod-b", "us-east-1", directory=stacks, offline=True, write=False)
    quotas(replica.config, _enough(replica.config))
    code, out, err = run(capsys, "replicate", "prod", "prod-b", "--region", "us-east-1", "--stacks-dir", str(stacks))
    assert code == 0, err
    cfg = validate(written(stacks, "prod-b"))
    assert cfg.network.azs[:2] == ["us-east-1b", "us-east-1c"]
    assert next(p for p in cfg.pools.gpu if p.efa).efa_az == "us-east-1b"
    assert "WARN" not in out


def test_the_policy_config_is_written_next_to_the_stacks_dir_never_into_the_checkout(stacks, capsys):
    from pathlib import Path

    checkout = Path(__file__).resolve().parents[1] / "policies" / "config"
    before = sorted(p.name for p in checkout.glob("*.json"))
    code, out, err = run(capsys, "replicate", "staging", "staging-eu", "--region", "eu-west-1", "--offline",
                         "--stacks-dir", str(stacks))
    assert code == 0, err
    written_config = stacks.parent / "policies" / "config" / "staging-eu.json"
    assert f"and {written_config};" in out or "and policies/config/staging-eu.json;" in out
    from gpufleet.reports.policy import pack_config

    assert json.loads(written_config.read_text()) == pack_config(validate(written(stacks, "staging-eu")))
    assert sorted(p.name for p in checkout.glob("*.json")) == before
