"""Hostile values in valid YAML (issue #11, section 2): pydantic's generic errors in the
user's terms, through the validator and the CLI; what is accepted (both parsers, merges, small
aliases, dates, provider keys); error values shown without serialising them."""
# ruff: noqa: F811  (pytest fixtures imported from hostile_support are redefined as test parameters)

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from gpufleet.modules import config as stack_config
from gpufleet.modules.config import ConfigError

from .helpers import TEST_SOURCE, apply_edits, stack_path, stack_source, validate
from .hostile_support import loader, never_render  # noqa: F401 (fixtures)
from .hostile_support import STACK_CASES, assert_message, assert_one_line, inserted, run


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


def test_every_case_is_fast_and_catalogued():
    ids = [c.id for c in STACK_CASES] + [c[0] for c in VALUE_CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 50
    json.dumps(ids)  # plain ids: they name the regression tests
