"""Policy output like Checkov's: counts of passed, failed and skipped rules, each violation
with a fix hint and a README anchor, and suppressions with a reason in the stack's policy
config, reported as skipped (never dropped silently)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from gpufleet import cli
from gpufleet.reports import policy as report_mod

from .conftest import shipped_plan
from .helpers import FIXTURE_ROOT, ROOT, STACK_FOLDER, edit, raw_config
from .policy_support import foundation, offline, pack

#: expectations of the fixture stacks on the data's day: every policy passing, no EKS warning (conftest.py)
pytestmark = pytest.mark.on_data_day

SPOT_RULE = "spot-for-training-outside-prod"
REASON = "on-demand while checkpoint restarts are tested (PLAT-123)"


def anchors() -> set[str]:
    """GitHub's anchors of the README's headings under "## Policies"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Policies", 1)[1].split("\n## ", 1)[0]
    out = set()
    for heading in re.findall(r"^#{2,4} (.+)$", "## Policies" + section, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def on_demand_training(raw: dict) -> dict:
    """dev with its training pool on on-demand capacity (a spend the ceilings allow, one node)."""
    names = [p["name"] for p in raw["gpufleet:pools"]["gpu"]]
    i = names.index("train-spot")
    edit(raw, f"gpufleet:pools.gpu[{i}].capacity", "on-demand")
    edit(raw, f"gpufleet:pools.gpu[{i}].max", 1)
    edit(raw, "gpufleet:cost.busy.train-spot.nodes", 1)
    return raw


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the fixture project, dev's training pool on on-demand, as the current directory."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURE_ROOT, root, ignore=shutil.ignore_patterns(".hypothesis", "__pycache__"))
    (root / STACK_FOLDER / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": on_demand_training(raw_config("dev"))}))
    monkeypatch.chdir(root)
    return root


def set_suppress(root, suppress) -> None:
    path = root / "policies" / "config" / "dev.json"
    doc = json.loads(path.read_text())
    doc["suppress"] = suppress
    path.write_text(json.dumps(doc))


# ---------------------------------------------------------------- counts, hints, anchors

def test_counts_of_passed_failed_and_skipped_rules(any_stack_plan):
    section = next(r for r in any_stack_plan.reports if r.key == "policy")
    counts = section.data["summary"]
    assert counts == {"rules": len(pack.POLICIES), "passed": len(pack.POLICIES), "failed": 0, "skipped": 0}
    assert [r["policy"] for r in section.data["rules"]] == [p.name for p in pack.POLICIES]
    assert section.text == (f"Policy pack gpufleet: {len(pack.POLICIES)} rules: {len(pack.POLICIES)} passed, "
                            f"0 failed (0 mandatory), 0 skipped")


def test_every_policy_has_a_fix_hint_and_a_readme_anchor_under_policies():
    known = anchors()
    for policy in pack.POLICIES:
        hint, docs = report_mod.guide(policy.name)
        assert policy.name in report_mod.FIX_HINTS and hint != report_mod.GENERIC_HINT, policy.name
        assert docs.startswith("README.md#") and docs.split("#", 1)[1] in known, docs
    assert report_mod.CONFIG_DOC.split("#", 1)[1] in known
    assert set(report_mod.FIX_HINTS) <= {p.name for p in pack.POLICIES}  # no hint for a rule that is gone


def test_a_violation_reads_like_checkov(project, capsys):
    assert cli.main(["plan", "dev"]) == 1
    out = capsys.readouterr().out
    total = len(pack.POLICIES)
    assert f"Policies (gpufleet pack, {total} rules): {total - 1} passed, 1 failed, 0 skipped" in out
    assert f"  failed: {SPOT_RULE}" in out
    block = out.split(f"FAILED  {SPOT_RULE} (mandatory) on resource pool-train-spot-ng\n", 1)[1].splitlines()[:3]
    assert block[0].strip().startswith("training pool 'train-spot' runs ON_DEMAND in dev")
    assert block[1] == f"        fix:  {report_mod.FIX_HINTS[SPOT_RULE]}"
    assert block[2] == "        docs: README.md#the-rules"
    assert out.index("Policies (gpufleet pack") < out.index("FAILED  ")  # the summary first
    assert cli.main(["policy", "dev", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    (v,) = data["violations"]
    assert (v["policy"], v["name"], v["docs"]) == (SPOT_RULE, "pool-train-spot-ng", "README.md#the-rules")
    assert v["fix"] == report_mod.FIX_HINTS[SPOT_RULE] and v["resource"].endswith("::pool-train-spot-ng")
    assert data["summary"] == {"rules": total, "passed": total - 1, "failed": 1, "skipped": 0}


# ---------------------------------------------------------------- suppressions

def test_a_suppressed_violation_is_skipped_with_its_reason(project, capsys):
    set_suppress(project, {SPOT_RULE: REASON})
    assert cli.main(["plan", "dev"]) == 0  # no longer blocks the plan
    out = capsys.readouterr().out
    total = len(pack.POLICIES)
    assert f"Policies (gpufleet pack, {total} rules): {total - 1} passed, 0 failed, 1 skipped" in out
    assert f"SKIPPED {SPOT_RULE}: suppressed in the stack's policy config: {REASON}" in out
    assert "        suppressed: training pool 'train-spot' runs ON_DEMAND in dev" in out  # never silently
    assert cli.main(["policy", "dev", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["violations"] == []
    (skipped,) = data["skipped"]
    assert skipped["policy"] == SPOT_RULE and skipped["reason"].endswith(REASON)
    assert [v["suppressed"] for v in skipped["violations"]] == [REASON]
    assert {r["policy"]: r["status"] for r in data["rules"]}[SPOT_RULE] == "skipped"


def test_the_pack_config_keeps_suppressions_and_makes_them_advisory_for_pulumi(project):
    set_suppress(project, {SPOT_RULE: REASON})
    plan = shipped_plan("dev")
    config = report_mod.pack_config(plan.config, "dev")
    assert config["suppress"] == {SPOT_RULE: REASON}
    assert config[SPOT_RULE]["enforcementLevel"] == "advisory"  # pulumi preview warns, does not block
    assert report_mod.pack_config(plan.config)[SPOT_RULE]["enforcementLevel"] == "mandatory"  # the stack's facts only
    target = report_mod.write_config(plan.config, "dev", project)  # --write-config never drops one
    assert json.loads(target.read_text())["suppress"] == {SPOT_RULE: REASON}


@pytest.mark.parametrize("suppress, fragment", [
    ({"spot-for-training-outside-prd": REASON},
     ("suppress: got 'spot-for-training-outside-prd'; expected the name of a policy of the pack (did you mean "
      f"'{SPOT_RULE}'?)")),
    ({SPOT_RULE: "  "}, f"suppress.{SPOT_RULE}: got '  '; expected a reason: a non-empty string"),
    ({SPOT_RULE: True}, f"suppress.{SPOT_RULE}: got true; expected a reason"),
    # a string from the file shows its first 20 characters at most (issue 18, section 3), the kind of value after
    ([SPOT_RULE], "suppress: got [\"spot-for-training...\"] (a list of 1 item); expected an object"),
])
def test_a_bad_suppression_is_one_line_naming_the_file(project, capsys, suppress, fragment):
    set_suppress(project, suppress)
    assert cli.main(["plan", "dev"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: policies/config/dev.json: ") and fragment in err, err


def test_offline_runner_suppressions_and_disabled_rules():
    recs = foundation()  # a warm inference pool and no cost tool: two violations
    found = offline.evaluate(recs, {})
    assert {v.policy for v in found.violations} == {"gpu-pool-scale-to-zero", "cost-tool-installed"}
    result = offline.evaluate(recs, {"suppress": {"gpu-pool-scale-to-zero": "kept warm for the demo"},
                                     "cost-tool-installed": "disabled"})
    rules = {r.policy: r for r in result.rules}
    assert [v.policy for v in result.violations] == []
    assert rules["gpu-pool-scale-to-zero"].status == "skipped"
    assert [v.suppressed for v in rules["gpu-pool-scale-to-zero"].violations] == ["kept warm for the demo"]
    assert rules["cost-tool-installed"].status == "skipped" and rules["cost-tool-installed"].violations == ()
    assert "disabled" in rules["cost-tool-installed"].reason
    counts = result.counts()
    assert counts["skipped"] == 2 and counts["failed"] == 0 and sum(counts[k] for k in ("passed", "failed", "skipped")) \
        == counts["rules"] == len(pack.POLICIES)
    # run() lists what is in force only (its callers fail on it)
    assert offline.run(recs, {"suppress": {"gpu-pool-scale-to-zero": "warm"}}) == [
        v for v in found.violations if v.policy != "gpu-pool-scale-to-zero"]
