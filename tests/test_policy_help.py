"""``gpufleet policy --help`` lists the keys of the document ``--json`` prints."""

from __future__ import annotations

import json
import re

import pytest

from gpufleet import cli

from .helpers import STACKS


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def option_help(text: str, option: str) -> str:
    """The help of one option, its wrapped lines joined."""
    block = re.search(rf"^\s+{re.escape(option)}\b(.*?)(?=^\s+-|^\S|\Z)", text, re.MULTILINE | re.DOTALL)
    assert block, f"{option} not in the help:\n{text}"
    return " ".join(block.group(1).split())


def test_the_json_keys_the_help_lists_are_the_documents(capsys):
    listed = re.search(r"\{([^{}]*)\}", option_help(help_text(capsys, "policy"), "--json"))
    assert listed, "--json's help lists the document's keys as {key, ...}"
    keys = [k.strip() for k in listed.group(1).split(",")]
    code = cli.main(["policy", STACKS[0], "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code in (0, 1) and isinstance(doc, dict)
    assert keys == list(doc), f"--help says {{{', '.join(keys)}}}; gpufleet policy --json prints {list(doc)}"
