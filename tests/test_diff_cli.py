"""``gpufleet diff``, the replacement guard's command: exit codes and ``--allow-replace``,
the text, Markdown (the PR comment) and JSON outputs (:mod:`gpufleet.diff_report`), plans
named by stack and file name, and bad input as one clear error. The comparison itself:
``test_diff.py``."""
# ruff: noqa: F811  (the pytest fixture imported from test_diff is redefined as a test parameter)

from __future__ import annotations

import json

import pytest

from gpufleet import cli

from .helpers import edit, raw_config, stack_source
from .test_diff import NG, az_moved, doc, pool_path, pools_changed, res  # noqa: F401 (a fixture)


def write(tmp_path, name: str, d: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(d))
    return str(path)


def test_diff_output_never_shows_mock_ids_or_temp_paths(tmp_path, capsys):
    azs, moved, head_plan = az_moved()
    base, head = write(tmp_path, "base-plan.json", doc()), write(tmp_path, "head-plan.json", head_plan)
    outputs = {}
    for fmt in ("text", "markdown", "json"):
        assert cli.main(["diff", base, head, "--format", fmt]) == 1
        outputs[fmt] = capsys.readouterr().out
    for fmt, out in outputs.items():
        assert f"network-private-{azs[-1]}-id" not in out and "-id\"" not in out and "-id`" not in out, fmt
        assert f"<id of network-private-{moved}>" in out, fmt
    assert str(tmp_path) not in outputs["markdown"]  # the PR comment names stacks, not runner paths
    assert "Stack `dev`: the base plan → the head plan" in outputs["markdown"]
    assert outputs["text"].splitlines()[0 if outputs["text"].startswith("gpufleet") else 1] == (
        "gpufleet diff: dev (base-plan.json) -> dev (head-plan.json)")
    md = outputs["markdown"]
    assert f"- `cluster-eks` (aws:eks/cluster:Cluster)\n  - `vpcConfig.subnetIds[{len(azs) - 1}]`: " \
           f"`<id of network-private-{azs[-1]}>` → `<id of network-private-{moved}>`" in md
    assert "why: replace-on-change: subnetIds: now refers to Subnet" in outputs["text"]


def test_cli_exit_codes_and_allow_replace(tmp_path, pools_changed, capsys):
    base, head = write(tmp_path, "base.json", doc()), write(tmp_path, "head.json", pools_changed)
    assert cli.main(["diff", base, head]) == 1
    out = capsys.readouterr().out
    assert "2 to replace" in out and "instanceTypes: " in out and " -> [\"g6.2xlarge\"]" in out
    assert "         why: replace-on-change: instanceTypes cannot be updated in place" in out
    system = res(doc(), NG, "pool-system-ng")["inputs"]["scalingConfig"]["maxSize"]
    assert f"  ~  aws:eks/nodeGroup:NodeGroup pool-system-ng\n       scalingConfig.maxSize: {system} -> {system + 1}\n" in out
    assert "BLOCKED" in out and "allow-replace" in out
    assert cli.main(["diff", base, head, "--allow-replace"]) == 0
    assert "ALLOWED" in capsys.readouterr().out
    assert cli.main(["diff", base, base]) == 0
    assert "OK: nothing is replaced" in capsys.readouterr().out


def test_cli_markdown_and_json(tmp_path, pools_changed, capsys):
    base, head = write(tmp_path, "base.json", doc()), write(tmp_path, "head.json", pools_changed)
    assert cli.main(["diff", base, head, "--format", "markdown"]) == 1
    md = capsys.readouterr().out
    assert md.startswith("### :no_entry: Replacement guard: `dev`")
    assert ("| `pool-train-spot-ng` (aws:eks/nodeGroup:NodeGroup) | `capacityType` | `SPOT` | `ON_DEMAND` | "
            "replace-on-change: capacityType cannot be updated in place;") in md
    system = res(doc(), NG, "pool-system-ng")["inputs"]["scalingConfig"]["maxSize"]
    assert f"- `pool-system-ng` (aws:eks/nodeGroup:NodeGroup)\n  - `scalingConfig.maxSize`: `{system}` → `{system + 1}`" in md
    assert "**`allow-replace`**" in md
    assert cli.main(["diff", base, head, "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["replace"] == 2 and out["blocking"] and not out["allowed"]
    assert {r["name"] for r in out["replacements"]} == {"pool-shared-l4-ng", "pool-train-spot-ng"}
    update = next(u for u in out["updates"] if u["name"] == "pool-system-ng")
    system = res(doc(), NG, "pool-system-ng")["inputs"]["scalingConfig"]["maxSize"]
    assert update["changes"] == [{"path": "scalingConfig.maxSize", "base": system, "head": system + 1}]
    assert (out["base_stack"], out["head_stack"]) == ("dev", "dev")


def test_cli_renders_stack_names_and_files(tmp_path, capsys):
    raw = raw_config("dev")
    edit(raw, f"{pool_path(raw, 'shared-l4')}.instance_types", ["g6.2xlarge"])
    (tmp_path / "Pulumi.dev.yaml").write_text(json.dumps({"config": raw}))  # JSON is YAML
    assert cli.main(["diff", "dev", str(tmp_path / "Pulumi.dev.yaml"), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in out["replacements"]] == ["pool-shared-l4-ng"]


@pytest.mark.parametrize("content, message", [
    (None, "missing.json: (file): got no such file; expected an existing plan file"),
    ("{not json", "missing.json: line 1: got invalid JSON: Expecting property name enclosed in double quotes"),
    ('{"stack": "dev"}', 'missing.json: (file): got {"stack": "dev"}; expected a plan: a JSON object with a "resources" list'),
    ("[1, 2]", 'missing.json: (file): got [1, 2]; expected a plan: a JSON object with a "resources" list'),
    ('{"resources": [{"urn": "urn:pulumi:dev::gpufleet::x::y", "type": "x"}]}',
     # a string from the file shows its first 20 characters at most (issue 18, section 3), the kind of value after
     'missing.json: resources[0]: got {"urn": "urn:pulumi:dev::g...", "type": "x"} (a mapping of 2 keys); '
     'expected a plan\'s resource'),
])
def test_bad_input_is_one_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "missing.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["diff", str(path), "dev"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_unknown_stack_is_one_clear_error(capsys):
    assert cli.main(["diff", "no-such-stack", "dev"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and stack_source("no-such-stack") in err[0]
