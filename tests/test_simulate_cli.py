"""``gpufleet simulate``: the command, ``--set`` edits, exit codes and one-line errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet import config_set, simulate_stack
from gpufleet.cli import main
from gpufleet.exit_codes import BadInputError

from .helpers import raw_config
from .simulate_support import TRACES, plan

NATIVE = str(TRACES / "sample_native.csv")
SAMPLE = str(TRACES / "openb_pod_list_sample.csv")


@pytest.fixture
def shipped(monkeypatch):
    """Shipped stacks rendered once per session (the command renders on every call); a
    variant (``--set``) is rendered for real."""
    real = simulate_stack.render
    monkeypatch.setattr(simulate_stack, "render",
                        lambda loaded: plan(loaded.stack) if loaded.name == loaded.stack else real(loaded))


def test_set_runs_the_trace_on_the_edited_stack_side_by_side(shipped, capsys):
    code = main(["simulate", "dev", "--trace", NATIVE, "--set", "pools.gpu[shared-l4].replicas=8", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["base"]["stack"] == "dev" and out["variant"]["stack"] == "dev + pools.gpu[shared-l4].replicas=8"
    assert {r["figure"] for r in out["comparison"]["rows"]} >= {"jobs completed", "shared-l4: allocation ratio",
                                                                "cost per month"}
    by = {e["job"]: e["reason"] for e in out["base"]["never_runs"]}
    assert by["too-big"].startswith("largest node has 4 GPUs")
    assert out["base"]["outcomes"]["completed"] == 4


def test_the_table_names_teams_pools_cost_and_never_runs(shipped, capsys):
    assert main(["simulate", "dev", "--trace", NATIVE]) == 0
    out = capsys.readouterr().out
    for text in ("teams", "pools", "wait p95", "GPU-h provisioned", "the static estimate's expected: $",
                 "1 jobs never run", "largest node has 4 GPUs"):
        assert text in out, text


def test_markdown_compare_and_the_alibaba_format_is_detected(shipped, capsys):
    args = ["simulate", "dev", "--trace", SAMPLE, "--compare", "staging", "--format", "markdown", "--seed", "3"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("## gpufleet simulate: dev vs staging")
    assert "(alibaba, " in first and "| team |" in first
    assert main(args) == 0
    assert capsys.readouterr().out == first  # same trace, config and seed: same output


@pytest.mark.parametrize("args,expected", [
    (["--set", "pools.gpu[nope].max=1"], "--set gpufleet:pools.gpu[nope].max: no item named 'nope'"),
    (["--set", "pools.gpu[0].max=0"], "with --set pools.gpu[0].max=0: gpufleet:pools.gpu[0].max: got 0"),
    (["--set", "pools.gpu"], "--set 'pools.gpu': expected key.path=value"),
    (["--set", "tags.team={a: 1, a: 2}"], "got duplicate key 'a'"),
    (["--trace-format", "native", "--time-scale", "0"], "--time-scale: got 0; expected a factor > 0"),
    (["--ready-minutes", "gpu=3"], "--ready-minutes: got 'gpu'; expected a GPU pool of dev"),
    (["--team-map", "LS"], "--team-map: got 'LS'; expected KEY=VALUE pairs"),
    (["--start", "monday"], "--start: got 'monday'; expected a local date and time"),
])
def test_bad_options_are_one_line_and_exit_2_before_anything_is_rendered(capsys, args, expected):
    assert main(["simulate", "dev", "--trace", NATIVE, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err


def test_a_missing_or_bad_trace_is_exit_2(tmp_path, capsys):
    assert main(["simulate", "dev", "--trace", str(tmp_path / "none.csv")]) == 2
    assert "got no such file; expected an existing trace file" in capsys.readouterr().err
    assert main(["simulate", "dev", "--trace", str(tmp_path)]) == 2
    assert "got a directory" in capsys.readouterr().err
    latin = tmp_path / "latin.csv"
    latin.write_bytes("submit,run,team,gpus\n0,60,\xe9quipe,1\n".encode("latin-1"))
    assert main(["simulate", "dev", "--trace", str(latin)]) == 2
    assert "got a byte that is not UTF-8 (0xe9)" in capsys.readouterr().err
    huge = tmp_path / "huge.csv"
    huge.write_text("submit,run,team,gpus\n0,60," + "x" * 200_000 + ",1\n")
    assert main(["simulate", "dev", "--trace", str(huge)]) == 2
    assert "line 2: got 'field larger than field limit (131072)'" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("submit,run,team,gpus\n0,60,research,lots\n")
    assert main(["simulate", "dev", "--trace", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}: line 2: gpus: got 'lots'; expected GPUs per pod: a whole number, or a fraction below 1\n"


def test_compare_and_set_are_exclusive(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "dev", "--trace", NATIVE, "--compare", "prod", "--set", "pools.gpu[0].max=1"])
    assert info.value.code == 2


# ---------------------------------------------------------------- --set paths

def test_set_paths_by_index_by_name_and_creating_mappings():
    raw = raw_config("dev")
    out = config_set.apply(raw, ["pools.gpu[shared-l4].replicas=8", "gpufleet:pools.gpu[1].max=3",
                                 "ml.kueue.flavor_order=[shared-l4]", "cost.schedule.pools.shared-l4.exempt=true"])
    gpu = out["gpufleet:pools"]["gpu"]
    assert gpu[0]["replicas"] == 8 and gpu[1]["max"] == 3
    assert out["gpufleet:ml"]["kueue"]["flavor_order"] == ["shared-l4"]
    assert out["gpufleet:cost"]["schedule"]["pools"] == {"shared-l4": {"exempt": True}}
    assert raw == raw_config("dev")  # the input is not changed


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["shared-l4", "train-spot"]), st.integers(1, 50))
def test_an_element_by_name_is_the_element_at_its_index(name, value):
    raw = raw_config("dev")
    index = [p["name"] for p in raw["gpufleet:pools"]["gpu"]].index(name)
    assert config_set.apply(raw, [f"pools.gpu[{name}].max={value}"]) == \
           config_set.apply(raw, [f"pools.gpu[{index}].max={value}"])


def test_a_path_through_a_value_or_past_a_list_is_bad_input():
    with pytest.raises(BadInputError) as info:
        config_set.apply(raw_config("dev"), ["environment.name=x"])
    assert "environment is a value ('dev'), not a mapping or list" in str(info.value)
    with pytest.raises(BadInputError) as info:
        config_set.apply(raw_config("dev"), ["pools.gpu[5].labels.team=x"])
    assert "no index 5" in str(info.value)
