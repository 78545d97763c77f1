"""Issue #18, section 4: multi-model ``gpu_spec`` values are "any of these", and an unknown
GPU model is a warning counted in the report (text and JSON), never silently "any GPU"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gpufleet.modules.simulate import alibaba, render, report
from gpufleet.modules.simulate.shapes import analyse
from gpufleet.modules.simulate.trace import TraceError, read_native

from gpufleet.cli import main

from .simulate_support import jobs, platform, run, shipped  # noqa: F401 (fixture)
from .test_simulate_hostile import ALIBABA_HEADER, NATIVE

# ---------------------------------------------------------------- multi-model and unknown models

def _alibaba(tmp_path: Path, *rows: tuple[str, str]) -> Path:
    """A pod list with one 1-GPU BE pod per (name, gpu_spec)."""
    path = tmp_path / "pods.csv"
    path.write_text(f"{ALIBABA_HEADER}\n" + "".join(f"{name},1000,1024,1,1000,{spec},BE,Running,0,600,0\n"
                                                     for name, spec in rows))
    return path


def test_a_multi_model_gpu_spec_is_any_of_these(tmp_path):
    path = _alibaba(tmp_path, ("v100", "V100M16|V100M32"), ("either", "T4|A10"), ("or-any", "T4|P100"))
    trace = alibaba.read(path, teams=["research"])
    by = {j.name: j.shape.gpu_model for j in trace.jobs}
    # both V100s are the catalog's v100-32gb; T4|A10 is either model; P100 is any GPU, so T4|P100 is any
    assert by == {"v100": "v100-32gb", "either": "a10g-24gb|t4-16gb", "or-any": None}
    assert trace.warnings == []


def test_a_job_of_several_models_may_run_on_a_node_of_either():
    plat = platform("prod")
    by_team = {q.team: q for q in plat.queues.values()}

    def pools(model: str) -> list[str]:
        shape = jobs({"submit": 0, "run": 60, "team": "applied", "gpus": 0.1, "gpu_model": model, "cpu": 1,
                      "memory_gib": 2}).jobs[0].shape
        return [plat.pools[i].name for i in analyse(shape, plat, by_team).pools]

    assert pools("a100-40gb") == ["mig-a100"] and pools("l40s-48gb") == ["infer-l40s"]
    assert pools("a100-40gb|l40s-48gb") == ["mig-a100", "infer-l40s"]
    many = jobs(*({"name": f"j{i}", "submit": 0, "run": 3600, "team": "applied", "gpus": 0.1,
                   "gpu_model": "l40s-48gb|a100-40gb", "cpu": 1, "memory_gib": 2} for i in range(300)))
    doc = report.summarize(run(plat, many, audit=False))
    assert doc["outcomes"]["completed"] == 300
    used = {p for p, v in doc["pools"].items() if v["gpu_hours"]["allocated"] > 0}
    assert used == {"mig-a100", "infer-l40s"}  # the MIG slices first (the queue's order), then the L40S nodes


def test_a_job_of_models_no_pool_has_never_runs_naming_them():
    plat = platform("prod")
    result = run(plat, jobs({"name": "old", "submit": 0, "run": 60, "team": "applied", "gpus": 1,
                             "gpu_model": "t4-16gb|a10g-24gb"}), audit=False)
    reason = result.jobs[0].reason
    assert "infer-l40s: node affinity gpufleet.io/gpu in (a10g-24gb, t4-16gb): the pool's nodes are l40s-48gb" in reason


def test_an_unknown_gpu_model_runs_on_any_gpu_with_a_counted_warning_in_text_and_json(tmp_path):
    path = _alibaba(tmp_path, ("x1", "X9"), ("x2", "X9"), ("x3", "X9"), ("mixed", "V100M32|X9"), ("known", "T4"))
    trace = alibaba.read(path, teams=["research", "applied"])
    by = {j.name: j.shape.gpu_model for j in trace.jobs}
    assert by == {"x1": None, "x2": None, "x3": None, "mixed": "v100-32gb", "known": "t4-16gb"}
    messages = [w["message"] for w in trace.warnings]
    assert messages == ["3 jobs asked for an unknown GPU model X9: run on any GPU (--gpu-map X9=MODEL maps it)",
                        "1 jobs asked for an unknown GPU model X9 (gpu_spec V100M32|X9): run on v100-32gb "
                        "(--gpu-map X9=MODEL maps it)"]
    assert trace.warnings[0] | {"message": None} == {"kind": "unknown_gpu_model", "value": "X9", "jobs": 3,
                                                     "runs_on": "any", "message": None}
    doc = report.summarize(run(platform("dev"), trace, audit=False))
    assert json.loads(render.to_json(doc))["warnings"] == trace.warnings
    assert "warning: 3 jobs asked for an unknown GPU model X9: run on any GPU" in render.text(doc)
    assert "warning: 3 jobs asked for an unknown GPU model X9" in render.text(doc, markdown=True)
    mapped = alibaba.read(path, teams=["research"], gpu_map={"X9": "l4-24gb"})
    assert mapped.warnings == []
    assert {j.name: j.shape.gpu_model for j in mapped.jobs} == {"x1": "l4-24gb", "x2": "l4-24gb", "x3": "l4-24gb",
                                                                "mixed": "l4-24gb|v100-32gb", "known": "t4-16gb"}


def test_the_cli_report_counts_the_unknown_model_warning(tmp_path, shipped, capsys):
    path = _alibaba(tmp_path, ("x1", "X9"), ("x2", "X9"), ("x3", "X9"))
    assert main(["simulate", "dev", "--trace", str(path)]) == 0
    assert "warning: 3 jobs asked for an unknown GPU model X9: run on any GPU" in capsys.readouterr().out
    assert main(["simulate", "dev", "--trace", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(w["value"], w["jobs"]) for w in doc["warnings"]] == [("X9", 3)]


def test_a_native_gpu_model_may_name_several_and_each_must_be_known(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(f"{NATIVE},gpu_model\na,0,60,research,1,l40s-48gb|a100-40gb\nb,0,60,research,1,a100-40gb|any\n")
    assert [j.shape.gpu_model for j in read_native(path).jobs] == ["a100-40gb|l40s-48gb", None]
    path.write_text(f"{NATIVE},gpu_model\na,0,60,research,1,a100-40gb|h800\n")
    with pytest.raises(TraceError, match="line 2: gpu_model: got 'a100-40gb|h800'; expected a catalog GPU model"):
        read_native(path)
