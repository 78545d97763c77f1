"""``gpufleet check``: every offline check on every stack of a project, exit 0/1/2, and its
text, Markdown, JSON and SARIF 2.1.0 reports (issue #13, section 2)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from gpufleet import check, cli
from gpufleet import will_it_run as wir

from .conftest import shipped_plan
from .helpers import FIXTURE_ROOT, STACK_FOLDER, STACKS, apply_edits, stack_source


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def project_copy(tmp_path: Path) -> Path:
    """A private copy of the fixture project (checks never write, but the tests edit its files)."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURE_ROOT, root, ignore=shutil.ignore_patterns(".hypothesis", "__pycache__"))
    return root


def write_stack(root: Path, stack: str, raw: dict) -> Path:
    path = root / STACK_FOLDER / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": raw}, sort_keys=False))
    return path


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the only line of ``path`` that contains ``text``."""
    [n] = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return n


def by_stack(doc: dict) -> dict[str, dict]:
    return {s["stack"]: s for s in doc["stacks"]}


def statuses(stack: dict) -> dict[str, str]:
    return {c["check"]: c["status"] for c in stack["checks"]}


# ---------------------------------------------------------------- the fixture project passes

def test_every_fixture_stack_passes_every_check(capsys):
    code, out, err = run(capsys, "check", "--all")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == f"project gpufleet ({FIXTURE_ROOT})"  # the project it acts on, first
    header = lines[2].split()
    assert header == ["stack", *check.CHECKS, "result"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[4:4 + len(STACKS)]}
    assert rows == {s: ["ok"] * len(check.CHECKS) + ["pass"] for s in STACKS}
    assert lines[-1] == f"{len(STACKS)} stack(s): {len(STACKS)} passed, 0 failed; exit 0"


def test_json_reports_every_check_of_every_stack(capsys):
    code, out, err = run(capsys, "check", *STACKS, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["exit_code"] == 0 and doc["checks"] == list(check.CHECKS)
    assert doc["project"] == {"name": "gpufleet", "root": str(FIXTURE_ROOT)}
    assert err.startswith("project gpufleet (")  # stdout stays a document
    stacks = by_stack(doc)
    assert list(stacks) == STACKS
    for stack, result in stacks.items():
        assert statuses(result) == dict.fromkeys(check.CHECKS, "pass"), result
        assert result["source"] == stack_source(stack) and result["findings"] == []
        plan = next(c for c in result["checks"] if c["check"] == "plan")
        assert plan["summary"].startswith(f"{len(shipped_plan(stack).resources)} resources, $")
        teams = len(shipped_plan(stack).config.teams)
        assert f"of {teams} teams run on every pool" in next(c["summary"] for c in result["checks"]
                                                             if c["check"] == "will-it-run")


def test_a_stack_path_is_checked_too(capsys):
    code, out, _ = run(capsys, "check", stack_source("dev"), "--format", "json")
    [result] = json.loads(out)["stacks"]
    assert code == 0 and result["stack"] == "dev" and statuses(result)["policy-config"] == "pass"


# ---------------------------------------------------------------- what fails, and how

def test_a_stack_that_does_not_validate_is_exit_2_and_every_other_stack_is_still_checked(tmp_path, capsys):
    root = project_copy(tmp_path)
    path = write_stack(root, "dev", apply_edits("dev", [("gpufleet:pools.gpu[1].max", -7)]))
    code, out, _ = run(capsys, "-C", str(root), "check", "--all", "--format", "json")
    doc = json.loads(out)
    assert code == 2 and doc["exit_code"] == 2
    stacks = by_stack(doc)
    assert list(stacks) == STACKS  # all reported
    dev = stacks["dev"]
    assert dev["status"] == "fail" and dev["exit_code"] == 2
    assert statuses(dev) == {"config": "fail", **{c: "skip" for c in check.CHECKS[1:]}}
    [finding] = dev["findings"]
    assert finding["rule"] == "config" and finding["level"] == "error"
    assert finding["message"].startswith(f"{stack_source('dev')}: gpufleet:pools.gpu[1].max: got -7")
    assert (finding["file"], finding["line"]) == (stack_source("dev"), line_of(path, "max: -7"))
    assert all(stacks[s]["status"] == "pass" for s in STACKS if s != "dev")


def test_a_mandatory_policy_violation_is_exit_1_and_names_the_policy_and_the_line(tmp_path, capsys):
    root = project_copy(tmp_path)
    path = write_stack(root, "dev", apply_edits("dev", [("gpufleet:network.nat", "per_az")]))  # valid config
    code, out, _ = run(capsys, "-C", str(root), "check", "dev", "--format", "json")
    [dev] = json.loads(out)["stacks"]
    assert code == 1 and dev["exit_code"] == 1 and statuses(dev)["policy"] == "fail"
    assert statuses(dev)["config"] == statuses(dev)["plan"] == "pass"
    [finding] = dev["findings"]
    assert (finding["rule"], finding["level"], finding["check"]) == ("single-nat-outside-prod", "error", "policy")
    assert "NAT gateways in dev" in finding["message"] and "Fix: set gpufleet:network.nat: single" in finding["message"]
    assert finding["line"] == line_of(path, "nat: per_az")  # the key the fix hint names


def test_a_team_job_that_would_not_run_is_exit_1(capsys, monkeypatch):
    """Kueue gives up after one minute: no pool is ready that fast, so no team's job runs."""
    real = wir.stack_facts
    monkeypatch.setattr(wir, "stack_facts", lambda plan: dataclasses.replace(real(plan), timeout_minutes=1))
    code, out, _ = run(capsys, "check", "dev", "--format", "json")
    [dev] = json.loads(out)["stacks"]
    assert code == 1 and statuses(dev)["will-it-run"] == "fail"
    plan = shipped_plan("dev")
    jobs = {j.name for j in wir.team_jobs(plan, real(plan))}
    assert {f["subject"] for f in dev["findings"]} == jobs
    for f in dev["findings"]:
        team, _, pool = f["subject"].partition("@")
        assert f["rule"] == "will-it-run" and f["message"].startswith(f"team {team}'s typical job on pool {pool} (")
        assert "waitForPodsReady gives up" in f["message"]
        assert f["line"] == line_of(FIXTURE_ROOT / stack_source("dev"), f"- name: {team}")


def test_a_system_pool_too_small_for_the_add_ons_is_exit_1(capsys, monkeypatch):
    """The fit model says one node of dev's system pool is too small (the schema asks the real
    model, so the stack still validates: this is the check's own verdict)."""
    import types

    from gpufleet.modules import fit

    one_node = types.SimpleNamespace(system_fit=lambda cfg: dataclasses.replace(fit.system_fit(cfg), nodes=1))
    monkeypatch.setattr(check, "_fit_module", lambda: one_node)
    code, out, _ = run(capsys, "check", "dev", "--format", "json")
    [dev] = json.loads(out)["stacks"]
    assert code == 1 and statuses(dev)["system-fit"] == "fail"
    [finding] = dev["findings"]
    assert finding["rule"] == "system-fit" and "cannot hold the add-ons" in finding["message"]
    stack_file = FIXTURE_ROOT / stack_source("dev")
    system = line_of(stack_file, "    system:")
    assert finding["line"] > system and "min:" in stack_file.read_text().splitlines()[finding["line"] - 1]


def test_without_the_fit_model_the_fit_check_is_skipped(capsys, monkeypatch):
    monkeypatch.setattr(check, "_fit_module", lambda: None)
    code, out, _ = run(capsys, "check", "dev", "--format", "json")
    [dev] = json.loads(out)["stacks"]
    assert code == 0 and statuses(dev)["system-fit"] == "skip" and dev["status"] == "pass"


def test_a_missing_or_stale_policy_config_fails_the_stack(tmp_path, capsys):
    root = project_copy(tmp_path)
    (root / "policies" / "config" / "staging.json").unlink()
    stale = root / "policies" / "config" / "prod.json"
    stale.write_text(stale.read_text().replace('"environment": "prod"', '"environment": "dev"'))
    code, out, _ = run(capsys, "-C", str(root), "check", "--all", "--format", "json")
    stacks = by_stack(json.loads(out))
    assert code == 1 and stacks["dev"]["status"] == "pass"
    [missing] = stacks["staging"]["findings"]
    assert missing["rule"] == "policy-config" and "policies/config/staging.json is missing" in missing["message"]
    assert missing["file"] == stack_source("staging")  # a missing file cannot be annotated: its stack is
    [stale_finding] = stacks["prod"]["findings"]
    assert stale_finding["file"] == "policies/config/prod.json" and "is stale" in stale_finding["message"]
    assert "gpufleet policy prod --write-config" in stale_finding["message"]


def test_the_policy_config_check_expects_what_the_policy_command_prints(capsys):
    for stack in STACKS:
        assert cli.main(["policy", stack, "--config"]) == 0
        printed = capsys.readouterr().out
        assert (FIXTURE_ROOT / "policies" / "config" / f"{stack}.json").read_text() == printed


def test_usage_errors_are_exit_2(tmp_path, capsys):
    for argv in (["check"], ["check", "dev", "--all"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and err.startswith("error: check: name the stacks to check, or --all"), err
    (tmp_path / "Pulumi.yaml").write_text("name: empty\n")
    code, _, err = run(capsys, "-C", str(tmp_path), "check", "--all")
    assert code == 2 and err.startswith("error: check --all: no Pulumi.<stack>.yaml in") and "project empty" in err
    code, out, _ = run(capsys, "check", "nosuchstack", "--format", "json")
    [result] = json.loads(out)["stacks"]
    assert code == 2 and stack_source("nosuchstack") in result["findings"][0]["message"]


def test_output_file(tmp_path, capsys):
    target = tmp_path / "check.sarif"
    code, out, err = run(capsys, "check", "dev", "--format", "sarif", "-o", str(target))
    assert code == 0 and out == "" and f"wrote {target}" in err
    assert json.loads(target.read_text())["version"] == "2.1.0"


def test_markdown_for_a_pr_comment(tmp_path, capsys):
    root = project_copy(tmp_path)
    write_stack(root, "dev", apply_edits("dev", [("gpufleet:network.nat", "per_az")]))
    code, out, _ = run(capsys, "-C", str(root), "check", "--all", "--format", "markdown")
    lines = out.splitlines()
    assert code == 1 and lines[0] == "### :x: gpufleet check"
    assert lines[2] == "| stack | " + " | ".join(check.CHECKS) + " | result |"
    assert "| `dev` | :white_check_mark: | :white_check_mark: | :x: |" in out and "**fail** |" in out
    assert "| `prod` | " + " | ".join([":white_check_mark:"] * len(check.CHECKS)) + " | **pass** |" in out
    assert f"#### `dev` (`{stack_source('dev')}`)" in out
    assert any(line.startswith("- **error** `single-nat-outside-prod`: ") for line in lines)


# ---------------------------------------------------------------- SARIF 2.1.0

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
    for run in doc["runs"]:
        driver = run["tool"]["driver"]
        rules = [r["id"] for r in driver.get("rules", [])]
        if not driver.get("name") or len(rules) != len(set(rules)):
            problems.append("driver name, unique rule ids")
        for r in run.get("results", []):
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
