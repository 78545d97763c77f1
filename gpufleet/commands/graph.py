"""``gpufleet graph <stack>``: the platform as a picture (a Mermaid flowchart).

Components (ComponentResources) and their dependencies, offline; GitHub renders the
``--format markdown`` output in a PR comment, an issue or a README.
"""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLES = (("gpufleet graph dev --format markdown", "the dev stack's components as a Mermaid block for Markdown"),)


def register(sub: argparse._SubParsersAction) -> None:
    from ..graph import DEFAULT_DEPTH

    p = sub.add_parser("graph", help="the platform as a picture: components and their dependencies (Mermaid)")
    p.add_argument("stack", help="stack name (Pulumi.<stack>.yaml in the project's stacks dir) or path to a stack file")
    p.add_argument("--format", choices=("mermaid", "markdown", "json"), default="mermaid",
                   help="mermaid (the flowchart), markdown (in a ```mermaid block) or json (nodes and edges)")
    p.add_argument("--depth", type=_depth, default=DEFAULT_DEPTH,
                   help=f"how many levels of nested components to show (default {DEFAULT_DEPTH}); deeper ones "
                        "fold into their parent")
    p.set_defaults(func=run)


def _depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected a whole number of levels, 1 or more")
    return value


def run(args: argparse.Namespace) -> int:
    from .. import graph
    from .. import plan as planner
    from ..project import of
    from .plan import _check_file

    project = of(args)
    _check_file(args.stack, project)
    result = planner.render(args.stack, project)
    project.announce(machine=True)  # stdout is a document (Mermaid, Markdown or JSON)
    g = graph.build(result, args.depth)
    if args.format == "json":
        json.dump(graph.to_json(g), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(graph.markdown(g) if args.format == "markdown" else graph.mermaid(g))
    return 0
