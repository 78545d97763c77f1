"""Hostile inputs besides stack files (issue #11, section 2): the fleet file, plan JSON files
(``gpufleet diff``) and ``gpufleet replicate``'s ``--set`` values get the same bounded parsing
and the same one-line message."""
# ruff: noqa: F811  (pytest fixtures imported from hostile_support are redefined as test parameters)

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet import diff as guard
from gpufleet import fleet
from gpufleet.modules.config import ConfigError
from gpufleet.replicate import BadInput

from .hostile_support import loader  # noqa: F401 (a fixture)
from .hostile_support import (
    DEV,
    SECONDS,
    STACK_CASES,
    Case,
    assert_message,
    assert_one_line,
    make_directory,
    run,
    sparse_file,
    write_case,
)


# ---------------------------------------------------------------- the fleet file

FLEET_CASES = [
    ("directory", make_directory, "(file)", ("got a directory; expected a fleet file",)),
    ("not-utf-8", b"clusters:\n  - {stack: d\xe9v, region: us-east-1}\n", "line 2", ("got a byte that is not UTF-8",)),
    ("billion-laughs", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)) + "clusters: *a9\n", "line 4",
     ("got aliases that expand it to more than 10,000 values",)),
    ("duplicate-key", "clusters:\n  - {stack: dev, region: us-east-1}\nclusters: []\n", "line 3",
     ("got duplicate key 'clusters' (first at line 1); expected each key once",)),
    ("near-miss-key", "clusters:\n  - {stack: dev, region: us-east-1, rol: primary}\n", "clusters[0].rol",
     ("got unknown key 'rol'; expected a key allowed here: stack, region, role (did you mean 'role'?)",)),
    ("wrong-type", "clusters: dev\n", "clusters", ("got 'dev'; expected a list of mappings (write [dev] for a single item)",)),
    ("not-a-mapping", "[dev, prod]\n", "(file)", ('got ["dev", "prod"]; expected a mapping with keys from: global, clusters',)),
    ("bad-stack-name", "clusters:\n  - {stack: Dev_1, region: us-east-1}\n", "clusters[0].stack",
     ("got 'Dev_1'; expected a stack name: lowercase letters, digits and '-'",)),
]


@pytest.mark.parametrize("content,key_path,fragments", [c[1:] for c in FLEET_CASES], ids=[c[0] for c in FLEET_CASES])
def test_fleet_file(content, key_path, fragments, tmp_path, capsys, loader):
    path = tmp_path / "fleet.yaml"
    write_case(tmp_path, Case("x", content, key_path, fragments)).rename(path)
    with pytest.raises(BadInput) as info:
        fleet.load(path)
    assert_message(info.value, str(path), key_path, fragments)
    assert_one_line(run(capsys, "fleet", "plan", "--fleet", str(path)), str(path), key_path, fragments)


def test_fleet_names_the_stack_file_it_read(tmp_path, capsys):
    case = next(c for c in STACK_CASES if c.id == "duplicate-nested-key")
    stack = write_case(tmp_path, case)
    path = tmp_path / "fleet.yaml"
    path.write_text("clusters:\n  - {stack: dev-hostile, region: us-east-1}\n")
    assert_one_line(run(capsys, "fleet", "plan", "--fleet", str(path)), str(stack), case.key_path, case.fragments)


# ---------------------------------------------------------------- plan JSON files (diff)

def _deep_json(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


PLAN_CASES = [
    ("not-utf-8", b'{"resources": ["\xff"]}', "line 1", ("got a byte that is not UTF-8",)),
    ("directory", make_directory, "(file)", ("got a directory",)),
    ("nested-too-deep", _deep_json, "(file)", ("got values nested more than 64 levels deep",)),
    ("larger-than-4-MiB", sparse_file(5 << 20), "(file)", ("expected a plan file (the output of `gpufleet plan --json`) "
                                                        "of at most 4 MiB",)),
    ("a-million-empty-lists", lambda p: p.write_text("[" + ",".join(["[]"] * ((4 << 20) // 3 - 1)) + "]"), "(file)",
     ('got [[], [], [], ', 'expected a plan: a JSON object with a "resources" list')),
    ("resources-not-a-list", '{"resources": {"a": 1}}', "resources", ('got {"a": 1}; expected a plan: a JSON object',)),
    ("resource-without-urn", '{"resources": [{"type": "x", "inputs": {}}]}', "resources[0]",
     ('got {"type": "x", "inputs": {}}; expected a plan\'s resource: "urn" and "type" strings',)),
    ("invalid-json", "{\"resources\": [}", "line 1", ("got invalid JSON: ", "expected valid JSON")),
]


@pytest.mark.parametrize("content,key_path,fragments", [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_plan_json_file(content, key_path, fragments, tmp_path, capsys):
    path = tmp_path / "plan.json"
    write_case(tmp_path, Case("x", content, key_path, fragments)).rename(path)
    with pytest.raises((ConfigError, guard.DiffInputError)) as info:
        guard.load(str(path))
    assert_message(info.value, str(path), key_path, fragments)
    assert_one_line(run(capsys, "diff", str(path), "dev"), str(path), key_path, fragments)


# ---------------------------------------------------------------- --set values (replicate)

def test_replicate_set_value_is_parsed_with_the_same_guards(tmp_path, capsys):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev.yaml").write_text(DEV)
    bomb = "[" + ", ".join(["&a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]) + "]"
    code, out, err, seconds = run(capsys, "replicate", "dev", "dev-west", "--region", "us-west-2", "--offline",
                                  "--stacks-dir", str(stacks), "--set", f"tags.team={bomb}")
    assert code == 2 and out == "" and err.count("\n") == 1 and seconds < SECONDS
    assert err.startswith("error: --set gpufleet:tags.team: line 1: got aliases that expand it to more than 10,000 values")
    code, _, err, _ = run(capsys, "replicate", "dev", "dev-west", "--region", "us-west-2", "--offline",
                          "--stacks-dir", str(stacks), "--set", "tags.team={a: 1, a: 2}")
    assert code == 2 and "got duplicate key 'a' (first at line 1)" in err
