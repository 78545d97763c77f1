"""``gpufleet graph``: the platform's components and their dependencies as a Mermaid flowchart."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpufleet import cli
from gpufleet import graph as g

from .conftest import shipped_plan
from .helpers import ROOT

EDGE = re.compile(r"^\s*(c\d+) --> (c\d+)$")
NODE = re.compile(r'^\s*(?:subgraph )?(c\d+)\["([^"]*)"\]$')


def components(plan) -> list:
    return [r for r in plan.resources if not r.custom and not r.type.startswith("pulumi:")]


def reachable(edges, start: str) -> set[str]:
    succ: dict[str, set[str]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
    seen, todo = set(), [start]
    while todo:
        x = todo.pop()
        for y in succ.get(x, ()):
            if y not in seen:
                seen.add(y)
                todo.append(y)
    return seen


def test_nodes_are_the_components_nested_as_in_the_plan(any_stack_plan):
    plan = any_stack_plan
    graph = g.build(plan)
    by_urn = {r.urn: r for r in plan.resources}
    nodes = graph.nodes()
    shown = {n.urn for n in nodes}
    assert len(shown) == len(nodes)
    for r in components(plan):
        depth = 1 + sum(1 for u in _ancestors(by_urn, r.parent) if by_urn[u].custom is False)
        assert (r.urn in shown) == (depth <= g.DEFAULT_DEPTH), r.name
    assert all(not by_urn[u].custom for u in shown)  # no leaf resource
    for node in nodes:
        for kid in node.children:
            assert node.urn in _ancestors(by_urn, by_urn[kid.urn].parent)  # a child inside its parent
    # depth 1: the top-level components only; a deeper graph shows every component
    assert {n.urn for n in g.build(plan, 1).nodes()} == {r.urn for r in components(plan) if r.parent not in by_urn}
    assert {n.urn for n in g.build(plan, 9).nodes()} == {r.urn for r in components(plan)}


def _ancestors(by_urn, urn):
    out = []
    while urn in by_urn:
        out.append(urn)
        urn = by_urn[urn].parent
    return out


def test_arrows_follow_the_real_dependencies(dev_plan):
    """The network comes before the cluster, the cluster before the node pools, the pools
    before the add-ons that run on them; the data key before the buckets it encrypts."""
    graph = g.build(dev_plan)
    ids = {n.name: n.id for n in graph.nodes() if n.depth == 1}
    assert ids["cluster"] in reachable(graph.edges, ids["network"])
    for pool in ("pool-system", "pool-shared-l4", "pool-train-spot"):
        assert ids[pool] in reachable(graph.edges, ids["cluster"]), pool
        assert ids[pool] in reachable(graph.edges, ids["network"]), pool
    assert ids["kueue"] in reachable(graph.edges, ids["cluster"])
    assert ids["datasets"] in reachable(graph.edges, ids["data-key"])
    assert ids["network"] not in reachable(graph.edges, ids["cluster"])  # never backwards
    # no arrow inside one component or between a component and its own parts
    parent = {k.id: n.id for n in graph.nodes() for k in n.children}
    for a, b in graph.edges:
        assert a != b and parent.get(a) != b and parent.get(b) != a


@given(st.sets(st.tuples(st.integers(0, 7), st.integers(0, 7)).filter(lambda e: e[0] < e[1]), max_size=20))
def test_reduce_edges_keeps_reachability_and_drops_implied_arrows(pairs):
    edges = {(f"c{a}", f"c{b}") for a, b in pairs}  # a DAG: arrows go up in number
    reduced = g.reduce_edges(edges)
    assert reduced <= edges
    for n in range(8):
        assert reachable(reduced, f"c{n}") == reachable(edges, f"c{n}")
    for a, b in reduced:  # none is implied by a longer path
        assert b not in reachable(reduced - {(a, b)}, a)


def test_mermaid_is_a_well_formed_flowchart(any_stack_plan):
    text = g.mermaid(g.build(any_stack_plan))
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    declared = {m[1] for line in lines if (m := NODE.match(line))}
    assert sum(line.strip().startswith("subgraph ") for line in lines) == sum(line.strip() == "end" for line in lines)
    edges = [EDGE.match(line).groups() for line in lines if "-->" in line]
    assert edges and all(a in declared and b in declared for a, b in edges)
    assert all(NODE.match(line) or EDGE.match(line) or line.strip() == "end" for line in lines[1:])
    # stable: the same plan, the same text
    assert g.mermaid(g.build(any_stack_plan)) == text


def test_labels_are_escaped():
    assert g._label('a"b<c>') == "a#quot;b#lt;c#gt;"


def test_readme_shows_the_dev_stacks_graph():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The platform as a picture", 1)[1].split("\n## ", 1)[0]
    expected = g.markdown(g.build(shipped_plan("dev")))
    assert expected in section, "README's graph is stale: gpufleet -C tests/fixtures/project graph dev --format markdown"
    assert readme.index("## The platform as a picture") < readme.index("## Deploying for real")


def test_cli_formats_and_bad_depth(capsys):
    assert cli.main(["graph", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart LR\n")  # the project line goes to stderr: stdout is the document
    assert cli.main(["graph", "dev", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("```mermaid\nflowchart LR\n") and md.rstrip().endswith("```")
    assert cli.main(["graph", "dev", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    urns = {c["urn"] for c in doc["components"]}
    assert doc["stack"] == "dev" and doc["dependencies"]
    assert all(d["from"] in urns and d["to"] in urns for d in doc["dependencies"])
    with pytest.raises(SystemExit) as exited:
        cli.main(["graph", "dev", "--depth", "0"])
    assert exited.value.code == 2
    assert "expected a whole number of levels, 1 or more" in capsys.readouterr().err
