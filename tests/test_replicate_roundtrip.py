"""``gpufleet replicate`` leaves a project whose checks pass (issue #13, 2): the replica is the
source edited round trip (its diff against the source is the changed lines only), its VPC
range overlaps no other stack of the project, and its policy config is written."""

from __future__ import annotations

import difflib
import ipaddress
import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet import cli
from gpufleet import replicate as rep
from gpufleet.modules import eks_support
from gpufleet.replicate_cidr import free_cidr, project_cidrs
from gpufleet.project import find
from gpufleet.reports.policy import pack_config
from gpufleet.modules import config as stack_config

from .helpers import stack_source
from .test_project import SOURCE_STACKS


@pytest.fixture
def proj(tmp_path) -> Path:
    """A project like this repository's layout, in a temp dir: stacks with their comments,
    their policy configs, a fleet file."""
    root = tmp_path / "infra"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: gpufleet\nruntime: python\nstackConfigDir: stacks\n")
    for stack in ("dev", "staging", "prod"):
        shutil.copy(SOURCE_STACKS / f"Pulumi.{stack}.yaml", root / "stacks")
    (root / "policies" / "config").mkdir(parents=True)
    for stack in ("dev", "staging", "prod"):
        cfg, _ = stack_config.from_file(root / "stacks" / f"Pulumi.{stack}.yaml")
        (root / "policies" / "config" / f"{stack}.json").write_text(json.dumps(pack_config(cfg), indent=1,
                                                                                 sort_keys=True) + "\n")
    return root


def replicate(capsys, proj: Path, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["-C", str(proj), "replicate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    minus, plus = [], []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (minus if line.startswith("-") else plus).append(line[1:])
    return minus, plus


@pytest.mark.parametrize("source, new, region", [("prod", "prod-west", "us-west-2"),
                                                 ("dev", "dev-eu", "eu-west-1"),
                                                 ("staging", "staging-east2", "us-east-2")])
def test_the_diff_against_the_source_is_the_changed_lines_only(proj, capsys, source, new, region):
    replica = rep.replicate(source, new, region, project=find(proj), offline=True, write=False)
    code, _, err = replicate(capsys, proj, source, new, "--region", region, "--offline")
    assert code == 0, err
    before = (proj / "stacks" / f"Pulumi.{source}.yaml").read_text()
    after = (proj / "stacks" / f"Pulumi.{new}.yaml").read_text()
    minus, plus = changed_lines(before, after)
    assert plus[0].startswith(f"# {new}: replica of stack {source} in {region}, written by `gpufleet replicate` on ")
    assert len(plus) == len(minus) + 1
    assert after == replica.text
    # each changed line is the source line with its value(s) replaced: nothing else moved
    pairs = {old: value for _, old, value in replica.changes if isinstance(old, str)}
    for old_line, new_line in zip(minus, plus[1:]):
        edited = old_line
        for old, value in sorted(pairs.items(), key=lambda kv: -len(kv[0])):
            edited = edited.replace(old, value)
        assert edited == new_line, (old_line, new_line)
    # every comment of the source is in the replica, and the layout (quotes, flow lists) stays
    comments = [line for line in before.splitlines() if "#" in line]
    assert all(any(c.split("#", 1)[1] in line for line in after.splitlines()) for c in comments)
    # a new stack starts on the newest version in standard support, quoted as the source was
    assert f'version: "{eks_support.default_version()}"' in after and f"    azs: [{region}a" in after
    # and it means what it says
    raw = yaml.safe_load(after)["config"]
    assert raw["aws:region"] == region and all(az.startswith(region) for az in raw["gpufleet:network"]["azs"])


def test_replica_gets_a_free_vpc_range_and_its_policy_config(proj, capsys):
    code, out, err = replicate(capsys, proj, "prod", "prod-west", "--region", "us-west-2", "--offline")
    assert code == 0, err
    assert "  gpufleet:network.cidr: '10.30.0.0/16' -> '10.31.0.0/16'" in out.splitlines()
    code, _, err = replicate(capsys, proj, "prod", "prod-east2", "--region", "us-east-2", "--offline")
    assert code == 0, err
    project = find(proj)
    cidrs = project_cidrs(project)
    assert cidrs["prod-west"] == ipaddress.IPv4Network("10.31.0.0/16")
    assert cidrs["prod-east2"] == ipaddress.IPv4Network("10.32.0.0/16")
    nets = sorted(cidrs.items())
    assert not [(a, b) for i, (a, x) in enumerate(nets) for b, y in nets[i + 1:] if x.overlaps(y)]
    # the checks the project's own tests run pass for every stack, the replicas included
    for stack in project.stacks():
        assert cli.main(["-C", str(proj), "policy", stack, "--config"]) == 0
        printed = capsys.readouterr().out
        assert (proj / "policies" / "config" / f"{stack}.json").read_text() == printed, stack
    assert cli.main(["-C", str(proj), "plan", "prod-west", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    vpc = next(r for r in plan["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    assert vpc["inputs"]["cidrBlock"] == "10.31.0.0/16"


def test_a_set_range_that_overlaps_another_stack_is_refused(proj, capsys):
    code, out, err = replicate(capsys, proj, "prod", "prod-west", "--region", "us-west-2", "--offline",
                               "--set", "network.cidr=10.20.128.0/20")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err == (f"error: {stack_source('prod-west')}: gpufleet:network.cidr 10.20.128.0/20 overlaps staging's "
                   "10.20.0.0/16: the VPCs of one project need distinct ranges (peering, Transit Gateway, VPN); "
                   "a free one: 10.21.0.0/20\n")
    assert not (proj / "stacks" / "Pulumi.prod-west.yaml").exists()
    assert not (proj / "policies" / "config" / "prod-west.json").exists()


@pytest.mark.parametrize("new, message", [
    ("west", f"{stack_source('west')}: stack name: got 'west'; expected a stack name that says its environment"),
    ("dev-west", (f"{stack_source('dev-west')}: gpufleet:environment: got 'prod'; expected 'dev', the environment "
                  "the stack name 'dev-west' says")),
])
def test_the_replicas_name_must_say_the_sources_environment(proj, capsys, new, message):
    code, out, err = replicate(capsys, proj, "prod", new, "--region", "us-west-2", "--offline")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith(f"error: {message}"), err
    assert sorted(p.name for p in (proj / "stacks").iterdir()) == [
        "Pulumi.dev.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml"]


def test_set_values_take_the_files_style(proj, capsys):
    oldest = eks_support.offered_versions()[0]  # the suite's day's oldest: not the source's version
    code, _, err = replicate(capsys, proj, "prod", "prod-west", "--region", "us-west-2", "--offline",
                             "--set", "cost.emails=[ops@example.com, finops@example.com]",
                             "--set", "cluster.admin_arns=[arn:aws:iam::444455556666:role/Ops]",
                             "--set", f'cluster.version="{oldest}"')
    assert code == 0, err
    text = (proj / "stacks" / "Pulumi.prod-west.yaml").read_text()
    assert "    emails: [ops@example.com, finops@example.com]\n" in text  # flow, as it was
    assert "    admin_arns:\n      - arn:aws:iam::444455556666:role/Ops\n" in text  # block, as it was
    assert f'    version: "{oldest}"\n' in text  # quoted, as it was


networks = st.builds(lambda a, b, p: ipaddress.IPv4Network((f"10.{a}.{b}.0", p), strict=False),
                     st.integers(0, 255), st.integers(0, 255), st.integers(16, 20))


@settings(deadline=None, max_examples=200)
@given(networks, st.lists(networks, max_size=40))
def test_free_cidr_never_overlaps_and_keeps_the_size(like, taken):
    free = free_cidr(like, taken)
    assert free.prefixlen == like.prefixlen and free.is_private
    assert not any(free.overlaps(t) for t in taken)
    if not any(like.overlaps(t) for t in taken):
        assert free == like  # a free range is kept as it is
