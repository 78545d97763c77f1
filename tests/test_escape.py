"""Issue 18, section 3: Markdown and SARIF output escape what came from users (stack, pool,
team and resource names, values): no @mention, no HTML, no link or autolink, no table broken,
no heading injected, no code span broken in a PR comment or a code-scanning alert
(:mod:`gpufleet.reports.escape`, used by ``check --format markdown|sarif``, ``diff --format
markdown`` and ``cost --format markdown``)."""

from __future__ import annotations

import copy
import dataclasses
import html
import json
import re
import shutil

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gpufleet.reports import cost as cost_report
from gpufleet.reports.escape import ZWJ, code, md, sarif_text

from .check_support import project_copy, run
from .conftest import shipped_plan
from .helpers import STACK_FOLDER, raw_config

try:  # a CommonMark renderer, when installed: the escaped text renders as the text it was
    from markdown_it import MarkdownIt
except ImportError:  # pragma: no cover - the structural checks below still run
    MarkdownIt = None

#: what a hostile user writes where a name or a value goes
HOSTILE = "@org/admins <img src=x> | # x [a](http://e) `tick` **b** www.evil.example\n# injected"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
TEXT = st.text(st.characters(blacklist_characters=ZWJ), max_size=80)
PUNCTUATION = re.compile(r"\\([!-/:-@\[-`{-~])|&(amp|lt|gt|#\d+);")


def flat(text: str) -> str:
    return CONTROL.sub(" ", text)


def visible_md(escaped: str) -> str:
    """The text an escaped inline Markdown string shows (backslash escapes and entities read)."""
    def one(m: re.Match) -> str:
        return m.group(1) if m.group(1) is not None else html.unescape(f"&{m.group(2)};")
    return PUNCTUATION.sub(one, escaped).replace(ZWJ, "")


def unescaped(escaped: str, char: str) -> list[int]:
    """Positions of ``char`` not preceded by an odd run of backslashes."""
    out = []
    for i, c in enumerate(escaped):
        if c == char:
            run_ = len(escaped[:i]) - len(escaped[:i].rstrip("\\"))
            if run_ % 2 == 0:
                out.append(i)
    return out


# ---------------------------------------------------------------- the helpers, for any text

@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_md_leaves_no_markup_and_shows_the_same_text(text):
    out = md(text)
    assert "\n" not in out and "\r" not in out and not CONTROL.search(out)
    assert "<" not in out and ">" not in out                       # no HTML, no <autolink>
    assert not re.search(r"@\w", out)                               # no @mention, no e-mail autolink
    assert not re.search(r"#\w", re.sub(r"^&#\d+;", "", out))       # no #123 issue reference
    assert not re.search(r"(?i)://|www\.", out)                     # no bare-URL autolink
    for char in "|[]`*_~$":                                         # table cells, links, code, emphasis, math
        assert unescaped(out, char) == [], (char, out)
    assert not re.match(r"\s{0,3}(#{1,6}|[-+*=]|\d+[.)])(\s|$)", out)  # no heading, list item or setext line
    assert visible_md(out) == flat(text)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.booleans())
def test_code_is_one_span_of_the_same_text(text, cell):
    out = code(text, cell=cell)
    assert "\n" not in out and not CONTROL.search(out)
    fence = re.match(r"`+", out).group()
    assert out.endswith(fence) and all(len(r) < len(fence) for r in re.findall(r"`+", out[len(fence):-len(fence)]))
    inner = out[len(fence):-len(fence)]
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
        inner = inner[1:-1]
    body = flat(text).replace("|", "\\|") if cell else flat(text)
    assert inner == (body or " ")
    if cell:  # GFM (and markdown-it) read a pipe right after a backslash as part of the cell
        assert all(out[i - 1] == "\\" for i, c in enumerate(out) if c == "|")


def visible_sarif(escaped: str) -> str:
    """The text a SARIF consumer shows: ``\\[`` ``\\]`` are brackets, ``{{`` ``}}`` braces, and
    a run of backslashes that ends at an escaped bracket reads as pairs (each pair one
    backslash); other backslashes are themselves."""
    out, i = [], 0
    while i < len(escaped):
        if escaped[i] == "\\":
            run = len(escaped[i:]) - len(escaped[i:].lstrip("\\"))
            after = escaped[i + run:i + run + 1]
            if after in ("[", "]") and run % 2 == 1:
                out.append("\\" * (run // 2) + after)
                i += run + 1
            else:
                out.append("\\" * run)
                i += run
        elif escaped[i:i + 2] in ("{{", "}}"):
            out.append(escaped[i])
            i += 2
        else:
            out.append(escaped[i])
            i += 1
    return "".join(out).replace(ZWJ, "")


@settings(max_examples=400, deadline=None)
@given(TEXT)
@example("\\\\[x](1)")  # two backslashes before a bracket: the run is doubled, or the bracket opens a link
@example("a\\\\\\]")
def test_sarif_text_has_no_link_placeholder_or_markup(text):
    out = sarif_text(text)
    assert "\n" not in out and not CONTROL.search(out)
    assert unescaped(out, "[") == [] and unescaped(out, "]") == []      # SARIF 3.11.6: embedded links
    assert "{" not in out.replace("{{", "") and "}" not in out.replace("}}", "")  # 3.11.5: placeholders
    assert not re.search(r"@\w|<[A-Za-z/!?]|://", out)
    assert visible_sarif(out) == flat(text)


@pytest.mark.skipif(MarkdownIt is None, reason="no Markdown renderer installed (markdown-it-py)")
@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_md_renders_as_the_text_it_was(text):
    """Rendered by a CommonMark renderer with GFM tables: one paragraph of plain text, the
    input's text, in a paragraph and in a table cell."""
    renderer = MarkdownIt("commonmark").enable("table")
    out = md(text)
    if not out.strip():
        return
    [para] = [t for t in renderer.parse(out) if t.type == "inline"]
    assert [c.type for c in para.children if c.type not in ("text", "softbreak")] == []
    assert "".join(c.content for c in para.children).replace(ZWJ, "").strip() == flat(text).strip()
    table = renderer.render(f"| a |\n| --- |\n| x{out}x |\n")
    assert table.count("<td>") == 1 and "<img" not in table and "<a " not in table


# ---------------------------------------------------------------- end to end: check

def hostile_project(tmp_path):
    """A copy of the fixture project with stacks whose name or values are hostile text: the
    stack file's name (a stack name is shown whole), and values the schema refuses (an excerpt)."""
    root = project_copy(tmp_path)
    stacks = root / STACK_FOLDER
    shutil.copy(stacks / "Pulumi.dev.yaml", stacks / f"Pulumi.{HOSTILE.replace('/', '∕')}-dev.yaml")
    for name, value in (("mention", "@org/admins"), ("html", "<img src=x>"), ("link", "[a](http://e)"),
                        ("url", "www.evil.example"), ("table", "| # x `y`"), ("heading", "# x")):
        raw = raw_config("dev")
        raw["gpufleet:cost"] = {**raw["gpufleet:cost"], "emails": [value]}
        (stacks / f"Pulumi.{name}-dev.yaml").write_text(yaml.safe_dump({"config": raw}, sort_keys=False))
    return root


CODE_SPAN = re.compile(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)")  # an escaped backtick opens none
OURS = re.compile(r"</?(details|summary|sub)>|<br>")


def assert_safe_markdown(out: str, headings: set[str]) -> None:
    """No markup from users: outside code spans no @mention, tag, link, URL; table rows keep
    their cells; the only headings are the report's own."""
    lines = out.splitlines()
    assert {line.split(" ", 1)[0] for line in lines if line.lstrip().startswith("#")} <= headings, out
    assert all(not line.lstrip().startswith("#") or line.startswith(tuple(f"{h} " for h in headings)) for line in lines)
    tables: list[list[str]] = []
    for line in lines:
        if line.startswith("|"):
            if not tables or tables[-1] is None:
                tables.append([])
            tables[-1].append(line)
        elif tables and tables[-1] is not None:
            tables.append(None)
    for table in filter(None, tables):
        widths = {len(unescaped(row, "|")) for row in table}
        assert len(widths) == 1, table
    prose = OURS.sub("", CODE_SPAN.sub("CODE", out))
    assert "<" not in prose and not re.search(r"@\w|(?i:www\.|://)", prose), prose
    assert unescaped(prose, "[") == [] and unescaped(prose, "`") == [], prose
    if MarkdownIt is not None:
        rendered = MarkdownIt("commonmark").enable("table").render(out)
        assert "<img" not in rendered and "<a " not in rendered and "<h1" not in rendered and "<h2" not in rendered


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return hostile_project(tmp_path_factory.mktemp("hostile"))


def test_check_markdown_escapes_every_user_value(hostile, capsys):
    code_, out, _ = run(capsys, "-C", str(hostile), "check", "--all", "--format", "markdown")
    assert code_ == 2
    assert_safe_markdown(out, {"###", "####"})
    shown = out.replace(ZWJ, "")
    assert "@org/admins" in shown and "img src=x" in shown  # said, as text
    if MarkdownIt is not None:  # the hostile stack's name reads as itself
        text = html.unescape(re.sub(r"<[^>]+>", "", MarkdownIt("commonmark").enable("table").render(out)))
        assert flat(HOSTILE.replace("/", "∕")) in text.replace(ZWJ, "")


@pytest.mark.on_data_day
def test_check_sarif_escapes_every_user_value(hostile, capsys):
    code_, out, _ = run(capsys, "-C", str(hostile), "check", "--all", "--format", "sarif")
    assert code_ == 2
    results = json.loads(out)["runs"][0]["results"]
    assert len(results) == 7
    for r in results:
        text = r["message"]["text"]
        assert "\n" not in text and not re.search(r"@\w|<[A-Za-z/!?]|://", text), text
        assert unescaped(text, "[") == [] and unescaped(text, "]") == [], text
        assert "{" not in text.replace("{{", "") and "}" not in text.replace("}}", ""), text
    texts = " ".join(visible_sarif(r["message"]["text"]) for r in results)
    assert flat(HOSTILE.replace("/", "∕")) in texts and "'[a](http://e)'" in texts


# ---------------------------------------------------------------- end to end: diff, cost

def test_diff_markdown_escapes_names_types_and_values_of_a_plan(tmp_path, capsys):
    base = copy.deepcopy(shipped_plan("dev").to_json())
    head = copy.deepcopy(base)
    for doc in (base, head):
        doc["stack"] = HOSTILE
    ng = next(r for r in head["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup")
    ng["inputs"]["instanceTypes"] = [HOSTILE]  # replaced: a table row
    ng["inputs"]["labels"] = {**ng["inputs"].get("labels", {}), "x": HOSTILE}  # also changes
    head["resources"].append({"urn": f"urn:pulumi:dev::gpufleet::x:y:Z::{HOSTILE}", "type": f"x:{HOSTILE}",
                              "name": HOSTILE, "inputs": {"v": HOSTILE}, "options": {}})
    paths = []
    for name, doc in (("base.json", base), ("head.json", head)):
        (tmp_path / name).write_text(json.dumps(doc))
        paths.append(str(tmp_path / name))
    code_, out, err = run(capsys, "diff", *paths, "--format", "markdown")
    assert code_ == 1, err
    assert_safe_markdown(out, {"###"})
    assert out.splitlines()[0].startswith("### :no_entry: Replacement guard: ")


def test_cost_markdown_escapes_item_names_and_stack_names():
    est = cost_report.plan_estimate(shipped_plan("dev"))
    est = dataclasses.replace(est, items=(dataclasses.replace(est.items[0], name=HOSTILE, category=HOSTILE),
                                          *est.items[1:]), notes=(*est.notes, HOSTILE))
    ours = est.prices.source  # the price files' own source (a commit reference of ours), not a user's value
    assert_safe_markdown(cost_report.markdown(est, f"stack {code(HOSTILE)}").replace(ours, ""), {"###"})
    diff = cost_report.compare(cost_report.plan_estimate(shipped_plan("dev")), est)
    assert_safe_markdown(cost_report.compare_markdown(diff, HOSTILE, HOSTILE + "-head").replace(ours, ""), {"###"})
