"""``gpufleet check --format sarif``: valid SARIF 2.1.0 that GitHub code scanning accepts,
results naming the policy or check and the file and line to fix, fingerprints stable across
runs (issue #13, section 2)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from gpufleet import check

from .check_support import line_of, project_copy, run, write_stack
from .helpers import FIXTURE_ROOT, apply_edits, stack_source

#: expectations of the fixture stacks on the data's day: every policy passing, no EKS warning (conftest.py)
pytestmark = pytest.mark.on_data_day


# check-jsonschema vendors no SARIF schema (its builtin schemas are CI configs). This is the
# part of the OASIS SARIF 2.1.0 schema (sarif-schema-2.1.0.json, errata01:
# https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json)
# that covers every object `gpufleet check` writes, with the schema's own constraints
# (required properties, enums, minimums, anyOf) and `additionalProperties: false` where the
# schema has it. Each object lists only the properties gpufleet uses: stricter than the
# schema, so a log valid here is valid there.
_BAG = {"$ref": "#/definitions/propertyBag"}
_MMS = {"$ref": "#/definitions/multiformatMessageString"}
_LEVEL = {"enum": ["none", "note", "warning", "error"], "type": "string"}
SARIF_2_1_0 = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object", "additionalProperties": False, "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"enum": ["2.1.0"], "type": "string"},
        "runs": {"type": ["array", "null"], "minItems": 0, "items": {"$ref": "#/definitions/run"}},
        "properties": _BAG,
    },
    "definitions": {
        "propertyBag": {"type": "object", "additionalProperties": True, "properties": {
            "tags": {"type": "array", "minItems": 0, "uniqueItems": True, "items": {"type": "string"}}}},
        "multiformatMessageString": {"type": "object", "additionalProperties": False, "required": ["text"],
                                     "properties": {"text": {"type": "string"}, "markdown": {"type": "string"},
                                                    "properties": _BAG}},
        "message": {"type": "object", "additionalProperties": False,
                    "properties": {"text": {"type": "string"}, "markdown": {"type": "string"},
                                   "id": {"type": "string"}, "properties": _BAG},
                    "anyOf": [{"required": ["text"]}, {"required": ["id"]}]},
        "run": {"type": "object", "additionalProperties": False, "required": ["tool"], "properties": {
            "tool": {"$ref": "#/definitions/tool"},
            "invocations": {"type": "array", "minItems": 0, "items": {"$ref": "#/definitions/invocation"}},
            "originalUriBaseIds": {"type": "object",
                                   "additionalProperties": {"$ref": "#/definitions/artifactLocation"}},
            "results": {"type": "array", "minItems": 0, "items": {"$ref": "#/definitions/result"}},
            "properties": _BAG}},
        "tool": {"type": "object", "additionalProperties": False, "required": ["driver"],
                 "properties": {"driver": {"$ref": "#/definitions/toolComponent"}, "properties": _BAG}},
        "toolComponent": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
            "name": {"type": "string"}, "version": {"type": "string"},
            "informationUri": {"type": "string", "format": "uri"},
            "rules": {"type": "array", "minItems": 0, "uniqueItems": True,
                      "items": {"$ref": "#/definitions/reportingDescriptor"}},
            "properties": _BAG}},
        "reportingDescriptor": {"type": "object", "additionalProperties": False, "required": ["id"], "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "shortDescription": _MMS,
            "fullDescription": _MMS, "help": _MMS, "helpUri": {"type": "string", "format": "uri"},
            "defaultConfiguration": {"$ref": "#/definitions/reportingConfiguration"}, "properties": _BAG}},
        "reportingConfiguration": {"type": "object", "additionalProperties": False, "properties": {
            "enabled": {"type": "boolean"}, "level": _LEVEL,
            "rank": {"type": "number", "minimum": -1.0, "maximum": 100.0}, "properties": _BAG}},
        "invocation": {"type": "object", "additionalProperties": False, "required": ["executionSuccessful"],
                       "properties": {"executionSuccessful": {"type": "boolean"}, "exitCode": {"type": "integer"},
                                      "properties": _BAG}},
        "result": {"type": "object", "additionalProperties": False, "required": ["message"], "properties": {
            "ruleId": {"type": "string"}, "ruleIndex": {"type": "integer", "minimum": -1},
            "kind": {"enum": ["notApplicable", "pass", "fail", "review", "open", "informational"], "type": "string"},
            "level": _LEVEL, "message": {"$ref": "#/definitions/message"},
            "locations": {"type": "array", "minItems": 0, "items": {"$ref": "#/definitions/location"}},
            "partialFingerprints": {"type": "object", "additionalProperties": {"type": "string"}},
            "properties": _BAG}},
        "location": {"type": "object", "additionalProperties": False, "properties": {
            "id": {"type": "integer", "minimum": -1},
            "physicalLocation": {"$ref": "#/definitions/physicalLocation"},
            "message": {"$ref": "#/definitions/message"}, "properties": _BAG}},
        "physicalLocation": {"type": "object", "additionalProperties": False, "properties": {
            "artifactLocation": {"$ref": "#/definitions/artifactLocation"},
            "region": {"$ref": "#/definitions/region"}, "properties": _BAG},
            "anyOf": [{"required": ["address"]}, {"required": ["artifactLocation"]}]},
        "artifactLocation": {"type": "object", "additionalProperties": False, "properties": {
            "uri": {"type": "string", "format": "uri-reference"}, "uriBaseId": {"type": "string"},
            "index": {"type": "integer", "minimum": -1}, "properties": _BAG}},
        "region": {"type": "object", "additionalProperties": False, "properties": {
            "startLine": {"type": "integer", "minimum": 1}, "startColumn": {"type": "integer", "minimum": 1},
            "endLine": {"type": "integer", "minimum": 1}, "endColumn": {"type": "integer", "minimum": 1},
            "charOffset": {"type": "integer", "minimum": -1}, "byteOffset": {"type": "integer", "minimum": -1},
            "properties": _BAG},
            "anyOf": [{"required": ["startLine"]}, {"required": ["charOffset"]}, {"required": ["byteOffset"]}]},
    },
}
SARIF_VALIDATOR = jsonschema.Draft4Validator(SARIF_2_1_0, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def sarif_errors(doc: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in SARIF_VALIDATOR.iter_errors(doc)]


def github_problems(doc: dict) -> list[str]:
    """What GitHub code scanning needs beyond the schema (docs.github.com, "SARIF support for
    code scanning"; sarif-sdk's GH10xx validation rules): a driver name, results whose ruleId
    is a rule of the driver (ruleIndex pointing at it), a message text, and exactly one
    location with a non-empty artifact URI and a region with a startLine."""
    problems = []
    for sarif_run in doc["runs"]:
        driver = sarif_run["tool"]["driver"]
        rules = [r["id"] for r in driver.get("rules", [])]
        if not driver.get("name") or len(rules) != len(set(rules)):
            problems.append("driver name, unique rule ids")
        for r in sarif_run.get("results", []):
            if r.get("ruleId") not in rules or rules.index(r["ruleId"]) != r.get("ruleIndex"):
                problems.append(f"ruleId/ruleIndex {r.get('ruleId')}")
            if not r["message"].get("text"):
                problems.append("message.text")
            [location] = r["locations"]
            physical = location["physicalLocation"]
            if not physical["artifactLocation"].get("uri") or physical["region"].get("startLine", 0) < 1:
                problems.append(f"location of {r['ruleId']}")
    return problems


@pytest.fixture(scope="module")
def failing_project(tmp_path_factory) -> Path:
    """Every kind of finding: a stack that does not validate, a policy violation, a missing
    policy config."""
    root = project_copy(tmp_path_factory.mktemp("failing"))
    write_stack(root, "dev", apply_edits("dev", [("gpufleet:network.nat", "per_az")]))
    write_stack(root, "staging", apply_edits("staging", [("gpufleet:pools.gpu[0].max", -7)]))
    (root / "policies" / "config" / "prod.json").unlink()
    return root


def test_sarif_of_a_clean_run_is_valid_sarif_2_1_0(capsys):
    code, out, _ = run(capsys, "check", "--all", "--format", "sarif")
    doc = json.loads(out)
    assert code == 0 and sarif_errors(doc) == [] and github_problems(doc) == []
    [sarif_run] = doc["runs"]
    assert sarif_run["results"] == [] and sarif_run["invocations"] == [{"executionSuccessful": True, "exitCode": 0}]
    rules = {r["id"]: r for r in sarif_run["tool"]["driver"]["rules"]}
    from gpufleet.reports.policy import load_pack

    assert {p.name for p in load_pack().POLICIES} | set(check.CHECKS) - {"policy"} == set(rules)
    assert sarif_run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": FIXTURE_ROOT.as_uri() + "/"}}


def test_sarif_results_name_the_policy_or_check_and_the_file_to_fix(failing_project, capsys):
    code, out, _ = run(capsys, "-C", str(failing_project), "check", "--all", "--format", "sarif")
    doc = json.loads(out)
    assert code == 2
    assert sarif_errors(doc) == [] and github_problems(doc) == []
    results = doc["runs"][0]["results"]
    found = {(r["properties"]["stack"], r["ruleId"], r["level"],
              r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results}
    assert found == {("dev", "single-nat-outside-prod", "error", stack_source("dev")),
                     ("staging", "config", "error", stack_source("staging")),
                     ("prod", "policy-config", "error", stack_source("prod"))}
    for r in results:
        location = r["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert r["message"]["text"].startswith(f"stack {r['properties']['stack']}: ")
    staging = next(r for r in results if r["ruleId"] == "config")
    assert staging["locations"][0]["physicalLocation"]["region"]["startLine"] == line_of(
        failing_project / stack_source("staging"), "max: -7")
    assert doc["runs"][0]["invocations"][0]["exitCode"] == 2


def test_sarif_fingerprints_are_stable_across_runs_and_line_moves(failing_project, capsys):
    """GitHub matches alerts across runs by partialFingerprints: a finding keeps its identity
    when lines above it move."""
    code, out, _ = run(capsys, "-C", str(failing_project), "check", "dev", "--format", "sarif")
    assert code == 1
    first = {r["ruleId"]: r["partialFingerprints"] for r in json.loads(out)["runs"][0]["results"]}
    path = failing_project / stack_source("dev")
    original = path.read_text()
    try:
        path.write_text("# a comment that moves every line\n" + original)
        _, out, _ = run(capsys, "-C", str(failing_project), "check", "dev", "--format", "sarif")
        second = json.loads(out)["runs"][0]["results"]
    finally:
        path.write_text(original)
    assert {r["ruleId"]: r["partialFingerprints"] for r in second} == first


@pytest.mark.parametrize("breakage", ["no version", "unknown level", "line zero", "no message", "extra key"])
def test_the_schema_refuses_what_sarif_2_1_0_refuses(failing_project, capsys, breakage):
    """The schema part above bites: each change makes a log SARIF 2.1.0 refuses."""
    _, out, _ = run(capsys, "-C", str(failing_project), "check", "dev", "--format", "sarif")
    doc = json.loads(out)
    result = doc["runs"][0]["results"][0]
    if breakage == "no version":
        del doc["version"]
    elif breakage == "unknown level":
        result["level"] = "fatal"
    elif breakage == "line zero":
        result["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    elif breakage == "no message":
        del result["message"]
    else:
        result["severity"] = "high"
    assert sarif_errors(doc)
