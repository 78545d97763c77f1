"""Issue #11, section 2: a catalogue of hostile inputs, kept as regression tests.

Every case gives exit 2 and exactly one line on stderr that names the file, the key path
(or line), the value given and what is allowed, in under 2 s, without a traceback, through
the real CLI entry (``gpufleet.cli.main``) of every command that reads the file, and through
the function that reads it. The YAML cases run with both parsers (libyaml and pure Python).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from gpufleet import cli, fleet
from gpufleet import diff as guard
from gpufleet.replicate import BadInput
from gpufleet.modules import config as stack_config
from gpufleet.modules.config import ConfigError

from .helpers import ROOT, TEST_SOURCE, apply_edits, stack_path, stack_source, validate

DEV = stack_path("dev").read_text()
CONFIG_LINE = DEV.splitlines().index("config:") + 1  # 1-based line of `config:` in the dev stack
LOADERS = ["libyaml", "python"]
#: a hang guard, not a speed target (those are in benchmarks/: every case well under 2 s)
SECONDS = 30.0


def inserted(extra: str) -> str:
    """The dev stack with ``extra`` (lines indented under ``config:``) right after ``config:``."""
    head, _, tail = DEV.partition("config:\n")
    return head + "config:\n" + extra + tail


def line(k: int) -> str:
    """``line N`` of the k-th (0-based) line inserted by :func:`inserted`."""
    return f"line {CONFIG_LINE + 1 + k}"


def billion_laughs(levels: int = 9) -> str:
    text = "  gpufleet:lol:\n    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, levels + 1):
        text += f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n"
    return text


@dataclass(frozen=True)
class Case:
    id: str
    #: the stack file's content (text or bytes), or a function that creates ``path``
    content: str | bytes | Callable[[Path], None]
    key_path: str
    fragments: tuple[str, ...]
    #: a YAML-level check: run it with both parsers
    yaml: bool = False


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with open(path, "wb") as fh:
            fh.truncate(size)
    return make


def _directory(path: Path) -> None:
    path.mkdir()


STACK_CASES = [
    # -- bounded work: alias bombs, sizes, nesting
    Case("billion-laughs", inserted(billion_laughs()), line(4),
         ("got aliases that expand it to more than 10,000 values", "expected a stack file of at most 10,000 values"), True),
    Case("quadratic-aliases", inserted("  gpufleet:tags:\n    a: &a [" + ", ".join(["x"] * 3000) + "]\n    b: ["
                                       + ", ".join(["*a"] * 3000) + "]\n"), line(2),
         ("aliases that expand it to more than 10,000 values", "anchored at line"), True),
    Case("recursive-alias", inserted("  gpufleet:tags: &t\n    team: [*t]\n"), line(1),
         ("got an alias to a value that contains it", "expected a value that does not contain itself"), True),
    Case("alias-before-anchor", inserted("  gpufleet:tags: *nothing\n"), line(0),
         ("got the alias *nothing before any anchor &nothing", "expected an alias after its anchor"), True),
    Case("too-many-values", inserted("  gpufleet:tags: [" + ", ".join(["1"] * 10_001) + "]\n"), line(0),
         ("got more than 10,000 values", "expected a stack file of at most 10,000 values"), True),
    Case("nested-too-deep", inserted("  gpufleet:tags: " + "[" * 100 + "]" * 100 + "\n"), line(0),
         ("got values nested more than 64 levels deep", "expected a stack file nested at most 64 levels"), True),
    Case("nested-past-libyaml-limit", inserted("  gpufleet:tags: " + "[" * 5000 + "]" * 5000 + "\n"), line(0),
         ("nested more than 64 levels deep",), True),
    Case("larger-than-1-MiB", _sparse(50 << 20), "(file)",
         ("got a file of 52,428,800 bytes", "expected a stack file of at most 1 MiB (1,048,576 bytes)")),
    Case("huge-integer", inserted("  gpufleet:tags: {team: " + "9" * 5000 + "}\n"), line(0),
         ("got an integer of 5,000 characters", "expected a number of at most 100 digits"), True),
    # -- files that are not text or not files
    Case("not-utf-8", DEV.encode().replace(b"config:\n", b"config:\n  gpufleet:tags: {team: caf\xe9}\n", 1),
         line(0), ("got a byte that is not UTF-8 (0xe9 at column 28)", "expected a stack file in UTF-8 text")),
    Case("utf-16", DEV.encode("utf-16"), "line 1", ("got a byte that is not UTF-8 (0xff at column 1)",)),
    Case("control-character", inserted("  gpufleet:tags: {team: a\x00b}\n"), line(0),
         ("got the control character U+0000", "expected printable text (valid YAML)"), True),
    Case("directory", _directory, "(file)", ("got a directory", "not a directory")),
    Case("fifo", _fifo, "(file)", ("got a special file (a device, pipe or socket)",)),
    # -- YAML that Pulumi reads differently or refuses
    Case("duplicate-top-level-key", inserted("  gpufleet:pools: {}\n  gpufleet:pools: {}\n"), line(1),
         (f"got duplicate key 'gpufleet:pools' (first at {line(0)})", "expected each key once"), True),
    Case("duplicate-nested-key", inserted("  gpufleet:pools:\n    system:\n      max: 4\n      max: 5\n"), line(3),
         (f"got duplicate key 'gpufleet:pools.system.max' (first at {line(2)})", "expected each key once"), True),
    Case("duplicate-key-in-a-list-item", inserted("  gpufleet:pools:\n    gpu:\n      - {name: a, max: 1, max: 2}\n"),
         line(2), ("got duplicate key 'gpufleet:pools.gpu[0].max' (first at", "expected each key once"), True),
    Case("duplicate-key-quoted", inserted("  gpufleet:tags:\n    team: a\n    'team': b\n"), line(2),
         ("got duplicate key 'gpufleet:tags.team'",), True),
    Case("duplicate-config", DEV + "config: {}\n", f"line {DEV.count(chr(10)) + 1}",
         ("got duplicate key 'config' (first at line",), True),
    Case("two-documents", DEV + "---\nconfig: {}\n", f"line {DEV.count(chr(10)) + 1}",
         ("got a second YAML document (after ---)", "expected a stack file of one document"), True),
    Case("binary-tag", inserted("  gpufleet:tags: {team: !!binary aGVsbG8=}\n"), line(0),
         ("got the YAML tag !!binary", "expected plain YAML values"), True),
    Case("python-tag", inserted("  gpufleet:tags: !!python/object/apply:os.system ['true']\n"), line(0),
         ("got the YAML tag !!python/object/apply:os.system",), True),
    Case("set-tag", inserted("  gpufleet:tags: !!set {a, b}\n"), line(0), ("got the YAML tag !!set",), True),
    Case("local-tag", inserted("  gpufleet:tags: !mine x\n"), line(0), ("got the YAML tag !mine",), True),
    Case("list-as-key", inserted("  ? [a, b]\n  : c\n"), line(0),
         ("got a list or mapping used as a key", "expected a plain key (a name)"), True),
    Case("syntax-error", inserted("  gpufleet:tags: [a\n  x: }\n"), line(1), ("got invalid YAML: ", "expected valid YAML"), True),
    Case("empty-file", "", "config", ("got nothing (the key is missing)", "expected a mapping under the top-level key 'config'")),
    Case("config-is-a-list", "config: [a, b]\n", "config", ('got ["a", "b"]', "expected a mapping under")),
    Case("unknown-top-level-key", DEV + "secretprovider: passphrase\n", "secretprovider",
         ("got unknown top-level key 'secretprovider'", "expected a top-level key of a Pulumi stack file: config, "
          "secretsprovider", "(did you mean 'secretsprovider'?)")),
    # -- keys outside gpufleet:
    Case("namespace-typo", inserted("  gpufleett:budget: 5\n"), "gpufleett:budget",
         ("got unknown key 'gpufleett:budget'", "expected a key in a namespace this stack's program reads",
          "(did you mean 'gpufleet:cost.budget_usd'?)")),
    Case("aws-key-typo", inserted("  aws:regoin: us-west-2\n"), "aws:regoin",
         ("got unknown key 'aws:regoin'", "expected a configuration key of the aws provider", "(did you mean 'aws:region'?)")),
    Case("dot-for-colon", inserted("  gpufleet.storage: {checkpoints: {iops: 6000}}\n"), "gpufleet.storage",
         ("got unknown key 'gpufleet.storage'", "(did you mean 'gpufleet:storage'?)")),
    Case("region-in-gpufleet", inserted("  gpufleet:region: us-west-2\n"), "gpufleet:region",
         ("got unknown key 'gpufleet:region'", "(did you mean 'aws:region'?)")),
    Case("kubernetes-key-typo", inserted("  kubernetes:contxt: admin\n"), "kubernetes:contxt",
         ("got unknown key 'kubernetes:contxt'", "the kubernetes provider", "(did you mean 'kubernetes:context'?)")),
    Case("pulumi-key-typo", inserted("  pulumi:disable-default-provider: [aws]\n"), "pulumi:disable-default-provider",
         ("expected a key the Pulumi engine reads", "(did you mean 'pulumi:disable-default-providers'?)")),
    Case("key-that-is-not-a-string", inserted("  1: x\n"), "1", ("got unknown key '1'",)),
    Case("key-with-a-newline", inserted('  "gpufleet:tags\\nx": 1\n'), "gpufleet:tags\\nx", ("got unknown key 'gpufleet:tags\\nx'",)),
]


def _raw_case(edits: list[tuple[str, Any]], key_path: str, *fragments: str) -> tuple[list, str, tuple[str, ...]]:
    return edits, key_path, fragments


#: (id, edits of the dev stack, key path, fragments): pydantic's generic errors in the user's terms
VALUE_CASES = [
    ("section-of-wrong-type", [("gpufleet:pools", [])], "gpufleet:pools",
     ("got []; expected a mapping with keys from: system, gpu",)),
    ("section-as-string", [("gpufleet:tags", "ml-platform")], "gpufleet:tags",
     ("got 'ml-platform'; expected a mapping with keys from: team, cost-center, env, project",)),
    ("list-given-a-mapping", [("gpufleet:pools.gpu", {"a": 1})], "gpufleet:pools.gpu",
     ('got {"a": 1}; expected a list of mappings',)),
    ("list-given-one-string", [("gpufleet:network.azs", "us-east-1a")], "gpufleet:network.azs",
     ("got 'us-east-1a'; expected a list of strings (write [us-east-1a] for a single item)",)),
    ("mapping-given-a-list", [("gpufleet:teams[0].shares", [1])], "gpufleet:teams[0].shares",
     ("got [1]; expected a mapping of names to integers",)),
    ("string-given-a-number", [("gpufleet:tags.team", 5)], "gpufleet:tags.team",
     ("got 5; expected a string (put numbers in quotes)",)),
    ("integer-given-text", [("gpufleet:pools.gpu[0].max", "lots")], "gpufleet:pools.gpu[0].max",
     ("got 'lots'; expected an integer greater than 0",)),
    ("integer-given-a-fraction", [("gpufleet:pools.gpu[0].max", 1.5)], "gpufleet:pools.gpu[0].max",
     ("got 1.5; expected a whole number (an integer)",)),
    ("boolean-given-text", [("gpufleet:cluster.endpoint.public", "yes please")], "gpufleet:cluster.endpoint.public",
     ("got 'yes please'; expected true or false",)),
    ("cidr-with-host-bits", [("gpufleet:cluster.endpoint.public_cidrs", ["203.0.113.1/24"])],
     "gpufleet:cluster.endpoint.public_cidrs[0]",
     ("got '203.0.113.1/24'; expected a network address without host bits, e.g. 203.0.113.0/24",)),
    ("vpc-cidr-with-host-bits", [("gpufleet:network.cidr", "10.10.0.1/16")], "gpufleet:network.cidr",
     ("got '10.10.0.1/16'; expected a network address without host bits, e.g. 10.10.0.0/16",)),
    ("cidr-not-an-address", [("gpufleet:network.cidr", "banana")], "gpufleet:network.cidr",
     ("got 'banana'; expected an IPv4 network in CIDR notation, e.g. 10.0.0.0/16",)),
    ("list-too-short", [("gpufleet:network.azs", ["us-east-1a"])], "gpufleet:network.azs",
     ('got ["us-east-1a"]; expected a list of 2 to 6 items',)),
    ("empty-string", [("gpufleet:tags.team", "")], "gpufleet:tags.team", ("got ''; expected a non-empty string",)),
    ("label-key", [("gpufleet:pools.gpu[0].labels", {"Bad Key!": "x"})], "gpufleet:pools.gpu[0].labels.Bad Key!",
     ("got 'Bad Key!'; expected a Kubernetes label key: [prefix/]name, the name at most 63 characters",)),
    ("label-value", [("gpufleet:pools.gpu[0].labels", {"team": "bad value!"})], "gpufleet:pools.gpu[0].labels.team",
     ("got 'bad value!'; expected a Kubernetes label value: empty or at most 63 characters",)),
    ("nan", [("gpufleet:cost.budget_usd", float("nan"))], "gpufleet:cost.budget_usd", ("got .nan; expected a finite number",)),
    ("infinity", [("gpufleet:cost.spot_discount", float("-inf"))], "gpufleet:cost.spot_discount",
     ("got -.inf; expected a finite number",)),
    ("unknown-key-near-miss", [("gpufleet:pools.gpu[0].instance_type", "g6.xlarge")], "gpufleet:pools.gpu[0].instance_type",
     ("got unknown key 'instance_type'; expected a key allowed here: name, purpose, instance_types",
      "(did you mean 'instance_types'?)")),
]


# ---------------------------------------------------------------- helpers

def write_case(directory: Path, case: Case) -> Path:
    path = directory / "Pulumi.dev-hostile.yaml"
    if callable(case.content):
        case.content(path)
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str, float]:
    start = time.perf_counter()
    code = cli.main(list(argv))
    seconds = time.perf_counter() - start
    out, err = capsys.readouterr()
    return code, out, err, seconds


def assert_one_line(result: tuple[int, str, str, float], source: str, key_path: str, fragments: tuple[str, ...]) -> None:
    code, out, err, seconds = result
    assert code == 2, err
    assert out == "", out[:300]
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.endswith("\n"), err[:2000]
    assert err.startswith(f"error: {source}: {key_path}: got "), err
    assert "; expected " in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert seconds < SECONDS, f"{seconds:.2f}s"


def assert_message(exc: BaseException, source: str, key_path: str, fragments: tuple[str, ...]) -> None:
    message = str(exc)
    assert "\n" not in message, message
    assert message.startswith(f"{source}: {key_path}: got "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def commands_reading(path: Path) -> dict[str, list[str]]:
    """Every command that reads a stack file, pointed at ``path`` (Pulumi.dev-hostile.yaml)."""
    return {
        "plan": ["plan", str(path)],
        "diff": ["diff", str(path), "dev"],
        "preflight": ["preflight", str(path)],
        "cost": ["cost", str(path)],
        "policy": ["policy", str(path)],
        "replicate": ["replicate", "dev-hostile", "hostile-west", "--region", "us-west-2", "--offline",
                      "--stacks-dir", str(path.parent)],
    }


@pytest.fixture(params=LOADERS)
def loader(request, monkeypatch):
    if request.param not in stack_config._LOADERS:
        pytest.skip("PyYAML was built without libyaml")
    monkeypatch.setattr(stack_config, "YAML_LOADER", request.param)
    return request.param


@pytest.fixture
def never_render(monkeypatch):
    """A hostile file must stop before any resource is declared."""
    from gpufleet import engine

    monkeypatch.setattr(engine, "install", lambda *a, **k: pytest.fail("declared resources for a bad stack"))


# ---------------------------------------------------------------- stack files, every command

@pytest.mark.parametrize("case", STACK_CASES, ids=lambda c: c.id)
def test_stack_file_through_the_function(case, tmp_path, loader):
    if loader == "python" and not case.yaml:
        pytest.skip("not a YAML-level case: the parser does not matter")
    path = write_case(tmp_path, case)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        stack_config.from_file(path, str(path))
    assert time.perf_counter() - start < SECONDS
    assert_message(info.value, str(path), case.key_path, case.fragments)


@pytest.mark.parametrize("command", ["plan", "diff", "preflight", "cost", "policy", "replicate"])
@pytest.mark.parametrize("case", STACK_CASES, ids=lambda c: c.id)
def test_stack_file_through_every_command(case, command, tmp_path, capsys, never_render):
    path = write_case(tmp_path, case)
    result = run(capsys, *commands_reading(path)[command])
    assert_one_line(result, str(path), case.key_path, case.fragments)


@pytest.mark.parametrize("case", [c for c in STACK_CASES if c.yaml], ids=lambda c: c.id)
def test_yaml_cases_through_the_cli_with_the_pure_python_parser(case, tmp_path, capsys, monkeypatch, never_render):
    monkeypatch.setattr(stack_config, "YAML_LOADER", "python")
    path = write_case(tmp_path, case)
    assert_one_line(run(capsys, "plan", str(path)), str(path), case.key_path, case.fragments)


@pytest.mark.parametrize("edits,key_path,fragments", [c[1:] for c in VALUE_CASES], ids=[c[0] for c in VALUE_CASES])
def test_values_in_the_users_terms(edits, key_path, fragments, tmp_path, capsys, never_render):
    import yaml

    raw = apply_edits("dev", edits)
    with pytest.raises(ConfigError) as info:
        validate(raw, TEST_SOURCE)
    assert_message(info.value, TEST_SOURCE, key_path, fragments)
    path = tmp_path / "Pulumi.dev-hostile.yaml"
    path.write_text(yaml.safe_dump({"config": raw}))
    assert_one_line(run(capsys, "plan", str(path)), str(path), key_path, fragments)


def test_no_message_says_input_should_be_or_instance_of():
    """Pydantic's own phrasing never reaches a user (a sample of each generic error type)."""
    for _, edits, _, _ in VALUE_CASES:
        with pytest.raises(ConfigError) as info:
            validate(apply_edits("dev", edits))
        text = str(info.value)
        assert not re.search(r"Input should|instance of|Input is not|expected not |List should|String should", text), text


# ---------------------------------------------------------------- paths: the message names the file read

def test_a_directory_given_as_a_stack(tmp_path, capsys, never_render):
    for command in ("plan", "cost", "policy"):
        assert_one_line(run(capsys, command, str(tmp_path)), str(tmp_path), "(file)", ("got a directory",))
    assert_one_line(run(capsys, "diff", str(tmp_path), "dev"), str(tmp_path), "(file)", ("got a directory",))
    assert_one_line(run(capsys, "preflight", str(tmp_path)), str(tmp_path), "(file)", ("got a directory",))


def test_a_path_without_yaml_suffix_is_not_taken_for_a_stack_name(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    assert_one_line(run(capsys, "plan", missing), missing, "(file)", ("got no such file",))


def test_device_files_are_refused_without_reading(capsys):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    assert_one_line(run(capsys, "plan", "/dev/zero"), "/dev/zero", "(file)", ("got a special file",))


def test_a_file_name_with_a_newline_stays_one_line(tmp_path, capsys):
    path = tmp_path / "Pulumi.a\nb.yaml"
    path.write_text("config: [x]\n")
    code, out, err, _ = run(capsys, "plan", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: ") and "Pulumi.a\\nb.yaml: config: got [\"x\"]; expected a mapping" in err


def test_preflight_names_the_file_it_read_in_another_directory(tmp_path, capsys):
    case = next(c for c in STACK_CASES if c.id == "duplicate-nested-key")
    stacks = tmp_path / "elsewhere"
    stacks.mkdir()
    path = write_case(stacks, case)
    assert_one_line(run(capsys, "preflight", "dev-hostile", "--stacks-dir", str(stacks)), str(path), case.key_path,
                    case.fragments)


# ---------------------------------------------------------------- the fleet file

FLEET_CASES = [
    ("directory", _directory, "(file)", ("got a directory; expected a fleet file",)),
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
    ("directory", _directory, "(file)", ("got a directory",)),
    ("nested-too-deep", _deep_json, "(file)", ("got values nested more than 64 levels deep",)),
    ("larger-than-4-MiB", _sparse(5 << 20), "(file)", ("expected a plan file (the output of `gpufleet plan --json`) "
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


# ---------------------------------------------------------------- what is accepted

@pytest.mark.parametrize("stack", ["dev", "prod", "staging"])
def test_both_parsers_read_the_shipped_stacks_as_pyyaml_does(stack, loader):
    import yaml

    path = stack_path(stack)
    assert stack_config.read_stack_file(path) == yaml.safe_load(path.read_text())["config"]


def test_merges_small_aliases_dates_and_provider_keys_are_accepted(tmp_path, loader):
    extra = ("  aws:profile: ml-admin\n  kubernetes:context: admin\n  pulumi:disable-default-providers: ['*']\n"
             "  gpufleet:tags: &tags\n    team: ml-platform\n    cost-center: cc-ml-0420\n    env: dev\n"
             "    project: '2024-01-01'\n")
    text = inserted(extra).replace("  gpufleet:tags:\n    team: ml-platform", "  gpufleet:old_tags:\n    team: ml-platform", 1)
    path = tmp_path / "Pulumi.dev-ok.yaml"
    path.write_text(text)
    raw = stack_config.read_stack_file(path)
    assert raw["gpufleet:tags"]["project"] == "2024-01-01"  # a date-looking value stays a string, as in Pulumi
    doc = stack_config.parse_yaml("base: &b {a: 1, b: 2}\nover: {<<: *b, b: 3}\nlist: [*b, *b]\nday: 2024-01-01\n",
                                  "x.yaml", "file")
    assert doc["over"] == {"a": 1, "b": 3} and doc["list"] == [{"a": 1, "b": 2}] * 2 and doc["day"] == "2024-01-01"
    del raw["gpufleet:old_tags"]
    assert stack_config._key_problems(raw, "x") == []


def test_engine_serialises_only_the_keys_the_program_reads():
    lol: Any = ["lol"] * 10
    for _ in range(30):  # 10**30 leaves when serialised
        lol = [lol] * 10
    raw = {"gpufleet:environment": "dev", "aws:region": "us-east-1", "other:bomb": lol, "aws:defaultTags": {"a": 1}}
    start = time.perf_counter()
    assert stack_config.program_config(raw) == {"gpufleet:environment": "dev", "aws:region": "us-east-1"}
    assert time.perf_counter() - start < 0.1


def test_error_values_are_shown_without_serialising_them():
    lol: Any = ["lol"] * 10
    for _ in range(30):
        lol = [lol] * 10
    start = time.perf_counter()
    message = str(ConfigError(stack_source("x"), "gpufleet:tags", lol, "a mapping"))
    assert time.perf_counter() - start < 0.1
    assert message.startswith(f'{stack_source("x")}: gpufleet:tags: got [[[[') and "...; expected a mapping" in message
    assert len(message) < 200
    big = {"k" * 10_000: "v" * 10**6, "n": 10**4000}
    assert len(str(ConfigError("f", "k", big, "x"))) < 200


# ---------------------------------------------------------------- exit codes

def test_exit_codes_are_defined_once_and_listed_in_help_and_readme(capsys):
    from gpufleet import exit_codes

    assert (exit_codes.OK, exit_codes.POLICY, exit_codes.BAD_INPUT, exit_codes.EXTERNAL) == (0, 1, 2, 3)
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Exit codes"):]
    for code, meaning in exit_codes.MEANING.items():
        assert f"  {code}  {meaning}" in out
        assert re.search(rf"^\| `{code}` \|", section, re.M), f"README lacks exit code {code}"
    with pytest.raises(SystemExit):
        cli.main(["plan", "--help"])
    assert "exit codes:" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["plan"])
    assert info.value.code == 2


def test_a_bug_is_one_line_and_its_own_exit_code(monkeypatch, capsys):
    from gpufleet import exit_codes
    from gpufleet import plan as planner

    def broken(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(planner, "render", broken)
    code, out, err, _ = run(capsys, "plan", "dev")
    assert code == exit_codes.INTERNAL == 4 and out == "" and err.count("\n") == 1
    assert err.startswith("error: internal error (a bug in gpufleet") and "ZeroDivisionError: division by zero" in err


def test_live_prices_without_credentials_exit_3(capsys, monkeypatch, tmp_path):
    from .test_preflight import _isolate

    _isolate(monkeypatch, tmp_path)
    code, out, err, _ = run(capsys, "cost", "dev", "--live-prices")
    assert code == 3 and out == "" and err.count("\n") == 1
    assert err.startswith("error: cannot get live prices for us-east-1: ")


def test_preflight_with_a_failing_aws_call_exits_3(capsys, monkeypatch, tmp_path):
    import boto3
    from botocore.stub import Stubber

    from gpufleet import aws_checks

    from .test_preflight import _isolate

    _isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def clients(region):
        made = aws_checks.Clients(region, boto3.Session())
        for service in ("ec2", "service-quotas", "eks"):
            client = made.session.client(service, region_name=region)
            stub = Stubber(client)
            if service == "ec2":
                stub.add_client_error("describe_availability_zones", "UnauthorizedOperation", "not authorized")
            stub.activate()
            made._made[service] = client
        return made

    monkeypatch.setattr(aws_checks, "make_clients", clients)
    code, out, err, _ = run(capsys, "preflight", "dev")
    assert code == 3, out + err
    assert "AWS call failed" in out and "UnauthorizedOperation" in out
    assert err.count("\n") == 1 and err.startswith("error: an AWS call failed")


def test_fleet_preview_with_pulumi_failing_exits_3(capsys, monkeypatch):
    from pulumi import automation as auto

    from .test_fleet import RecordingPulumi

    monkeypatch.setattr(auto, "PulumiCommand", lambda *a, **k: RecordingPulumi(fail=("prod",)))
    code, out, err, _ = run(capsys, "fleet", "preview", "--no-policy")
    assert code == 3, out + err
    assert "prod: pulumi failed: error: prod broke" in out


def test_pulumi_cli_missing_exits_3(capsys, monkeypatch):
    from pulumi import automation as auto

    def missing(*a, **k):
        raise FileNotFoundError("pulumi")

    monkeypatch.setattr(auto, "PulumiCommand", missing)
    code, out, err, _ = run(capsys, "fleet", "up")
    assert code == 3 and out == "" and err.startswith("error: the pulumi CLI is not installed")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_an_unreadable_file_is_one_line(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "Pulumi.dev-locked.yaml"
    path.write_text(DEV)
    path.chmod(0)
    assert_one_line(run(capsys, "plan", str(path)), str(path), "(file)", ("got a file that cannot be read",))


def test_every_case_is_fast_and_catalogued():
    ids = [c.id for c in STACK_CASES] + [c[0] for c in VALUE_CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 50
    json.dumps(ids)  # plain ids: they name the regression tests
