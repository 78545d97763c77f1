"""``gpufleet plan`` for every shipped stack: text and JSON."""

from __future__ import annotations

import json
import re

import pytest

from gpufleet import cli

from .helpers import STACKS, stack_source


@pytest.mark.parametrize("stack", STACKS)
def test_plan_json_document(stack, capsys):
    code = cli.main(["plan", stack, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["project"] == "gpufleet" and doc["stack"] == stack
    assert {"resources", "outputs"} <= set(doc)
    for r in doc["resources"]:
        assert set(r) == {"urn", "type", "name", "parent", "inputs", "options"}
        assert {"protect", "ignore_changes", "depends_on", "provider"} <= set(r["options"])
    ng = next(r for r in doc["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup")
    assert "scalingConfig" in ng["inputs"] and "instanceTypes" in ng["inputs"]  # wire names
    assert doc["outputs"]["kubeconfig"] == "[secret]"
    assert len({r["urn"] for r in doc["resources"]}) == len(doc["resources"])


def test_plan_text_tree_shows_pools(capsys):
    assert cli.main(["plan", "prod", "--tree"]) == 0  # the tree is printed on request (summary first)
    out = capsys.readouterr().out
    assert re.search(r"pool-mig-a100-ng\s+aws:eks/nodeGroup:NodeGroup\s+\[ON_DEMAND p4d.24xlarge 0..2 nodes", out)
    assert "mig all-1g.5gb" in out and "nvidia.com/mig-1g.5gb=56" in out
    assert "└─" in out


def test_plan_accepts_a_path(capsys):
    assert cli.main(["plan", stack_source("dev"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stack"] == "dev"
