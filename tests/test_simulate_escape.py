"""Issue 18, section 3: ``gpufleet simulate --format markdown`` (a PR comment) escapes what came
from users as the check, diff and cost reports do (:mod:`gpufleet.reports.escape`): a stack,
trace, team, pool, instance or job name, and the reasons and warnings that quote them, never
become an @mention, HTML, a link, a broken table or a heading. The terminal table and JSON
keep the names as they are."""

from __future__ import annotations

import copy
import json
import re

import pytest

from gpufleet.cli import main
from gpufleet.modules.simulate import render, report
from gpufleet.reports.escape import ZWJ

from .simulate_support import jobs, plan, platform, run, summary
from .test_escape import CODE_SPAN, MarkdownIt, unescaped

#: a name as a hostile user writes it in a trace (and, for the report's own doc, a stack or pool)
HOSTILE = "@org/team <img src=x> | [x](http://e) \n# h"
#: the report's own headings: its title (``##``) and its sections (``###``)
HEADINGS = {"##", "###"}


@pytest.fixture(scope="module")
def doc():
    """A simulation of dev whose trace (its path, job names) and report (stack, team, pool and
    instance names, a warning) carry the hostile name: two jobs never run, so their names are
    in the report."""
    trace = jobs({"submit": 0, "run": 600, "team": "research", "gpus": 1, "name": "fits"},
                 {"submit": 0, "run": 600, "team": "research", "gpus": 64, "name": HOSTILE},
                 {"submit": 0, "run": 600, "team": "research", "gpus": 1, "gpu_model": "a100-40gb",
                  "name": HOSTILE + " 2"})
    trace.source = HOSTILE
    out = summary(run(platform("dev"), trace, audit=False))
    out["stack"] = HOSTILE
    out["teams"] = {f"{HOSTILE} {team}": t for team, t in out["teams"].items()}
    out["pools"] = {f"{HOSTILE} {pool}": {**p, "instance_type": HOSTILE} for pool, p in out["pools"].items()}
    out["warnings"] = [{"kind": "unknown_gpu_model", "value": HOSTILE, "jobs": 1, "runs_on": "any",
                        "message": f"1 jobs asked for an unknown GPU model {HOSTILE}: run on any GPU"}]
    return out


def assert_safe_markdown(out: str, headings: set[str] = HEADINGS) -> None:
    """No markup from users: outside code spans no @mention, tag, link or URL; every table row
    has its header's cells; the only headings are the report's own (rendered too, when a
    CommonMark renderer is installed)."""
    lines = out.splitlines()
    ours = [line for line in lines if line.startswith(tuple(f"{h} " for h in headings))]
    assert [line for line in lines if line.lstrip().startswith("#")] == ours, out
    table: list[str] = []
    for line in [*lines, ""]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            assert len({len(unescaped(row, "|")) for row in table}) == 1, table
            table = []
        else:
            assert "|" not in line.replace("\\|", ""), line     # no table started by a value
    prose = CODE_SPAN.sub("CODE", out)
    assert "<" not in prose and not re.search(r"@\w|(?i:www\.|://)", prose), prose
    assert unescaped(prose, "[") == [] and unescaped(prose, "`") == [], prose
    if MarkdownIt is not None:
        rendered = MarkdownIt("commonmark").enable("table").render(out)
        assert "<img" not in rendered and "<a " not in rendered and "<h1" not in rendered
        assert len(re.findall(r"<h[2-6]>", rendered)) == len(ours), rendered


def shown(markdown: str) -> str:
    """The text a reader sees of escaped Markdown (backslash escapes, entities and joiners read)."""
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown.replace(ZWJ, ""))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_the_markdown_report_escapes_stack_trace_team_pool_job_names_and_warnings(doc):
    out = render.text(doc, markdown=True)
    assert_safe_markdown(out, HEADINGS)
    assert "\n# " not in out and "<img" not in out and not re.search(r"(?<!\\)\]\(", out)  # no heading, HTML, link
    assert not re.search(r"@(?!\u200d)", out)                       # no @mention anywhere
    flat = HOSTILE.replace("\n", " ")
    seen = shown(out)
    for said in (f"gpufleet simulate {flat}: {flat} (native", f"| {flat} research |", f"| {flat} train-spot | {flat} (",
                 f"warning: 1 jobs asked for an unknown GPU model {flat}", f"(e.g. {flat})", f"(e.g. {flat} 2)"):
        assert said in seen, said                                   # each said, as text


def test_the_comparison_escapes_both_names_and_the_figures(doc):
    second = copy.deepcopy(doc)
    second["stack"] = HOSTILE + " + edits"
    diff = report.compare(doc, second)
    out = render.compare_text(diff, markdown=True)
    assert_safe_markdown(out, {"##"})
    flat = HOSTILE.replace("\n", " ")
    assert shown(out.splitlines()[0]) == f"## gpufleet simulate: {flat} vs {flat} + edits"
    assert f"| {flat} train-spot: allocation ratio |" in shown(out)


def test_the_terminal_table_and_json_keep_the_names(doc):
    assert f"gpufleet simulate {HOSTILE}: {HOSTILE} (native" in render.text(doc)
    assert json.loads(render.to_json(doc))["stack"] == HOSTILE


def test_the_command_escapes_the_job_names_of_a_trace_file(tmp_path, monkeypatch, capsys):
    from gpufleet import simulate_stack

    monkeypatch.setattr(simulate_stack, "render", lambda loaded: plan(loaded.stack))
    trace = tmp_path / "hostile.jsonl"
    trace.write_text("\n".join(json.dumps(row) for row in (
        {"name": HOSTILE, "submit": 0, "run": 600, "team": "research", "gpus": 64},
        {"name": "ok", "submit": 0, "run": 600, "team": "research", "gpus": 1})) + "\n")
    assert main(["simulate", "dev", "--trace", str(trace), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert_safe_markdown(out, HEADINGS)
    assert f"(e.g. {HOSTILE.replace(chr(10), ' ')})" in shown(out)
