"""Issue 18, section 3: an error about a trace file (:class:`~modules.simulate.trace.TraceError`)
shows at most an excerpt of what the file gave: 20 characters, "..." included, and the kind of
value when cut (:mod:`modules.shown_values`, as a stack file's values are shown), never 80. A
trace may be a symlink to a token file, and the message goes to CI logs."""

from __future__ import annotations

import json

import pytest

from gpufleet import simulate_stack
from gpufleet.cli import main
from gpufleet.modules.shown_values import EXCERPT
from gpufleet.modules.simulate import alibaba
from gpufleet.modules.simulate.trace import TraceError, from_rows, read_native

from .simulate_support import plan
from .test_no_file_content_in_errors import TOKEN, leaked

NATIVE = "name,submit,run,team,gpus"
POD_HEADER = ",".join(alibaba.COLUMNS)
EXCERPTED = f"'{TOKEN[:EXCERPT - 3]}...'"
KIND = "(a string of 40 characters)"

#: (id, file name, content, what the message shows of the token: the excerpt and its kind)
NATIVE_CASES = [
    ("team", "t.csv", f"{NATIVE}\na,0,60,{TOKEN},1\n", f"line 2: team: got {EXCERPTED} {KIND}; expected a team of"),
    ("gpus", "t.csv", f"{NATIVE}\na,0,60,research,{TOKEN}\n", f"line 2: gpus: got {EXCERPTED} {KIND}; expected GPUs"),
    ("submit", "t.csv", f"{NATIVE}\na,{TOKEN},60,research,1\n", f"line 2: submit: got {EXCERPTED} {KIND}"),
    ("kind", "t.csv", f"{NATIVE},kind\na,0,60,research,1,{TOKEN}\n", f"line 2: kind: got {EXCERPTED} {KIND}"),
    ("priority", "t.csv", f"{NATIVE},priority\na,0,60,research,1,{TOKEN}\n", f"line 2: priority: got {EXCERPTED}"),
    ("gpu-model", "t.csv", f"{NATIVE},gpu_model\na,0,60,research,1,{TOKEN}\n", f"line 2: gpu_model: got {EXCERPTED}"),
    ("header-column", "t.csv", f"{NATIVE},{TOKEN}\na,0,60,research,1,x\n", f"line 1: got {EXCERPTED} {KIND}"),
    ("row-width", "t.csv", f"{NATIVE}\na,0,60,research,1,{TOKEN}\n", "line 2: got 'a,0,60,research,1...' (a string of 58"),
    ("jsonl-key", "t.jsonl", json.dumps({"submit": 0, "run": 60, "team": "research", "gpus": 1, TOKEN: 1}) + "\n",
     f"line 1: {EXCERPTED} {KIND}: got '1'; expected a key of the native format"),
    ("jsonl-team-object", "t.jsonl", json.dumps({"submit": 0, "run": 60, "team": {"t": TOKEN}, "gpus": 1}) + "\n",
     "line 1: team: got '{\"t\": \"ghp_A1b2C3...' (a mapping of 1 key)"),
    ("jsonl-line", "t.jsonl", f'{{"team": "{TOKEN}", \n', "line 1: got '{\"team\": \"ghp_A1b...' (a string of 52"),
]
POD_CASES = [
    ("pod-num-gpu", f"{POD_HEADER}\np,1000,1024,{TOKEN},1000,T4,BE,Running,0,600,0\n",
     f"line 2: num_gpu: got {EXCERPTED} {KIND}"),
    ("pod-column", f"{POD_HEADER},{TOKEN}\np,1000,1024,1,1000,T4,BE,Running,0,600,0,x\n", f"line 1: got {EXCERPTED}"),
    ("node-list", f"sn,cpu_milli,{TOKEN}\nn,1,2\n", "node list (sn,cpu_milli,ghp_A1b2C3d4E5f6G...)"),
]


@pytest.mark.parametrize("case, name, content, said", NATIVE_CASES, ids=[c[0] for c in NATIVE_CASES])
def test_a_native_trace_error_shows_an_excerpt_of_the_field(tmp_path, case, name, content, said):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TraceError) as info:
        read_native(path, "TRACE", teams=["research", "applied"], stack="stack dev")
    message = str(info.value)
    assert message.startswith("TRACE: ") and "\n" not in message, message
    assert said in message and not leaked(message), message


@pytest.mark.parametrize("case, content, said", POD_CASES, ids=[c[0] for c in POD_CASES])
def test_an_alibaba_trace_error_shows_an_excerpt_of_the_field(tmp_path, case, content, said):
    path = tmp_path / "pods.csv"
    path.write_text(content)
    with pytest.raises(TraceError) as info:
        alibaba.read(path, "TRACE", teams=["research"])
    assert said in str(info.value) and not leaked(str(info.value)), str(info.value)


def test_an_unknown_team_hint_names_only_an_excerpt(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(f"{NATIVE}\na,0,60,{TOKEN},1\n")
    with pytest.raises(TraceError) as info:
        read_native(path, "TRACE", teams=["research"], stack="stack dev")
    assert f"--team-map {TOKEN[:EXCERPT - 3]}...=TEAM" in str(info.value) and not leaked(str(info.value))


def test_rows_with_an_unknown_key_show_an_excerpt():
    with pytest.raises(TraceError) as info:
        from_rows([{"submit": 0, "run": 60, "team": "research", "gpus": 1, TOKEN: TOKEN}])
    assert str(info.value).startswith(f"rows: row 1: {EXCERPTED} {KIND}: got {EXCERPTED} {KIND}; expected a native column")


def test_short_values_and_options_are_shown_whole(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(f"{NATIVE}\na,0,60,research,lots\n")
    with pytest.raises(TraceError, match="line 2: gpus: got 'lots'; expected GPUs per pod"):
        read_native(path, "TRACE")
    model = "h800-a-long-gpu-model-name"  # a command-line value, not file content: shown whole
    with pytest.raises(TraceError, match=f"--gpu-map: got 'G2={model}'; expected SPEC=MODEL"):
        alibaba.check_gpu_map({"G2": model})


def test_the_command_prints_only_the_excerpt(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(simulate_stack, "render", lambda loaded: plan(loaded.stack))
    path = tmp_path / "t.csv"
    path.write_text(f"{NATIVE}\na,0,60,{TOKEN},1\n")
    assert main(["simulate", "dev", "--trace", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and f"team: got {EXCERPTED} {KIND}" in err and not leaked(out + err), err
