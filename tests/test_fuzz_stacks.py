"""Fuzzing the stack files (issue #11, section 4): mutated shipped stacks (wrong types,
missing and unknown keys at every level, boundary numbers, hostile names, YAML oddities) go
through the real CLI. Whatever the input:

- the exit code is 0, 1 or 2 (never a traceback, never 3: nothing external is called);
- exit 2 prints exactly one line naming the file, the key path, the value and what is allowed;
- a stack that exits 0 is within its environment's ceilings (``modules/data/environment_ceilings.json``).

Bounded in examples and time so it runs in CI on every change.
"""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet import cli
from gpufleet.modules import config as stack_config
from gpufleet.modules.environments import ceilings
from gpufleet.modules.checks import ceilings as ceiling_checks

from .helpers import raw_config

STACKS = ("dev", "staging", "prod")
FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
HOSTILE_VALUES = [None, "", " ", -1, 0, 1, 2**63, -2**31, 1e308, float("nan"), 0.99, 1.5, True, False, [], {},
                  "x" * 300, "ünïcødé", "0.0.0.0/0", "10.0.0.1/8", "us-east-1z", "p5.48xlarge", "u7in-32tb.224xlarge",
                  "*/0 25 * * 8", "Dev_Stack", "../../etc/passwd", {"nested": {"deeper": [1, 2, 3]}}, [None, {}],
                  "arn:aws:iam::1:role/x", "1.35", 450, 451, 100000]


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a raw config (mapping keys and list indices)."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append(prefix + (k,))
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append(prefix + (i,))
            out += paths(v, prefix + (i,))
    return out


def parent_of(raw: Any, path: tuple) -> Any:
    node = raw
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def mutated(draw) -> tuple[str, dict]:
    stack = draw(st.sampled_from(STACKS))
    raw = copy.deepcopy(raw_config(stack))
    for _ in range(draw(st.integers(1, 3))):
        all_paths = paths(raw)
        if not all_paths:
            break
        path = draw(st.sampled_from(all_paths))
        kind = draw(st.sampled_from(["set", "delete", "unknown", "boundary"]))
        parent = parent_of(raw, path)
        if kind == "set":
            parent[path[-1]] = draw(st.sampled_from(HOSTILE_VALUES))
        elif kind == "delete":
            if isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, list):
                parent.pop(path[-1])
        elif kind == "unknown" and isinstance(parent, dict):
            key = draw(st.sampled_from([f"{path[-1]}x", str(path[-1]).upper(), "gpufleett:budget", "aws:regoin",
                                        "gpufleet.storage", "extra"]))
            parent[key] = draw(st.sampled_from(HOSTILE_VALUES))
        elif kind == "boundary":
            value = parent[path[-1]]
            if isinstance(value, bool):
                parent[path[-1]] = not value
            elif isinstance(value, (int, float)):
                parent[path[-1]] = draw(st.sampled_from([value - 1, value + 1, 0, -value, value * 1000]))
    return stack, raw


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_within_ceilings(path: Path) -> None:
    cfg, _ = stack_config.from_file(path)
    c = ceilings(cfg.environment)
    spend = sum(cost for _, cost in ceiling_checks.max_node_spend(cfg, c.spot_discount_assumed))
    assert spend <= cfg.cost.budget_usd <= c.max_monthly_usd
    assert cfg.cost.spot_discount <= c.max_spot_discount
    assert cfg.pools.system.max <= c.system_max_nodes
    nets = list(ipaddress.collapse_addresses(cfg.cluster.endpoint.public_cidrs))
    assert sum(n.num_addresses for n in nets) <= c.max_public_addresses


@FUZZ
@given(case=mutated())
def test_any_mutated_stack_is_refused_in_one_line_or_stays_within_its_ceilings(case, tmp_path_factory, capsys):
    stack, raw = case
    path = tmp_path_factory.mktemp("fuzz") / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": raw}, allow_unicode=True))
    code, out, err = run_cli(capsys, ["cost", str(path), "--format", "json"])
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(f"error: {path}: "), lines[0]
        assert ": got " in lines[0] and "expected" in lines[0], lines[0]
    if code == 0:
        assert_within_ceilings(path)


YAML_ODDITIES = [
    b"config:\n  gpufleet:environment: dev\n  gpufleet:environment: prod\n",               # duplicate key
    b"config: &a\n  x: *a\n",                                                                  # recursive alias
    b"config:\n  gpufleet:tags: {team: \xff\xfe}\n",                                           # not UTF-8
    b"config:\n\tgpufleet:environment: dev\n",                                                 # tab indentation
    b"",                                                                                        # empty file
    b"- a\n- b\n",                                                                              # not a mapping
    b"config: [1, 2]\n",
    b"config:\n  gpufleet:pools: {gpu: [{name: a, instance_types: [g6.xlarge], max: !!python/object:os.system x}]}\n",
]


@FUZZ
@given(index=st.integers(0, len(YAML_ODDITIES) - 1), name=st.sampled_from(["dev", "staging", "prod"]))
def test_yaml_oddities_are_one_line_errors(index, name, tmp_path_factory, capsys):
    path = tmp_path_factory.mktemp("odd") / f"Pulumi.{name}.yaml"
    path.write_bytes(YAML_ODDITIES[index])
    for command in (["cost", str(path)], ["plan", str(path)]):
        code, out, err = run_cli(capsys, command)
        assert code == 2, (command, code, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


HOSTILE_NAMES = ["Dev_Stack", "a.b", "", "prod-" + "x" * 40, "dev..x", "-dev", "qa"]


@settings(max_examples=len(HOSTILE_NAMES), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(HOSTILE_NAMES))
def test_hostile_stack_names_never_plan(name, tmp_path_factory, capsys):
    path = tmp_path_factory.mktemp("names") / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": raw_config("dev")}))
    code, _, err = run_cli(capsys, ["plan", str(path)])
    assert code == 2, (name, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
