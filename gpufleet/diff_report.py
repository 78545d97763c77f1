"""How ``gpufleet diff`` shows a comparison (:class:`gpufleet.diff.PlanDiff`): text for a
terminal, Markdown for the PR comment (the replacement guard's sticky comment) and JSON.

Each lists the replacements first (the property that forces each one, its old and new
value, and why) and the protected deletes, then every update with its old and new values.
Plans are named by their stacks (and a plan file by its file name, never its directory:
a PR comment never shows a runner's paths). The verdict names the PR label that accepts a
replacement (``allow-replace``).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .diff_plan import covered
from .reports import escape as esc

if TYPE_CHECKING:  # pragma: no cover
    from .diff import Change, PlanDiff
    from .diff_rules import Reason

#: the PR label (and ``--allow-replace``) that accepts replacements and protected deletes
LABEL = "allow-replace"
#: the sections after the replacements and protected deletes: action, title, text mark
SECTIONS = (("update", "Updated in place", "~ "), ("add", "Added", "+ "), ("delete", "Deleted", "- "))


def show(value: Any, limit: int = 80) -> str:
    """A value on one line, cut to ``limit`` characters (``None``: ``(unset)``)."""
    if value is None:
        return "(unset)"
    s = value if isinstance(value, str) and "\n" not in value else json.dumps(value, separators=(",", ":"),
                                                                              sort_keys=True)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _multiline(v: Reason) -> bool:
    return isinstance(v.base, str) and isinstance(v.head, str) and ("\n" in v.base or "\n" in v.head)


def line_changes(v: Reason, limit: int = 12) -> list[str]:
    """A multi-line value (a ConfigMap's data, a policy document) as the lines it loses
    (``-``) and gains (``+``), at most ``limit``."""
    changed = [line for line in difflib.ndiff(v.base.splitlines(), v.head.splitlines()) if line[:1] in "+-"]
    more = len(changed) - limit
    return [show(line, 120) for line in changed[:limit]] + ([f"... ({more} more changed lines)"] if more > 0 else [])


def value_text(v: Reason, indent: str = "") -> list[str]:
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


def _resource(c: Change) -> str:
    return f"{c.type} {c.name}"


def _suffix(c: Change) -> str:
    notes = ["PROTECTED"] if c.protected else []
    notes += ["retained on delete"] if c.retained else []
    return f"  ({', '.join(notes)})" if notes else ""


def verdict(result: PlanDiff, allowed: bool) -> str:
    n_rep, n_prot = len(result.of("replace")), len(result.protected_deletes)
    if not result.blocking:
        return "OK: nothing is replaced and no protected resource is deleted."
    what = " and ".join(x for x in (f"{n_rep} replacement{'s' * (n_rep != 1)}" if n_rep else "",
                                    f"{n_prot} protected delete{'s' * (n_prot != 1)}" if n_prot else "") if x)
    if allowed:
        return f"ALLOWED: {what} (accepted with --allow-replace / the `{LABEL}` label)."
    return f"BLOCKED: {what}. Review them; to accept, add the `{LABEL}` label to the PR (or pass --allow-replace)."


def _heading(result: PlanDiff) -> str:
    return f"{side(result.base, result.base_stack)} -> {side(result.head, result.head_stack)}"


def _listed(result: PlanDiff, action: str) -> list[Change]:
    """The changes of one of :data:`SECTIONS` (a protected delete is listed before them)."""
    return [c for c in result.of(action) if not (action == "delete" and c.protected)]


def text(result: PlanDiff, allowed: bool = False) -> str:
    s = result.summary()
    lines = [f"gpufleet diff: {_heading(result)}",
             (f"  {s['add']} to add, {s['delete']} to delete, {s['update']} to update in place, "
              f"{s['replace']} to replace, {s['unchanged']} unchanged")]
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
            also = [v for v in c.values if not covered(v.path, forcing)]
            if also:
                lines.append("       also changes:")
                lines += [line for v in also for line in value_text(v, "         ")]
    if result.protected_deletes:
        lines += ["", "Protected resources that would be deleted:"]
        lines += [f"  -  {_resource(c)}{_suffix(c)}" for c in result.protected_deletes]
    for action, title, mark in SECTIONS:
        items = _listed(result, action)
        if items:
            lines += ["", f"{title}:"]
            for c in items:
                moved = f"  (renamed through an alias from {c.renamed_from})" if c.renamed_from else ""
                lines.append(f"  {mark} {_resource(c)}{moved}{_suffix(c)}")
                for v in c.values:
                    lines += value_text(v, "       ")
                    if v.why and action == "update":
                        lines.append(f"         why: {v.why}")
    lines += ["", verdict(result, allowed)]
    return "\n".join(lines)


def markdown(result: PlanDiff, allowed: bool = False) -> str:
    """The PR comment. Every name, type, path and value comes from the plans (a plan file may be
    anyone's) and is escaped (:mod:`gpufleet.reports.escape`): code spans for names and values,
    escaped text for the reasons."""
    code, md = esc.code, esc.md
    s = result.summary()
    icon = ":white_check_mark:" if not result.blocking else (":warning:" if allowed else ":no_entry:")
    if result.base_stack == result.head_stack:
        compared = f"Stack {code(result.head_stack)}: the base plan → the head plan"
    else:
        compared = f"{code(result.base_stack)} (base) → {code(result.head_stack)} (head)"
    lines = [f"### {icon} Replacement guard: {code(result.head_stack)}", "", compared, "",
             "| add | delete | update in place | **replace** | unchanged |",
             "| ---: | ---: | ---: | ---: | ---: |",
             f"| {s['add']} | {s['delete']} | {s['update']} | **{s['replace']}** | {s['unchanged']} |", ""]
    if result.of("replace"):
        lines += ["**Replaced** (deleted and created again):", "",
                  "| resource | property | before | after | why |", "| --- | --- | --- | --- | --- |"]
        for c in result.of("replace"):
            for r in c.reasons:
                lines.append(f"| {code(c.name, cell=True)} ({md(c.type)}){' **protected**' if c.protected else ''} | "
                             f"{code(r.path, cell=True)} | {code(show(r.base, 100), cell=True)} | "
                             f"{code(show(r.head, 100), cell=True)} | {md(r.why)} |")
        lines.append("")
    if result.protected_deletes:
        lines += ["**Protected resources that would be deleted:**", ""]
        lines += [f"- {code(c.name)} ({md(c.type)})" for c in result.protected_deletes]
        lines.append("")
    details = []
    for action, title, _ in SECTIONS:
        items = _listed(result, action)
        if items:
            details += [f"**{title}**", ""]
            for c in items:
                moved = f" (renamed from {code(c.renamed_from.rsplit('::', 1)[-1])})" if c.renamed_from else ""
                details.append(f"- {code(c.name)} ({md(c.type)}){moved}")
                for v in c.values:
                    if _multiline(v):
                        details.append(f"  - {code(v.path)}: lines changed")
                        details += [f"    - {code(line)}" for line in line_changes(v)]
                    else:
                        details.append(f"  - {code(v.path)}: {code(show(v.base, 80))} → {code(show(v.head, 80))}")
                    if v.why and action == "update":
                        details.append(f"    - why: {md(v.why)}")
            details.append("")
    if details:
        lines += ["<details><summary>All changes</summary>", "", *details, "</details>", ""]
    lines.append(verdict(result, allowed).replace(f"`{LABEL}`", f"**`{LABEL}`**"))
    return "\n".join(lines)


def as_json(result: PlanDiff, allowed: bool = False) -> str:
    def entry(c: Change) -> dict[str, Any]:
        return {"urn": c.urn, "type": c.type, "name": c.name, "protected": c.protected}

    def changes(c: Change) -> list[dict[str, Any]]:
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


#: ``--format`` -> how the comparison is shown
FORMATS = {"text": text, "markdown": markdown, "json": as_json}
