"""``gpufleet cost``: table, JSON and Markdown; comparing two configs; bad stack files exit 2."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from gpufleet import cli
from gpufleet.modules import catalog

from .helpers import edit, raw_config, stack_source

P = catalog.on_demand_prices()["prices"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["cost", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def bigger_dev(tmp_path_factory):
    """dev with the L4 pool allowed 4 nodes and busier: a PR that adds cost."""
    raw = edit(raw_config("dev"), "gpufleet:pools.gpu[0].max", 4)
    edit(raw, "gpufleet:cost.busy.shared-l4", {"hours": 160, "nodes": 1})
    edit(raw, "gpufleet:cost.budget_usd", 9500)  # every pool at max, spot 30 % off: $9,257
    path = tmp_path_factory.mktemp("stacks") / "Pulumi.dev-bigger.yaml"
    path.write_text(yaml.safe_dump({"config": raw}, sort_keys=False))
    return path


@pytest.mark.on_data_day
def test_json_breakdown(capsys):
    code, out, _ = run(capsys, "dev", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["stack"] == "dev" and doc["currency"] == "USD"
    for k in ("idle", "expected", "max", "max_within_schedule"):
        assert sum(i[k] for i in doc["items"]) == pytest.approx(doc["monthly"][k], abs=0.005)
    assert doc["monthly"]["idle"] <= 150
    assert doc["prices"]["region"] == "us-east-1" and doc["prices"]["date"]
    assert any("spot priced at 60% off on-demand" in n for n in doc["notes"])


def test_table_and_markdown(capsys):
    code, table, _ = run(capsys, "dev")
    assert code == 0
    lines = table.splitlines()
    assert lines[0].startswith("project gpufleet (")  # the project it acts on, first
    lines = lines[1:]
    assert lines[0].startswith("cost: stack dev, USD per month (730 h); prices us-east-1 as of ")
    assert lines[1].split() == ["item", "category", "prices", "idle", "expected", "max", "max_within_schedule"]
    total = next(line for line in lines if line.startswith("total per month"))
    assert "$" in total
    assert any(line.startswith("max: the ceiling: every node pool at its max size for 730 h") for line in lines)
    code, md, _ = run(capsys, "dev", "--format", "markdown")
    assert md.startswith("### gpufleet cost: stack `dev`")
    assert "| **monthly total** |" in md
    assert "| item | category | prices | idle | expected | max | max_within_schedule | basis (expected) |" in md
    assert "<details>" in md and "Prices:" in md


def test_compare_shows_the_change_a_pr_makes(capsys, bigger_dev):
    code, out, _ = run(capsys, str(bigger_dev), "--compare", "dev", "--format", "json")
    diff = json.loads(out)
    assert code == 0
    # two more g6.xlarge at max, all month, with their 100 GB roots
    more_max = 2 * (P["g6.xlarge"] * 730 + 100 * 0.08)
    assert diff["change"]["max"] == pytest.approx(more_max, abs=0.02)
    # within dev's schedule (08:00-20:00 on weekdays: 261 h a month) they run 261 h
    assert diff["change"]["max_within_schedule"] == pytest.approx(2 * 261 * (P["g6.xlarge"] + 100 * 0.08 / 730), abs=0.02)
    # 80 more busy hours of one node
    assert diff["change"]["expected"] == pytest.approx(80 * (P["g6.xlarge"] + 100 * 0.08 / 730), abs=0.02)
    assert diff["change"]["idle"] == 0
    changed = {i["resource"]: i for i in diff["items"]}
    assert set(changed) == {"pool-shared-l4-ng", "pool-shared-l4-lt"}
    assert changed["pool-shared-l4-ng"]["status"] == "changed"
    assert "0..2" in changed["pool-shared-l4-ng"]["was"] and "0..4" in changed["pool-shared-l4-ng"]["name"]
    for k in ("idle", "expected", "max", "max_within_schedule"):
        assert diff["after"][k] - diff["before"][k] == pytest.approx(diff["change"][k], abs=0.01)


def test_compare_markdown_is_a_pr_comment(capsys, bigger_dev):
    code, md, _ = run(capsys, str(bigger_dev), "--compare", "dev", "--format", "markdown")
    assert code == 0
    assert md.startswith("### gpufleet cost: `dev` → `dev-bigger`")
    assert re.search(r"This change \*\*increases\*\* the expected monthly cost by \*\*\$[\d,.]+\*\* \(\d+%\)\.", md)
    assert "| before |" in md and "| after |" in md and "| **change** |" in md
    assert "2 changed line item(s)" in md and "GPU pool shared-l4: 0..4 × g6.xlarge" in md


def test_compare_the_same_stack_before_and_after(capsys, tmp_path):
    base = tmp_path / "Pulumi.dev.yaml"
    base.write_text(yaml.safe_dump({"config": raw_config("dev")}))
    code, md, _ = run(capsys, "dev", "--compare", str(base), "--format", "markdown")
    assert code == 0 and md.startswith("### gpufleet cost: `dev (base)` → `dev (this change)`")
    assert "This change **keeps** the expected monthly cost at **$" in md and "no line item" not in md


def test_bad_stack_file_exits_2(capsys, tmp_path):
    raw = edit(raw_config("dev"), "gpufleet:cost.emails", ["nobody"])
    path = tmp_path / "Pulumi.dev-bad.yaml"
    path.write_text(yaml.safe_dump({"config": raw}))
    code, out, err = run(capsys, str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}: gpufleet:cost.emails[0]: got 'nobody'; expected an e-mail address")
    code, _, err = run(capsys, "nosuchstack")
    assert code == 2 and stack_source("nosuchstack") in err


def test_live_prices_without_credentials_is_one_line_and_exit_3(capsys, monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = run(capsys, "dev", "--spot-history")
    assert code == 3 and out == ""  # an external service failed (exit_codes.EXTERNAL), not a policy verdict
    assert err.startswith("error: cannot get live prices for us-east-1: ") and "Traceback" not in err
