"""Issue 18, section 2.3: a stack file gets one reading everywhere. YAML merge keys do not:
``<<: [{max: 400}, {max: 2}]`` is 2 to PyYAML (plan, check, cost, policy, diff, preflight,
simulate) and 400 to ruamel (replicate, init and ``--set`` edit stack files with it, and YAML
1.1 says the first mapping wins), so a stack planned at 2 system nodes replicated at 400. Merge
keys are refused in stack files by both readers, with one line (file, line, column, "merge keys
are not allowed"); other user files keep them (one reader each).

And a YAML parse error never echoes the file's content: file, line, column and the kind of
problem only (PyYAML's pure-Python parser quoted what it found: a tag handle, a character)."""
# ruff: noqa: F811  (the pytest fixture imported from hostile_support is redefined as a test parameter)

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.modules import config as stack_config
from gpufleet.modules.config import ConfigError
from gpufleet.replicate_yaml import load_document


from .hostile_support import loader, never_render  # noqa: F401 (fixtures)
from .hostile_support import run
from .helpers import ROOT, stack_path

DEV = stack_path("dev").read_text()
SYSTEM_SIZES = "      min: 2\n      max: 4\n"
MERGED = DEV.replace(SYSTEM_SIZES, "      min: 2\n      <<: [{max: 400}, {max: 2}]\n", 1)
LINE = DEV[: DEV.index(SYSTEM_SIZES)].count("\n") + 2  # the line of `<<`
TRACE = ROOT / "tests" / "data" / "traces" / "sample_native.csv"
RULE = "merge keys are not allowed in a stack file"


def expected(path: Path, line: int = LINE, column: int = 7, where: str = "gpufleet:pools.system") -> str:
    return (f"{path}: line {line}: got a YAML merge key (<<) at {where} (column {column}); expected each key "
            f"written out: {RULE} (YAML readers disagree on which merged value wins: PyYAML, ruamel and Pulumi "
            f"could each read another size)")


@pytest.fixture
def merged(tmp_path) -> Path:
    assert MERGED != DEV
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(MERGED)
    return path


def commands(path: Path) -> dict[str, list[str]]:
    """Every command that reads a stack file (``--set``: replicate's and simulate's config edits)."""
    replicate = ["replicate", "dev", "dev-west", "--region", "us-west-2", "--offline", "--stacks-dir", str(path.parent)]
    return {
        "plan": ["plan", str(path)],
        "cost": ["cost", str(path)],
        "policy": ["policy", str(path)],
        "diff": ["diff", str(path), "dev"],
        "preflight": ["preflight", str(path)],
        "replicate": replicate,
        "replicate --set": [*replicate, "--set", "pools.system.max=3"],
        "simulate": ["simulate", str(path), "--trace", str(TRACE)],
        "simulate --set": ["simulate", str(path), "--trace", str(TRACE), "--set", "pools.system.max=3"],
    }


# ---------------------------------------------------------------- one answer, every reader

def test_both_readers_refuse_the_same_merge_key_with_the_same_line(merged, loader):
    with pytest.raises(ConfigError) as pyyaml:
        stack_config.from_file(merged, str(merged))
    with pytest.raises(ConfigError) as ruamel:
        load_document(stack_config.read_text_file(merged, "stack file", shown=str(merged)))
    assert str(pyyaml.value) == str(ruamel.value) == expected(merged)


@pytest.mark.parametrize("command", list(commands(Path("x"))))
def test_every_command_gives_the_same_one_line(command, merged, capsys, never_render):
    code, out, err, _ = run(capsys, *commands(merged)[command])
    assert (code, out, err) == (2, "", f"error: {expected(merged)}\n"), command
    assert not (merged.parent / "Pulumi.dev-west.yaml").exists()


def test_check_reports_the_same_line(merged, capsys):
    code, out, err, _ = run(capsys, "check", str(merged))
    assert code == 2 and f"ERROR   config: {expected(merged)}" in out, out + err


@pytest.mark.parametrize("text, column, where", [
    # a merge in a list item (a pool)
    (DEV.replace("      - name: shared-l4\n", "      - name: shared-l4\n        <<: {max: 3}\n", 1), 9,
     "gpufleet:pools.gpu[0]"),
    # a merge at the top of the config
    (DEV.replace("config:\n", "config:\n  <<: {gpufleet:environment: dev}\n", 1), 3, "config"),
])
def test_every_form_of_merge_key_is_refused(text, column, where, tmp_path, loader):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith("<<"))
    want = expected(path, line, column, where)
    with pytest.raises(ConfigError) as pyyaml:
        stack_config.read_stack_file(path, str(path))
    with pytest.raises(ConfigError) as ruamel:
        load_document(stack_config.read_text_file(path, "stack file", shown=str(path)))
    assert str(pyyaml.value) == str(ruamel.value) == want


def test_an_alias_merge_is_refused_and_plain_aliases_and_the_string_stay(tmp_path, loader):
    path = tmp_path / "Pulumi.dev.yaml"
    tags = DEV.replace("  gpufleet:tags:\n", "  gpufleet:tags: &tags\n", 1)
    path.write_text(tags.replace("  gpufleet:network:\n", "  gpufleet:old_tags:\n    <<: *tags\n  gpufleet:network:\n", 1))
    with pytest.raises(ConfigError, match=RULE):
        stack_config.read_stack_file(path, str(path))
    with pytest.raises(ConfigError, match=RULE):
        load_document(stack_config.read_text_file(path, "stack file", shown=str(path)))
    # '<<' quoted is a key like any other (the string), and a plain alias is one value
    quoted = DEV.replace("    team: ml-platform\n", "    team: ml-platform\n    '<<': x\n", 1)
    doc = stack_config.parse_yaml(quoted, "s.yaml", "stack file", key_root="config")
    assert doc["config"]["gpufleet:tags"]["<<"] == "x" and load_document(quoted)["config"]["gpufleet:tags"]["<<"] == "x"


def test_other_user_files_keep_merge_keys():
    doc = stack_config.parse_yaml("base: &b {a: 1}\nover: {<<: *b, b: 2}\n", "fleet.yaml", "fleet file")
    assert doc["over"] == {"a": 1, "b": 2}


# ---------------------------------------------------------------- parse errors echo no content

SECRET = "ghp_s3cr3tT0k3n"


@pytest.mark.parametrize("text, kind", [
    (f"config:\n  gpufleet:tags: !{SECRET}!x v\n", "found undefined tag handle (column 18)"),
    (f'config:\n  gpufleet:tags: "{SECRET}\\q"\n', "found unknown escape character"),
    (f'config:\n  gpufleet:tags: "\\x9Z{SECRET}"\n', "hex"),
    (f"config:\n  gpufleet:tags: [{SECRET}\n  x: }}\n", "line 3: got invalid YAML: "),
])
def test_a_parse_error_shows_where_and_what_never_the_text(text, kind, tmp_path, capsys, loader):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    for command in (["plan", str(path)], ["check", str(path)], ["check", str(path), "--format", "json"]):
        code, out, err, _ = run(capsys, *command)
        assert code == 2 and SECRET not in out + err, (command, out, err)
        assert f"{path}: line " in out + err and "(column " in out + err and kind in out + err, (command, out, err)
    with pytest.raises(ConfigError) as ruamel:  # ruamel, too, tells the kind of problem only
        load_document(text, str(path))
    assert SECRET not in str(ruamel.value) and str(ruamel.value).startswith(f"{path}: line "), str(ruamel.value)


def test_ruamel_duplicate_keys_do_not_quote_the_values():
    with pytest.raises(ConfigError) as info:
        load_document(f"config:\n  k: {SECRET}\n  k: other\n", "s.yaml")
    assert str(info.value) == ('s.yaml: line 3: got invalid YAML: found duplicate key "k" (column 3); '
                               "expected valid YAML")
