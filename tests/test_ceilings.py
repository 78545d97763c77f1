"""Guards that a stack cannot talk around (issue #11, section 1): the environment's ceilings
(``modules/data/environment_ceilings.json``) bound what a stack may budget, assume and run,
in config (exit 2) and again in the policy pack (exit 1)."""

from __future__ import annotations

import pytest

from gpufleet.reports.policy import violations
from gpufleet.modules.environments import ceilings, environment_of
from gpufleet.modules.checks import ceilings as ceiling_checks

from .helpers import TEST_SOURCE, apply_edits, assert_one_line_error, render

SRC = TEST_SOURCE
P5_ALWAYS_ON = {"name": "p5-hot", "purpose": "training", "instance_types": ["p5.48xlarge"], "min": 10, "max": 10,
                "always_on": True}

# (id, stack, edits, key path, expected)
HOSTILE = [
    ("budget-above-the-ceiling", "dev", [("gpufleet:cost.budget_usd", 10_000_000)],
     "gpufleet:cost.budget_usd", "at most $10,000, the dev ceiling"),
    ("ten-p5-always-on-in-prod", "prod", [("gpufleet:pools.gpu", [P5_ALWAYS_ON]), ("gpufleet:teams", []),
                                          ("gpufleet:cost.busy", {}), ("gpufleet:storage", {}),
                                          ("gpufleet:ml", {}), ("gpufleet:cost.budget_usd", 150_000)],
     "gpufleet:cost.budget_usd", "expected at least "),
    ("hopeful-spot-discount", "dev", [("gpufleet:cost.spot_discount", 0.99)],
     "gpufleet:cost.spot_discount", "at most 0.7"),
    ("huge-system-nodes", "dev", [("gpufleet:pools.system", {"instance_types": ["u7in-32tb.224xlarge"], "min": 3,
                                                             "max": 3})],
     "gpufleet:pools.system.instance_types[0]", "u7in-32tb.224xlarge"),
    ("system-nodes-above-dev-size", "dev", [("gpufleet:pools.system", {"instance_types": ["m7i.2xlarge"], "min": 2,
                                                                      "max": 3})],
     "gpufleet:pools.system.instance_types[0]", "a dev system instance type"),
    ("system-pool-of-a-thousand", "dev", [("gpufleet:pools.system.max", 1000)], "gpufleet:pools.system.max", "at most"),
    ("endpoint-open-by-halves", "dev", [("gpufleet:cluster.endpoint.public_cidrs", ["0.0.0.0/1", "128.0.0.0/1"])],
     "gpufleet:cluster.endpoint.public_cidrs[0]", "a range of /16 or narrower"),
    ("endpoint-many-16s", "dev", [("gpufleet:cluster.endpoint.public_cidrs", ["198.18.0.0/16", "198.19.0.0/16"])],
     "gpufleet:cluster.endpoint.public_cidrs", "an allowlist of at most 65,536 addresses"),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_the_config_guard_refuses(case):
    _, stack, edits, key, expected = case
    raw = apply_edits(stack, edits)
    message = assert_one_line_error(raw, SRC, key, expected)
    assert "Traceback" not in message


def test_the_pack_refuses_the_open_endpoint_and_the_system_pool_without_the_config_guard(monkeypatch):
    monkeypatch.setattr(ceiling_checks, "check", lambda cfg: None)
    raw = apply_edits("dev", [("gpufleet:cluster.endpoint.public_cidrs", ["0.0.0.0/1", "128.0.0.0/1"]),
                              ("gpufleet:pools.system", {"instance_types": ["m7i.2xlarge", "m7i.4xlarge"],
                                                         "capacity": "spot", "min": 3, "max": 9})])
    found: dict[str, list[str]] = {}
    for v in violations(render(raw, stack="dev")):
        found.setdefault(v.policy, []).append(v.message)
    assert "admits 4,294,967,296 addresses" in found["eks-endpoint-not-public"][0]
    assert sorted(found["system-pool-within-ceilings"]) == [
        "system pool 'system' can scale to 9 nodes; dev allows at most 6",
        "system pool 'system' uses m7i.2xlarge, m7i.4xlarge; dev system nodes are t3, t3a, t4g, m5, m5a, c5, m6i, "
        "m6a, m6g, m7i, m7a, m7g, c6i, c7i, c7g with at most 4 vCPUs"]
    assert "node spend" in found["gpu-spend-within-budget"][0]


@pytest.mark.parametrize("stack,env", [("dev", "dev"), ("prod-west", "prod"), ("research-dev", "dev"),
                                       ("staging", "staging"), ("qa", None), ("dev-prod", None), ("prod.eu", "prod")])
def test_the_environment_comes_from_the_stack_name(stack, env):
    assert environment_of(stack) == env


def test_ceilings_order_the_environments():
    dev, staging, prod = (ceilings(e) for e in ("dev", "staging", "prod"))
    assert dev.max_monthly_usd < staging.max_monthly_usd < prod.max_monthly_usd
    assert all(0 < c.spot_discount_assumed <= c.max_spot_discount < 1 for c in (dev, staging, prod))


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_budgets_cover_every_pool_at_max_at_the_assumed_discount(stack):
    from .helpers import raw_config, validate

    cfg = validate(raw_config(stack))
    c = ceilings(cfg.environment)
    spend = sum(cost for _, cost in ceiling_checks.max_node_spend(cfg, c.spot_discount_assumed))
    assert spend <= cfg.cost.budget_usd <= c.max_monthly_usd


@pytest.mark.parametrize("file, env, key, expected", [
    ("Pulumi.dev.yaml", "prod", "gpufleet:environment", "expected 'dev', the environment the stack name 'dev' says"),
    ("Pulumi.prod-west.yaml", "dev", "gpufleet:environment", "expected 'prod', the environment the stack name"),
    ("Pulumi.qa.yaml", "dev", "stack name", "a stack name that says its environment"),
])
def test_a_stack_file_cannot_declare_another_environment_than_its_name(tmp_path, capsys, file, env, key, expected):
    """Issue #11: Pulumi.dev.yaml with environment: prod got prod's allowances and deployed
    without prod's approval."""
    import yaml

    from gpufleet import cli

    from .helpers import raw_config

    raw = raw_config("prod" if env == "prod" else "dev")
    path = tmp_path / file
    path.write_text(yaml.safe_dump({"config": raw}))
    for command in (["plan", str(path)], ["cost", str(path)], ["policy", str(path)]):
        assert cli.main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{path}: {key}: got " in err and expected in err, err
