"""The README's config reference is generated from the models and must not drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_config_reference_is_current():
    spec = importlib.util.spec_from_file_location("config_reference", ROOT / "scripts" / "config_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    readme = (ROOT / "README.md").read_text()
    assert f"{mod.BEGIN}\n{mod.reference()}\n{mod.END}" in readme, \
        "README config reference is stale: run python scripts/config_reference.py --write"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "./run plan dev" in readme and "./run test" in readme
    assert "./run test" in (ROOT / ".ci" / "run").read_text()


def _headings(readme: str) -> list[tuple[int, str]]:
    """(level, text) of every Markdown heading outside fenced code blocks."""
    import re

    out, fenced = [], False
    for line in readme.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else re.match(r"^(#{1,6}) (.+)$", line)
        if m:
            out.append((len(m.group(1)), m.group(2).strip()))
    return out


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation (backticks too) dropped, spaces to '-'."""
    import re

    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_readme_contents_link_every_section_in_order():
    import re

    readme = (ROOT / "README.md").read_text()
    toc = readme.split("\n## Contents\n", 1)[1].split("\n## ", 1)[0]
    top = re.findall(r"^- \[[^\]]+\]\(#([^)]+)\)", toc, re.M)
    sections = [_anchor(h) for level, h in _headings(readme) if level == 2 and h != "Contents"]
    assert top == sections, "README's Contents must link every ## section, in order"
    anchors = {_anchor(h) for _, h in _headings(readme)}
    for link in re.findall(r"\]\(#([^)]+)\)", toc):
        assert link in anchors, link
