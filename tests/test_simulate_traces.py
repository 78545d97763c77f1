"""gpufleet simulate: the two trace formats, the real Alibaba pod list, and the cost model's
``busy`` section replayed as a trace (the simulated cost reconciles with ``expected``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpufleet.modules.simulate import alibaba, busy, report
from gpufleet.modules.simulate.trace import TraceError, read_native

from .simulate_support import ALIBABA, HOUR, TRACES, jobs, platform, run

MONTH = 730 * HOUR


def test_native_csv_and_jsonl_read_the_same_jobs():
    csv_trace = read_native(TRACES / "sample_native.csv")
    jsonl_trace = read_native(TRACES / "sample_native.jsonl")
    assert [j.shape.key for j in csv_trace.jobs] == [j.shape.key for j in jsonl_trace.jobs]
    assert [(j.label, j.submit, j.run, j.checkpoint) for j in csv_trace.jobs] == \
           [(j.label, j.submit, j.run, j.checkpoint) for j in jsonl_trace.jobs]
    by = {j.label: j for j in csv_trace.jobs}
    assert by["notebook-1"].shape.gpus == 0.25 and by["notebook-1"].checkpoint == 0
    assert by["serve-1"].shape.service and by["serve-1"].checkpoint is None
    assert by["ddp-1"].shape.pods == 2 and by["ddp-1"].checkpoint == 3600
    assert by["finetune-1"].shape.gpu_model == "l4-24gb"


@pytest.mark.parametrize("text,where,expected", [
    ("submit,run,team\n0,60,a\n", "line 1", "the required columns"),
    ("submit,run,team,gpus,colour\n0,60,a,1,red\n", "line 1", "a column of the native format"),
    ("submit,run,team,gpus\nsoon,60,a,1\n", "line 2: submit", "seconds from the trace start"),
    ("submit,run,team,gpus\n0,0,a,1\n", "line 2: run", "seconds of work (a number > 0)"),
    ("submit,run,team,gpus\n0,60,a,1.5\n", "line 2: gpus", "a whole number, or a fraction below 1"),
    ("submit,run,team,gpus,priority\n0,60,a,1,urgent\n", "line 2: priority", "inference, training, experiments"),
    ("submit,run,team,gpus,gpu_model\n0,60,a,1,h800\n", "line 2: gpu_model", "a catalog GPU model"),
    ("submit,run,team,gpus\n0,60,a\n", "line 2", "4 comma-separated values"),
])
def test_a_bad_native_trace_is_one_line_naming_the_line_and_column(tmp_path: Path, text, where, expected):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(TraceError) as info:
        read_native(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {where}: got ") and expected in message and "\n" not in message


def test_the_alibaba_fields_map_as_documented():
    trace = alibaba.read(TRACES / "openb_pod_list_sample.csv", teams=["research", "applied"],
                         team_map={"LS": "applied", "*": "research"}, time_scale=0.5)
    rows = {r[0]: r for r in (line.split(",") for line in (TRACES / "openb_pod_list_sample.csv").read_text().split()[1:])}
    for job in trace.jobs:
        name, cpu, mem, num_gpu, milli, _spec, qos, _phase, created, deleted, scheduled = rows[job.name]
        assert job.submit == float(created) * 0.5
        assert job.run == max(float(deleted) - float(scheduled or created), 1.0)
        assert job.shape.gpus == (int(milli) / 1000 if num_gpu == "1" and int(milli) < 1000 else int(num_gpu))
        assert job.shape.cpu == int(cpu) / 1000 and job.shape.memory_gib == int(mem) / 1024
        assert job.shape.priority == {"LS": "inference", "BE": "experiments"}.get(qos, "training")
        assert job.shape.service == (qos == "LS") and job.shape.team == ("applied" if qos == "LS" else "research")
    assert {n for n, _ in trace.skipped} == {n for n, r in rows.items() if r[3] == "0"}


def test_the_real_alibaba_pod_list_replays_and_every_gpu_pod_is_accounted_for():
    trace = alibaba.read(ALIBABA, teams=["research", "applied"])
    assert len(trace.jobs) + len(trace.skipped) == 8152 and len(trace.skipped) == 1088
    result = run(platform("dev", spot_rate=6.849315e-05), trace, audit=False)
    doc = report.summarize(result)
    assert sum(doc["outcomes"].values()) == 7064 == doc["trace"]["gpu_jobs"]
    assert sum(t["jobs"] for t in doc["teams"].values()) == 7064
    assert len(doc["never_runs"]) == doc["outcomes"]["never runs"] > 0
    assert all(e["reason"] for e in doc["never_runs"] + doc["deactivated"] + doc["deadline"])
    for pool in doc["pools"].values():
        if pool["gpu_hours"]["provisioned"]:
            assert 0 < pool["allocation_ratio"] <= 1
    held = sum(j.held for j in result.jobs) / HOUR
    assert held == pytest.approx(sum(p["gpu_hours"]["allocated"] for p in doc["pools"].values()), abs=0.1)


def test_the_busy_section_as_a_trace_reconciles_with_the_expected_estimate():
    plat = platform("dev")  # both GPU pools scale from zero
    result = run(plat, jobs(*busy.rows(plat)), horizon_s=MONTH)
    doc = report.summarize(result)
    assert doc["outcomes"]["completed"] == len(result.jobs)
    for name, b in plat.config.cost.busy.items():
        assert doc["pools"][name]["node_hours"]["busy"] == pytest.approx(b.hours * (b.nodes or plat.pool(name).max))
        pool = doc["pools"][name]
        assert pool["node_hours"]["busy"] * pool["price_per_node_hour"] == pytest.approx(pool["expected_per_month"],
                                                                                          abs=0.01)
    c = doc["cost"]
    assert c["gpu_busy"] + c["fixed"] == pytest.approx(c["expected_per_month"], abs=0.02)  # $300.40
    # what the static estimate leaves out: nodes booting, and idle until the autoscaler removes them
    assert c["total"] == pytest.approx(c["expected_per_month"] + c["gpu_booting"] + c["gpu_idle"], abs=0.02)
    assert json.dumps(doc) == json.dumps(report.summarize(run(plat, jobs(*busy.rows(plat)), horizon_s=MONTH)))
