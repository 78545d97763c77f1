"""The platform as a picture: a plan's components and their dependencies, as a Mermaid
flowchart (GitHub renders it in Markdown).

Nodes are the ComponentResources of the plan (``gpufleet:<module>:<Type>``), down to
``depth`` levels (default 2: the top-level components and the components inside them);
deeper components and every leaf resource are folded into their nearest shown ancestor.
A component shown with components inside it is a subgraph (parent/child). An arrow
``A --> B`` says B depends on A (A is created first): the dependencies of every resource
(``depends_on`` and its provider), lifted to the components that hold the two ends.
Resources outside any component (the providers) pass their dependencies through, so a
Kubernetes add-on points at the cluster its provider talks to. Arrows already implied by
a longer path are left out (transitive reduction), so the picture keeps the order, not
every edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

DEFAULT_DEPTH = 2


@dataclass
class Node:
    id: str
    urn: str
    name: str
    type: str
    depth: int
    children: list[Node] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """``gpufleet:ml:Serving`` -> ``Serving``."""
        return self.type.rsplit(":", 1)[-1]


@dataclass
class Graph:
    stack: str
    roots: list[Node]
    #: (from, to) node ids: ``to`` depends on ``from``
    edges: list[tuple[str, str]]

    def nodes(self) -> list[Node]:
        out: list[Node] = []
        todo = list(reversed(self.roots))
        while todo:
            node = todo.pop()
            out.append(node)
            todo += reversed(node.children)
        return out


def _component(r: Any) -> bool:
    return not r.custom and not r.type.startswith("pulumi:")


def build(plan: Any, depth: int = DEFAULT_DEPTH) -> Graph:
    """The component graph of ``plan`` (a :class:`gpufleet.plan.Plan`), ``depth`` >= 1."""
    depth = max(1, depth)
    resources = list(plan.resources)
    by_urn = {r.urn: r for r in resources}

    def ancestors(urn: str | None) -> list[str]:
        """``urn`` and its recorded ancestors, nearest first."""
        chain: list[str] = []
        while urn in by_urn and urn not in chain:
            chain.append(urn)
            urn = by_urn[urn].parent
        return chain

    # the shown components: at most `depth` components deep
    level: dict[str, int] = {}
    for r in resources:
        if _component(r):
            level[r.urn] = sum(1 for u in ancestors(r.urn) if _component(by_urn[u]))
    shown = {u for u, n in level.items() if n <= depth}

    nodes: dict[str, Node] = {}
    for i, r in enumerate(r for r in resources if r.urn in shown):  # plan order: stable
        nodes[r.urn] = Node(f"c{i}", r.urn, r.name, r.type, level[r.urn])
    roots: list[Node] = []
    for node in nodes.values():
        parent = next((u for u in ancestors(by_urn[node.urn].parent) if u in nodes), None)
        (nodes[parent].children if parent else roots).append(node)

    def holder(urn: str) -> str | None:
        """The shown component that holds ``urn`` (None: outside every component)."""
        return next((u for u in ancestors(urn) if u in nodes), None)

    def deps(r: Any) -> list[str]:
        out = list(getattr(r, "depends_on", []) or [])
        if getattr(r, "provider", None):
            out.append(r.provider.rsplit("::", 1)[0])
        return [u for u in out if u in by_urn]

    def targets(urn: str, seen: set[str]) -> set[str]:
        """The shown components ``urn`` stands for: its holder, or (outside every component)
        the holders of what it depends on, followed through."""
        if urn in seen:
            return set()
        seen.add(urn)
        h = holder(urn)
        if h is not None:
            return {h}
        out: set[str] = set()
        for d in deps(by_urn[urn]):
            out |= targets(d, seen)
        return out

    edges: set[tuple[str, str]] = set()
    for r in resources:
        src = holder(r.urn)
        if src is None:
            continue
        for d in deps(r):
            for dst in targets(d, set()):
                if dst == src or dst in ancestors(src) or src in ancestors(dst):
                    continue  # inside one component, or between a component and its own parts
                edges.add((nodes[dst].id, nodes[src].id))
    return Graph(plan.stack, roots, sorted(reduce_edges(edges), key=_edge_key))


def _edge_key(edge: tuple[str, str]) -> tuple[int, int]:
    return int(edge[0][1:]), int(edge[1][1:])


def reduce_edges(edges: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Drop every edge whose ends are also joined by a longer path (keeps reachability)."""
    out = set(edges)
    for edge in sorted(out, key=_edge_key):
        a, b = edge
        rest = out - {edge}
        succ: dict[str, list[str]] = {}
        for x, y in rest:
            succ.setdefault(x, []).append(y)
        seen, todo = {a}, list(succ.get(a, []))
        while todo:
            x = todo.pop()
            if x == b:
                out = rest
                break
            if x not in seen:
                seen.add(x)
                todo += succ.get(x, [])
    return out


def _label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def mermaid(graph: Graph) -> str:
    """A Mermaid ``flowchart LR``: components as boxes, components with components inside
    them as subgraphs, dependencies as arrows (from what is needed to what needs it)."""
    lines = ["flowchart LR"]

    def emit(node: Node, indent: str) -> None:
        label = f"{_label(node.name)}<br/>{_label(node.kind)}"
        if node.children:
            lines.append(f'{indent}subgraph {node.id}["{label}"]')
            for kid in node.children:
                emit(kid, indent + "  ")
            lines.append(f"{indent}end")
        else:
            lines.append(f'{indent}{node.id}["{label}"]')

    for root in graph.roots:
        emit(root, "  ")
    lines += [f"  {a} --> {b}" for a, b in graph.edges]
    return "\n".join(lines)


def markdown(graph: Graph) -> str:
    return f"```mermaid\n{mermaid(graph)}\n```"


def to_json(graph: Graph) -> dict[str, Any]:
    by_id = {n.id: n for n in graph.nodes()}
    return {
        "stack": graph.stack,
        "components": [{"urn": n.urn, "name": n.name, "type": n.type,
                        "children": [k.urn for k in n.children]} for n in graph.nodes()],
        "dependencies": [{"from": by_id[a].urn, "to": by_id[b].urn} for a, b in graph.edges],
    }
