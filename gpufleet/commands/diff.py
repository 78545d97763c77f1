"""``gpufleet diff <base> <head>``: the replacement guard.

Compares two plans (stack names, stack files or ``gpufleet plan --json`` files) and lists
the resources ``pulumi up`` would replace (with the replace-on-change property that forces
it, its old and new value, and why) and the protected resources it would delete, then
every update with its old and new values. Plans are named by their stacks (and a plan
file by its file name, never its directory). Exit 1 when there is a replacement or a
protected delete (unless ``--allow-replace``), 0 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

LABEL = "allow-replace"
EXAMPLES = (("gpufleet diff base.json dev", "what the change from a saved plan to stack dev would replace or delete"),)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="replacement guard: what a change would replace or delete (two plans compared)")
    p.add_argument("base", help="the plan before: stack name, stack file, or a `gpufleet plan --json` file")
    p.add_argument("head", help="the plan after: stack name, stack file, or a `gpufleet plan --json` file")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--allow-replace", action="store_true",
                   help="report replacements and protected deletes but exit 0 (the PR label `allow-replace`)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import diff
    from ..project import find_optional

    try:
        base, head = diff.load(args.base), diff.load(args.head)
    except diff.DiffInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    project = find_optional()  # two saved plans need no project; a stack name found one already
    if project is not None:
        project.announce(machine=args.format != "text")
    result = diff.compare(base, head, args.base, args.head)
    out = {"text": text, "markdown": markdown, "json": as_json}[args.format](result, args.allow_replace)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 1 if result.blocking and not args.allow_replace else 0


# ---------------------------------------------------------------- output

def show(value: Any, limit: int = 80) -> str:
    if value is None:
        return "(unset)"
    s = value if isinstance(value, str) and "\n" not in value else json.dumps(value, separators=(",", ":"),
                                                                              sort_keys=True)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _multiline(v) -> bool:
    return isinstance(v.base, str) and isinstance(v.head, str) and ("\n" in v.base or "\n" in v.head)


def line_changes(v, limit: int = 12) -> list[str]:
    """A multi-line value (a ConfigMap's data, a policy document) as the lines it loses
    (``-``) and gains (``+``), at most ``limit``."""
    changed = [line for line in difflib.ndiff(v.base.splitlines(), v.head.splitlines()) if line[:1] in "+-"]
    more = len(changed) - limit
    return [show(line, 120) for line in changed[:limit]] + ([f"... ({more} more changed lines)"] if more > 0 else [])


def value_text(v, indent: str = "") -> list[str]:
    """``path: old -> new`` of one changed property (a multi-line value: its changed lines)."""
    if _multiline(v):
        return [f"{indent}{v.path}: (lines changed)", *(f"{indent}  {line}" for line in line_changes(v))]
    return [f"{indent}{v.path}: {show(v.base, 120)} -> {show(v.head, 120)}"]


def side(spec: str, stack: str) -> str:
    """How output names one plan: its stack, plus the file's name (never its directory)
    when it came from a file."""
    if not stack:
        return Path(spec).name
    return stack if spec == stack else f"{stack} ({Path(spec).name})"


def diff_covered(path: str, prefixes: list[str]) -> bool:
    from ..diff import covered

    return covered(path, prefixes)


def _resource(c) -> str:
    return f"{c.type} {c.name}"


def _suffix(c) -> str:
    notes = ["PROTECTED"] if c.protected else []
    notes += ["retained on delete"] if c.retained else []
    return f"  ({', '.join(notes)})" if notes else ""


def verdict(result, allowed: bool) -> str:
    n_rep, n_prot = len(result.of("replace")), len(result.protected_deletes)
    if not result.blocking:
        return "OK: nothing is replaced and no protected resource is deleted."
    what = " and ".join(x for x in (f"{n_rep} replacement{'s' * (n_rep != 1)}" if n_rep else "",
                                    f"{n_prot} protected delete{'s' * (n_prot != 1)}" if n_prot else "") if x)
    if allowed:
        return f"ALLOWED: {what} (accepted with --allow-replace / the `{LABEL}` label)."
    return f"BLOCKED: {what}. Review them; to accept, add the `{LABEL}` label to the PR (or pass --allow-replace)."


def _heading(result) -> str:
    return f"{side(result.base, result.base_stack)} -> {side(result.head, result.head_stack)}"


def text(result, allowed: bool = False) -> str:
    s = result.summary()
    lines = [f"gpufleet diff: {_heading(result)}",
             f"  {s['add']} to add, {s['delete']} to delete, {s['update']} to update in place, "
             f"{s['replace']} to replace, {s['unchanged']} unchanged"]
    if result.base_stack != result.head_stack:
        lines.append("  note: different stacks; names derived from the stack name differ too")
    if result.of("replace"):
        lines += ["", "Replaced (deleted and created again):"]
        for c in result.of("replace"):
            lines.append(f"  +- {_resource(c)}{_suffix(c)}")
            for r in c.reasons:
                lines += value_text(r, "       ") if r.path != "(provider)" else ["       (provider)"]
                if r.why:
                    lines.append(f"         why: {r.why}")
            forcing = [r.path for r in c.reasons]
            also = [v for v in c.values if not diff_covered(v.path, forcing)]
            if also:
                lines.append("       also changes:")
                lines += [line for v in also for line in value_text(v, "         ")]
    if result.protected_deletes:
        lines += ["", "Protected resources that would be deleted:"]
        lines += [f"  -  {_resource(c)}{_suffix(c)}" for c in result.protected_deletes]
    sections = (("update", "Updated in place", "~ "), ("add", "Added", "+ "), ("delete", "Deleted", "- "))
    for action, title, mark in sections:
        items = [c for c in result.of(action) if not (action == "delete" and c.protected)]
        if items:
            lines += ["", f"{title}:"]
            for c in items:
                moved = f"  (renamed through an alias from {c.renamed_from})" if c.renamed_from else ""
                lines.append(f"  {mark} {_resource(c)}{moved}{_suffix(c)}")
                lines += [line for v in c.values for line in value_text(v, "       ")]
    lines += ["", verdict(result, allowed)]
    return "\n".join(lines)


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(result, allowed: bool = False) -> str:
    s = result.summary()
    icon = ":white_check_mark:" if not result.blocking else (":warning:" if allowed else ":no_entry:")
    if result.base_stack == result.head_stack:
        compared = f"Stack `{result.head_stack}`: the base plan → the head plan"
    else:
        compared = f"`{result.base_stack}` (base) → `{result.head_stack}` (head)"
    lines = [f"### {icon} Replacement guard: `{result.head_stack}`", "", compared, "",
             "| add | delete | update in place | **replace** | unchanged |",
             "| ---: | ---: | ---: | ---: | ---: |",
             f"| {s['add']} | {s['delete']} | {s['update']} | **{s['replace']}** | {s['unchanged']} |", ""]
    if result.of("replace"):
        lines += ["**Replaced** (deleted and created again):", "",
                  "| resource | property | before | after | why |", "| --- | --- | --- | --- | --- |"]
        for c in result.of("replace"):
            for r in c.reasons:
                lines.append(f"| `{c.name}` ({c.type}){' **protected**' if c.protected else ''} | `{r.path}` | "
                             f"`{_cell(show(r.base, 100))}` | `{_cell(show(r.head, 100))}` | {_cell(r.why)} |")
        lines.append("")
    if result.protected_deletes:
        lines += ["**Protected resources that would be deleted:**", ""]
        lines += [f"- `{c.name}` ({c.type})" for c in result.protected_deletes]
        lines.append("")
    details = []
    for action, title in (("update", "Updated in place"), ("add", "Added"), ("delete", "Deleted")):
        items = [c for c in result.of(action) if not (action == "delete" and c.protected)]
        if items:
            details += [f"**{title}**", ""]
            for c in items:
                moved = f" (renamed from `{c.renamed_from.rsplit('::', 1)[-1]}`)" if c.renamed_from else ""
                details.append(f"- `{c.name}` ({c.type}){moved}")
                for v in c.values:
                    if _multiline(v):
                        details.append(f"  - `{v.path}`: lines changed")
                        details += [f"    - `{_cell(line)}`" for line in line_changes(v)]
                    else:
                        details.append(f"  - `{v.path}`: `{_cell(show(v.base, 80))}` → `{_cell(show(v.head, 80))}`")
            details.append("")
    if details:
        lines += ["<details><summary>All changes</summary>", "", *details, "</details>", ""]
    lines.append(verdict(result, allowed).replace(f"`{LABEL}`", f"**`{LABEL}`**"))
    return "\n".join(lines)


def as_json(result, allowed: bool = False) -> str:
    def entry(c) -> dict[str, Any]:
        return {"urn": c.urn, "type": c.type, "name": c.name, "protected": c.protected}

    def changes(c) -> list[dict[str, Any]]:
        return [{"path": v.path, "base": v.base, "head": v.head} for v in c.values]

    doc = {
        "base": result.base, "head": result.head, "stack": result.head_stack,
        "base_stack": result.base_stack, "head_stack": result.head_stack,
        "summary": result.summary(),
        "replacements": [entry(c) | {"reasons": [{"path": r.path, "base": r.base, "head": r.head, "why": r.why}
                                                for r in c.reasons], "changes": changes(c)}
                         for c in result.of("replace")],
        "protected_deletes": [entry(c) for c in result.protected_deletes],
        "updates": [entry(c) | {"paths": c.paths, "changes": changes(c), "renamed_from": c.renamed_from}
                    for c in result.of("update")],
        "adds": [entry(c) for c in result.of("add")],
        "deletes": [entry(c) | {"retained": c.retained} for c in result.of("delete")],
        "blocking": result.blocking,
        "allowed": bool(allowed and result.blocking),
    }
    return json.dumps(doc, indent=1)
