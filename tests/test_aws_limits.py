"""Limits AWS, EKS and Kubernetes enforce at deploy time, refused by config validation first
(``modules/data/service_limits.json``, each with its source and date).

For each: the limit itself passes, one more is refused in one line naming the key path, the
value and what is allowed; and where the figure is a count of what the program sends, the
rendered plan shows the program sends exactly what the check counts.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
from pydantic_core import PydanticCustomError

from gpufleet.modules import catalog, physical_names
from gpufleet.modules import config as stack_config
from gpufleet.modules.checks import LIMITS as LIMIT_CHECKS
from gpufleet.modules.checks import aws_limits, k8s_limits
from gpufleet.modules.nodespec import CA_TEMPLATE, gpu_spec
from gpufleet.modules.schema import foundation
from gpufleet.modules.schema import pools as pool_schema
from gpufleet.modules.schema.stack import StackConfig

from .helpers import TEST_SOURCE, apply_edits, assert_one_line_error, raw_config, render, validate

SRC = TEST_SOURCE
GPU0 = "gpufleet:pools.gpu[0]"
ADMIN = "arn:aws:iam::111122223333:role/PlatformAdmin"
SERVICE_LINKED = "arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"


def test_every_limit_names_its_source_and_the_date():
    doc = catalog.load("service_limits.json")
    assert doc["source"] and doc["date"]
    for name, limit in doc["limits"].items():
        assert "value" in limit and "https://" in limit["source"], name
    assert [m.__name__.rsplit(".", 1)[1] for m in LIMIT_CHECKS] == ["aws_limits", "k8s_limits"]


# ---------------------------------------------------------------- 1. public endpoint CIDRs (EKS: 40)

def _cidrs(n: int) -> list[str]:
    return [f"203.0.113.{i}/32" for i in range(n)]


def test_forty_public_cidrs_pass_and_reach_the_cluster():
    plan = render(apply_edits("dev", [("gpufleet:cluster.endpoint.public_cidrs", _cidrs(40))]))
    cluster = plan.by_type("aws:eks/cluster:Cluster")[0].inputs
    assert cluster["vpcConfig"]["publicAccessCidrs"] == _cidrs(40)


def test_a_41st_public_cidr_is_refused():
    assert foundation.MAX_PUBLIC_CIDRS == 40
    assert_one_line_error(apply_edits("dev", [("gpufleet:cluster.endpoint.public_cidrs", _cidrs(41))]), SRC,
                          "gpufleet:cluster.endpoint.public_cidrs",
                          "got 41; expected at most 40 CIDR blocks, not 41 (EKS's quota of public endpoint access "
                          "CIDR ranges per cluster, not adjustable")


# ---------------------------------------------------------------- 2. access entries (EKS: 3,000, one per principal)

def _admins(n: int) -> list[str]:
    return [f"arn:aws:iam::111122223333:role/admin-{i}" for i in range(n)]


def test_the_program_sends_one_access_entry_per_distinct_principal(any_stack_plan):
    cluster = any_stack_plan.config.cluster
    entries = sorted(r.inputs["principalArn"] for r in any_stack_plan.by_type("aws:eks/accessEntry:AccessEntry"))
    assert entries == sorted(set(cluster.admin_arns) | {cluster.deployer_arn})


def test_access_entries_up_to_the_quota_pass_one_more_is_refused():
    # 2,998 admins + the deployer + the entry EKS adds for the nodes' role = 3,000
    validate(apply_edits("dev", [("gpufleet:cluster.admin_arns", _admins(2998))]))
    assert_one_line_error(apply_edits("dev", [("gpufleet:cluster.admin_arns", _admins(2999))]), SRC,
                          "gpufleet:cluster.admin_arns",
                          "got 2999; expected at most 2998 admin ARNs, not 2999: EKS allows 3000 access entries per "
                          "cluster (not adjustable)")


def test_a_deployer_among_the_admins_takes_no_entry_of_its_own():
    deployer = raw_config("dev")["gpufleet:cluster"]["deployer_arn"]
    validate(apply_edits("dev", [("gpufleet:cluster.admin_arns", _admins(2998) + [deployer])]))
    assert_one_line_error(apply_edits("dev", [("gpufleet:cluster.admin_arns", _admins(2999) + [deployer])]), SRC,
                          "gpufleet:cluster.admin_arns", "expected at most 2999 admin ARNs, not 3000")


def excerpt_of(value: str) -> str:
    """How an error shows a string the stack file gave (issue 18, 3): a 17-character prefix and
    its length, never the whole value."""
    return f"'{value[:17]}...' (a string of {len(value)} characters)"


def test_a_repeated_admin_is_refused():
    assert_one_line_error(apply_edits("dev", [("gpufleet:cluster.admin_arns", [ADMIN, ADMIN])]), SRC,
                          "gpufleet:cluster.admin_arns[1]",
                          f"got {excerpt_of(ADMIN)}; expected an ARN not already listed as admin_arns[0] (EKS takes one access "
                          "entry per IAM principal)")


@pytest.mark.parametrize("path, value, key", [
    ("gpufleet:cluster.admin_arns", [ADMIN, SERVICE_LINKED], "gpufleet:cluster.admin_arns[1]"),
    ("gpufleet:cluster.deployer_arn", SERVICE_LINKED, "gpufleet:cluster.deployer_arn"),
])
def test_a_service_linked_role_gets_no_access_entry(path, value, key):
    assert_one_line_error(apply_edits("dev", [(path, value)]), SRC, key,
                          "EKS creates no access entry for a service-linked role")


# ---------------------------------------------------------------- 3. teams: Pod Identity associations, the rules ConfigMap

def test_the_check_counts_the_pod_identity_associations_the_program_sends(any_stack_plan):
    sent = any_stack_plan.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert len(sent) == len(aws_limits.pod_identity_associations(any_stack_plan.config))


def _with_teams(stack: str, extra: int, edits=()) -> dict:
    raw = apply_edits(stack, list(edits))
    raw["gpufleet:teams"] = raw["gpufleet:teams"] + [{"name": f"t{i:05d}"} for i in range(extra)]
    return raw


def test_pod_identity_associations_up_to_the_quota_pass_one_more_team_is_refused():
    assert aws_limits.MAX_POD_IDENTITY_ASSOCIATIONS == 5000
    cfg = validate(raw_config("dev"))  # kubecost: 4 add-on associations, 2 teams
    room = 5000 - len(aws_limits.pod_identity_associations(cfg))
    cfg = validate(_with_teams("dev", room))
    assert len(aws_limits.pod_identity_associations(cfg)) == 5000
    teams = len(cfg.teams)
    assert_one_line_error(_with_teams("dev", room + 1), SRC, "gpufleet:teams",
                          f"got {teams + 1}; expected at most {teams} teams with bucket access, not {teams + 1}: each "
                          "one's data access role is an EKS Pod Identity association, EKS allows 5000 per cluster")


def test_teams_without_bucket_access_take_no_association():
    raw = _with_teams("dev", 5000)
    raw["gpufleet:storage"]["buckets"]["grants"] = [{"team": "research"}, {"team": "applied"}]
    validate(raw)
    raw["gpufleet:storage"]["buckets"]["grants"] += [{"team": f"t{i:05d}"} for i in range(4997)]
    assert_one_line_error(raw, SRC, "gpufleet:storage.buckets.grants",
                          "got 4999; expected at most 4996 teams with bucket access, not 4999")


OPENCOST = [("gpufleet:cost.tool", "opencost")]


def _typed(raw: dict) -> StackConfig:
    """The field rules alone (the checks layer would refuse the stack past the limit)."""
    return StackConfig.model_validate(stack_config.sections(raw))


def test_the_rules_configmap_the_check_sizes_is_the_one_the_program_sends():
    raw = apply_edits("dev", OPENCOST)
    plan = render(raw)
    data = next(r.inputs["data"] for r in plan.by_type("kubernetes:core/v1:ConfigMap")
                if r.inputs["metadata"]["name"] == k8s_limits.CONFIGMAP)
    assert data["rules.yml"] == k8s_limits.rules_yml(plan.config)
    # prometheus.yml names the cluster: with the longest stack name it still fits its allowance
    longest = len(data["prometheus.yml"]) - len(plan.stack) + physical_names.max_stack_length()
    assert f"gpufleet-{plan.stack}" in data["prometheus.yml"]
    assert longest <= k8s_limits.PROMETHEUS_YML_BYTES, longest
    assert set(data) == {"prometheus.yml", "rules.yml"}


def test_teams_whose_alert_rules_fill_the_configmap_pass_one_more_is_refused():
    limit = k8s_limits.MAX_CONFIGMAP_BYTES
    assert limit == 1 << 20
    size = lambda raw: k8s_limits.prometheus_configmap_bytes(_typed(raw))
    base, step = size(_with_teams("dev", 0, OPENCOST)), size(_with_teams("dev", 1, OPENCOST))
    step -= base
    fits = (limit - base) // step
    raw = _with_teams("dev", fits, OPENCOST)
    assert size(raw) <= limit < size(_with_teams("dev", fits + 1, OPENCOST))
    teams = len(raw["gpufleet:teams"]) + 1
    assert_one_line_error(_with_teams("dev", fits + 1, OPENCOST), SRC, "gpufleet:teams",
                          f"got {teams}; expected fewer teams with cost.tool: opencost, or cost.tool: kubecost: every "
                          f"team's GpuJobOverTeamLimit alert goes into the Prometheus ConfigMap "
                          f"gpufleet-prometheus-config, which these {teams} teams make about")
    validate(_with_teams("dev", fits + 1))  # Kubecost keeps no rules file


# ---------------------------------------------------------------- 4. node groups: labels, ASG tags, how many

def test_a_label_key_of_63_characters_passes_64_is_refused():
    key63 = "example.com/" + "k" * 51
    cfg = validate(apply_edits("dev", [(f"{GPU0}.labels", {key63: "v" * 63})]))
    assert gpu_spec(cfg.pools.gpu[0], cfg.network.azs).labels[key63] == "v" * 63
    key64 = key63 + "k"
    assert_one_line_error(apply_edits("dev", [(f"{GPU0}.labels", {key64: "v"})]), SRC, f"{GPU0}.labels.{key64}",
                          "expected a label key of at most 63 characters in all, prefix included, not 64 (EKS's limit "
                          "for a node group label key)")


def test_an_empty_label_value_is_refused():
    assert_one_line_error(apply_edits("dev", [(f"{GPU0}.labels", {"example.com/tier": ""})]), SRC,
                          f"{GPU0}.labels.example.com/tier",
                          "got ''; expected a label value of 1-63 characters (EKS refuses an empty node group label value)")


def _taints(n: int) -> list[dict]:
    return [{"key": f"example.com/t{i}", "value": f"v{i}"} for i in range(n)]


def test_taints_up_to_the_asg_tag_limit_pass_and_are_every_tag_sent():
    cfg = validate(raw_config("dev"))
    pool = cfg.pools.gpu[0]
    room = aws_limits.MAX_ASG_TAGS - aws_limits.asg_tag_count(gpu_spec(pool, cfg.network.azs))
    assert 0 < room < pool_schema.MAX_TAINTS_PER_NODE_GROUP - 1  # below what the taint rule alone allows
    plan = render(apply_edits("dev", [(f"{GPU0}.taints", _taints(room))]))
    sent = [r for r in plan.by_type("aws:autoscaling/tag:Tag") if r.name.startswith(f"pool-{pool.name}-asg-")]
    assert len(sent) + len(aws_limits.EKS_ASG_TAGS) == aws_limits.MAX_ASG_TAGS == 50
    assert f"{CA_TEMPLATE}/taint/example.com/t0" in {r.inputs["tag"]["key"] for r in sent}
    assert_one_line_error(apply_edits("dev", [(f"{GPU0}.taints", _taints(room + 1))]), SRC, f"{GPU0}.taints",
                          f"got {room + 1}; expected at most {room} taints on pool {pool.name}, not {room + 1}: the "
                          f"Auto Scaling group of pool {pool.name} would carry 51 tags (5 that EKS sets and 46 "
                          "cluster-autoscaler node-template tags, one per label, taint and resource), and EC2 Auto "
                          "Scaling allows 50 per group")


def _spec_with_label(key: str, value: str = "v"):
    cfg = validate(raw_config("dev"))
    spec = gpu_spec(cfg.pools.gpu[0], cfg.network.azs)
    return dataclasses.replace(spec, labels={**spec.labels, key: value})


def test_a_node_template_tag_key_of_128_characters_passes_129_is_refused():
    prefix = f"{CA_TEMPLATE}/label/"
    aws_limits.check_asg_tags("pools.gpu[0]", _spec_with_label("k" * (128 - len(prefix))))
    with pytest.raises(PydanticCustomError) as info:
        aws_limits.check_asg_tags("pools.gpu[0]", _spec_with_label("k" * (129 - len(prefix))))
    assert info.value.context["subpath"] == "pools.gpu[0]"
    assert "within 128 characters (EC2 Auto Scaling's limit; pool shared-l4: 129)" in info.value.message()


def test_a_node_template_tag_value_of_256_characters_passes_257_is_refused():
    aws_limits.check_asg_tags("pools.gpu[0]", _spec_with_label("example.com/x", "v" * 256))
    with pytest.raises(PydanticCustomError) as info:
        aws_limits.check_asg_tags("pools.gpu[0]", _spec_with_label("example.com/x", "v" * 257))
    assert "at most 256 characters (EC2 Auto Scaling's limit; pool shared-l4: 257)" in info.value.message()


def _gpu_pools(n: int) -> dict:
    """Staging with ``n`` GPU pools of one node each (within its budget ceiling)."""
    raw = raw_config("staging")
    pools = raw["gpufleet:pools"]["gpu"]
    for p in pools:
        p["max"] = 1
    for busy in raw["gpufleet:cost"]["busy"].values():
        busy["nodes"] = 1
    pools += [{**copy.deepcopy(pools[0]), "name": f"extra-{i}"} for i in range(n - len(pools))]
    raw["gpufleet:cost"]["budget_usd"] = 30000
    return raw


def test_29_gpu_pools_pass_a_30th_node_group_is_refused():
    assert aws_limits.MAX_NODE_GROUPS == 30
    assert len(validate(_gpu_pools(29)).pools.gpu) == 29
    assert_one_line_error(_gpu_pools(30), SRC, "gpufleet:pools.gpu",
                          "got 30; expected at most 29 GPU pools, not 30: each pool and the system pool is an EKS "
                          "managed node group, and EKS's quota is 30 per cluster")


@pytest.mark.parametrize("other", ["arn:aws:iam::444455556666:role/PlatformAdmin",
                                   "arn:aws:iam::111122223333:role/team-a/PlatformAdmin",
                                   "arn:aws:iam::111122223333:role/Platform.Admin".replace(".", "_")])
def test_two_admins_that_would_share_an_access_entry_name_are_refused(other):
    """Their logical names (admin-role-PlatformAdmin) would collide: a DuplicateUrnError at deploy."""
    raw = apply_edits("dev", [("gpufleet:cluster.admin_arns", [ADMIN, other])])
    if other.endswith("Platform_Admin"):  # punctuation: role-Platform-Admin, not role-PlatformAdmin
        raw = apply_edits("dev", [("gpufleet:cluster.admin_arns", ["arn:aws:iam::111122223333:role/Platform-Admin",
                                                                  other])])
        first = "arn:aws:iam::111122223333:role/Platform-Admin"
    else:
        first = ADMIN
    slug = foundation.principal_slug(first)
    assert slug == foundation.principal_slug(other)
    assert_one_line_error(raw, SRC, "gpufleet:cluster.admin_arns[1]",
                          f"got {excerpt_of(other)}; expected an admin whose role or user name differs from admin_arns[0] "
                          f"({first}) in more than account, path or punctuation: both would be the access entry "
                          f"admin-{slug}")
