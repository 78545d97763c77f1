"""Issue #11, section 3: one layer for the checks that need derived figures.

``modules/schema`` parses and types a stack with pure field rules; ``modules/checks`` then
runs the rules that need the cost model, the quota math, the node and workload rules and the
system-pool fit; ``modules/config`` runs both and tells a failure of either in one line.
These tests prove the layering (the schema imports none of the derived modules, in a fresh
interpreter and in its source), that a stack breaking a derived rule passes the field rules
alone and is refused by the checks layer and by every loading path with the same one-line
message, and that ``config.check`` refuses the same configs built in Python.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.modules import checks
from gpufleet.modules import config as stack_config
from gpufleet.modules.schema.cost import CostConfig
from gpufleet.modules.schema.ml import KueueConfig, MlConfig
from gpufleet.modules.schema.pools import SystemPool
from gpufleet.modules.schema.stack import PoolsConfig, StackConfig

from .helpers import DELETE, ROOT, TEST_SOURCE, apply_edits, assert_one_line_error, edit, raw_config

SRC = TEST_SOURCE
SCHEMA_DIR = ROOT / "modules" / "schema"
CHECKS_DIR = ROOT / "modules" / "checks"

#: modules of derived figures the schema must not import (nor anything below them)
DERIVED = ("gpufleet.modules.cost", "gpufleet.modules.ml", "gpufleet.modules.checks", "gpufleet.modules.fit",
           "gpufleet.modules.sizing", "gpufleet.modules.workload_rules", "gpufleet.modules.nodespec",
           "gpufleet.modules.environments")


def _derived(module: str) -> bool:
    return any(module == d or module.startswith(d + ".") for d in DERIVED)


# ---------------------------------------------------------------- (a) the layering

def test_importing_the_schema_imports_no_derived_module():
    """In a fresh interpreter: every schema module, and none of the modules of derived figures."""
    names = sorted(f"gpufleet.modules.schema.{p.stem}" for p in SCHEMA_DIR.glob("*.py") if p.stem != "__init__")
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    loaded = json.loads(out)
    assert "gpufleet.modules.schema.stack" in loaded
    assert [m for m in loaded if _derived(m)] == []
    for module in ("gpufleet.modules.cost.model", "gpufleet.modules.ml.quotas", "gpufleet.modules.fit",
                   "gpufleet.modules.workload_rules"):
        assert module not in loaded


def _imports(path: Path, package: str) -> list[tuple[str, int, bool]]:
    """(absolute module, line, at module level or under ``if TYPE_CHECKING``) of every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top.update(id(n) for n in node.body)
        top.add(id(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # `from .. import fit`: the names may be modules themselves
            found += [(module, node.lineno, id(node) in top)]
            found += [(f"{module}.{alias.name}", node.lineno, id(node) in top) for alias in node.names]
    return found


def test_no_schema_file_imports_a_derived_module_or_imports_locally():
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.py"))  # the scan sees the files
    for path in sorted(SCHEMA_DIR.glob("*.py")):
        for module, line, at_top in _imports(path, "gpufleet.modules.schema"):
            assert not _derived(module), f"{path.name}:{line} imports {module}"
            assert at_top, f"{path.name}:{line} imports {module} inside a function (a cycle workaround)"


def test_the_checks_import_at_module_level_only():
    """No cycle left to dodge: every import of the checks layer is at the top of its file."""
    for path in sorted(CHECKS_DIR.glob("*.py")):
        for module, line, at_top in _imports(path, "gpufleet.modules.checks"):
            assert at_top, f"{path.name}:{line} imports {module} inside a function"


def test_the_checks_run_in_a_fixed_order_one_file_per_concern():
    assert [m.__name__.rsplit(".", 1)[1] for m in checks.ORDER] == ["quotas", "ml", "budget", "ceilings",
                                                                     "system_fit"]
    for module in checks.ORDER:
        assert module.__doc__ and "from ``modules/schema/" in module.__doc__, module.__name__


# ---------------------------------------------------------------- (b) field rules pass, the checks refuse

# (id, stack, edits, key path, the whole expected text or a part of it)
CASES: list[tuple[str, str, list[tuple[str, Any]], str, str]] = [
    ("over-budget", "dev", [("gpufleet:cost.budget_usd", 250)], "gpufleet:cost.budget_usd",
     "got 250.0; expected at least the stack's expected monthly cost $"),
    ("quota-over-capacity", "dev", [("gpufleet:teams[0].shares.train-spot", 10)],
     "gpufleet:teams[0].shares.train-spot",
     "got 10; expected a share that gives at least one nvidia.com/gpu (pool train-spot has 8 at most: at least 13 %), "
     "or 0 for borrow-only"),
    ("timeout-shorter-than-ready", "prod", [("gpufleet:ml.kueue.pods_ready_timeout_minutes", 10)],
     "gpufleet:ml.kueue.pods_ready_timeout_minutes", "a node of pool mig-a100 needs to be ready"),
    ("provision-shorter-than-launch", "prod", [("gpufleet:ml.autoscaler.max_node_provision_minutes", 8)],
     "gpufleet:ml.autoscaler.max_node_provision_minutes",
     "got 8; expected more than the ~8 minutes a node of pool mig-a100 needs to launch and register"),
    ("reserved-more-than-a-node", "dev", [("gpufleet:ml", {"kueue": {"node_reserved_cpu_millis": 4000}})],
     "gpufleet:ml.kueue.node_reserved_cpu_millis",
     "got 4000; expected less than a node of pool shared-l4 has allocatable (3920 millicores)"),
    ("too-many-flavor-labels", "dev", [("gpufleet:pools.gpu[0].labels", {"a": "1", "b": "2", "c": "3"})],
     "gpufleet:pools.gpu[0].labels", "expected at most 2 custom labels on this pool"),
    ("spot-discount-above-the-ceiling", "dev", [("gpufleet:cost.spot_discount", 0.99)],
     "gpufleet:cost.spot_discount", "at most 0.7"),
    ("max-spend-above-the-budget", "dev", [("gpufleet:cost.busy", {}), ("gpufleet:cost.budget_usd", 2000)],
     "gpufleet:cost.budget_usd", "what every node pool at max costs for a month with spot 30% below on-demand"),
    ("system-pool-does-not-fit", "dev", [("gpufleet:pools.system.instance_types", ["t3a.medium", "t3.medium"]),
                                         ("gpufleet:pools.system.max_pods", DELETE)],
     "gpufleet:pools.system.min", "enough system nodes for the add-ons"),
]
IDS = [c[0] for c in CASES]


def _typed(raw: dict[str, Any]) -> StackConfig:
    """The field rules alone."""
    return StackConfig.model_validate(stack_config.sections(raw))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_field_rules_accept_what_the_checks_refuse_with_the_same_line(case, tmp_path):
    _, stack, edits, key, expected = case
    raw = apply_edits(stack, edits)
    cfg = _typed(raw)  # parses and types: no derived figure needed
    with pytest.raises(checks.CheckFailed) as failed:
        checks.run(cfg)
    assert stack_config.NS + failed.value.path == key
    message = assert_one_line_error(raw, SRC, key, expected)  # tests/helpers: validate, one line
    assert message == str(stack_config.ConfigError(SRC, key, failed.value.given, failed.value.expected))
    # a stack file: the loader the CLI uses (the file's name says its environment)
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": raw}))
    with pytest.raises(stack_config.ConfigError) as loaded:
        stack_config.from_file(path, SRC)
    assert str(loaded.value) == message
    # the shipped stack, unedited, passes both layers
    checks.run(_typed(raw_config(stack)))


def test_the_messages_are_those_the_validator_gave():
    """Byte for byte what the model validator said before the split (tests/test_ml_schema.py,
    tests/test_will_it_run.py quote the same)."""
    def line(raw: dict[str, Any]) -> str:
        with pytest.raises(stack_config.ConfigError) as info:
            stack_config.validate(raw, SRC)
        return str(info.value)

    assert line(apply_edits("dev", [("gpufleet:teams[0].shares.train-spot", 10)])) == (
        f"{SRC}: gpufleet:teams[0].shares.train-spot: got 10; expected a share that gives at least one nvidia.com/gpu "
        "(pool train-spot has 8 at most: at least 13 %), or 0 for borrow-only")
    assert line(apply_edits("dev", [("gpufleet:ml", {"kueue": {"node_reserved_memory_mib": 65536}})])).startswith(
        f"{SRC}: gpufleet:ml.kueue.node_reserved_memory_mib: got 65536; expected less than a node of pool ")


def test_a_failed_check_counts_with_the_other_problems():
    """As when the checks were the model's validator: a problem outside the model is reported
    first, the failed check counted."""
    raw = apply_edits("dev", [("gpufleet:cost.budget_usd", 250)])
    raw["nosuch:key"] = 1
    with pytest.raises(stack_config.ConfigError) as info:
        stack_config.validate(raw, SRC)
    assert info.value.key_path == "nosuch:key" and info.value.more == 1
    assert str(info.value).endswith("(and 1 more problem)")


def test_a_field_error_stops_before_the_checks():
    """The checks run on a typed config only: a field error is the one reported."""
    raw = apply_edits("dev", [("gpufleet:cost.budget_usd", 250), ("gpufleet:teams[0].max_job_hours", 200)])
    message = assert_one_line_error(raw, SRC, "gpufleet:teams[0].max_job_hours", "an integer from 1 to 168")
    assert "more problem" not in message


# ---------------------------------------------------------------- (c) a config built in Python

def _built_in_python(stack: str, **sections: Any) -> StackConfig:
    """A typed config assembled from model objects (the way a program would), not from a file."""
    base = stack_config.validate(raw_config(stack), SRC)
    return StackConfig(**{**{name: getattr(base, name) for name in StackConfig.model_fields}, **sections})


def test_check_passes_a_good_config_through():
    cfg = _built_in_python("dev")
    assert stack_config.check(cfg) is cfg


@pytest.mark.parametrize("sections, key, expected", [
    (lambda b: {"cost": CostConfig(**{**dict(b.cost), "budget_usd": 250})}, "gpufleet:cost.budget_usd",
     "got 250.0; expected at least the stack's expected monthly cost $"),
    (lambda b: {"ml": MlConfig(kueue=KueueConfig(pods_ready_timeout_minutes=10))},
     "gpufleet:ml.kueue.pods_ready_timeout_minutes", "a node of pool mig-a100 needs to be ready"),
    (lambda b: {"teams": [b.teams[0].model_copy(update={"shares": {**b.teams[0].shares, "train-a100": 1}}),
                          *b.teams[1:]]},
     "gpufleet:teams[0].shares.train-a100", "a share that gives at least one nvidia.com/gpu"),
    (lambda b: {"pools": PoolsConfig(system=SystemPool(instance_types=["t3a.medium", "t3.medium"], min=2, max=4),
                                     gpu=b.pools.gpu)},
     "gpufleet:pools.system.min", "enough system nodes for the add-ons"),
], ids=["over-budget", "timeout", "quota", "system-fit"])
def test_check_refuses_a_bad_config_built_in_python(sections, key, expected):
    stack = "prod" if "a100" in expected or "a100" in key else "dev"
    base = stack_config.validate(raw_config(stack), SRC)
    cfg = _built_in_python(stack, **sections(base))
    with pytest.raises(stack_config.ConfigError) as info:
        stack_config.check(cfg)
    message = str(info.value)
    assert message.startswith(f"<python>: {key}: got "), message
    assert expected in message and "\n" not in message
    with pytest.raises(stack_config.ConfigError) as named:
        stack_config.check(cfg, "fleet.py")
    assert str(named.value) == "fleet.py" + message.removeprefix("<python>")


def test_check_gives_the_line_a_stack_file_gets():
    """The same bad budget, from a file and built in Python: one message, the source aside."""
    raw = edit(raw_config("dev"), "gpufleet:cost.budget_usd", 250)
    from_file = assert_one_line_error(raw, SRC, "gpufleet:cost.budget_usd", "expected at least")
    base = stack_config.validate(raw_config("dev"), SRC)
    cfg = _built_in_python("dev", cost=CostConfig(**{**dict(base.cost), "budget_usd": 250}))
    with pytest.raises(stack_config.ConfigError) as info:
        stack_config.check(cfg, SRC)
    assert str(info.value) == from_file
