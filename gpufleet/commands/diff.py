"""``gpufleet diff <base> <head>``: the replacement guard.

Compares two plans (stack names, stack files or ``gpufleet plan --json`` files) and lists
the resources ``pulumi up`` would replace (a property that cannot change in place) and
the protected resources it would delete, with a summary of adds, deletes and updates.
Exit 1 when there is a replacement or a protected delete (unless ``--allow-replace``),
0 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

LABEL = "allow-replace"


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

    try:
        base, head = diff.load(args.base), diff.load(args.head)
    except diff.DiffInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = diff.compare(base, head, args.base, args.head)
    out = {"text": text, "markdown": markdown, "json": as_json}[args.format](result, args.allow_replace)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 1 if result.blocking and not args.allow_replace else 0


# ---------------------------------------------------------------- output

def show(value: Any, limit: int = 80) -> str:
    if value is None:
        return "(unset)"
    s = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def reason_text(r) -> str:
    change = f"{show(r.base)} -> {show(r.head)}" if r.path != "(provider)" else ""
    return ", ".join(x for x in (change, r.why) if x)


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
    same = result.base_stack == result.head_stack
    stacks = result.head_stack if same else f"{result.base_stack} -> {result.head_stack}"
    return f"{result.base} -> {result.head} (stack {stacks})"


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
            lines += [f"       {r.path}: {reason_text(r)}" for r in c.reasons]
    if result.protected_deletes:
        lines += ["", "Protected resources that would be deleted:"]
        lines += [f"  -  {_resource(c)}{_suffix(c)}" for c in result.protected_deletes]
    sections = (("update", "Updated in place", "~ "), ("add", "Added", "+ "), ("delete", "Deleted", "- "))
    for action, title, mark in sections:
        items = [c for c in result.of(action) if not (action == "delete" and c.protected)]
        if items:
            lines += ["", f"{title}:"]
            for c in items:
                detail = f": {', '.join(c.paths)}" if c.paths else ""
                moved = "  (renamed through an alias)" if c.renamed_from else ""
                lines.append(f"  {mark} {_resource(c)}{detail}{moved}{_suffix(c)}")
    lines += ["", verdict(result, allowed)]
    return "\n".join(lines)


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(result, allowed: bool = False) -> str:
    s = result.summary()
    icon = ":white_check_mark:" if not result.blocking else (":warning:" if allowed else ":no_entry:")
    lines = [f"### {icon} Replacement guard: `{result.head_stack}`", "",
             f"`{result.base}` → `{result.head}`", "",
             "| add | delete | update in place | **replace** | unchanged |",
             "| ---: | ---: | ---: | ---: | ---: |",
             f"| {s['add']} | {s['delete']} | {s['update']} | **{s['replace']}** | {s['unchanged']} |", ""]
    if result.of("replace"):
        lines += ["**Replaced** (deleted and created again):", "",
                  "| resource | property | before | after | why |", "| --- | --- | --- | --- | --- |"]
        for c in result.of("replace"):
            for r in c.reasons:
                lines.append(f"| `{c.name}` ({c.type}){' **protected**' if c.protected else ''} | `{r.path}` | "
                             f"`{_cell(show(r.base, 60))}` | `{_cell(show(r.head, 60))}` | {_cell(r.why)} |")
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
            details += [f"- `{c.name}` ({c.type}){': ' + ', '.join(f'`{p}`' for p in c.paths) if c.paths else ''}"
                        for c in items]
            details.append("")
    if details:
        lines += ["<details><summary>All changes</summary>", "", *details, "</details>", ""]
    lines.append(verdict(result, allowed).replace(f"`{LABEL}`", f"**`{LABEL}`**"))
    return "\n".join(lines)


def as_json(result, allowed: bool = False) -> str:
    def entry(c) -> dict[str, Any]:
        return {"urn": c.urn, "type": c.type, "name": c.name, "protected": c.protected}

    doc = {
        "base": result.base, "head": result.head, "stack": result.head_stack,
        "summary": result.summary(),
        "replacements": [entry(c) | {"reasons": [{"path": r.path, "base": r.base, "head": r.head, "why": r.why}
                                                for r in c.reasons]} for c in result.of("replace")],
        "protected_deletes": [entry(c) for c in result.protected_deletes],
        "updates": [entry(c) | {"paths": c.paths, "renamed_from": c.renamed_from} for c in result.of("update")],
        "adds": [entry(c) for c in result.of("add")],
        "deletes": [entry(c) | {"retained": c.retained} for c in result.of("delete")],
        "blocking": result.blocking,
        "allowed": bool(allowed and result.blocking),
    }
    return json.dumps(doc, indent=1)
