"""How ``gpufleet check`` reports: a text table, Markdown for a PR comment, JSON, and SARIF
2.1.0 for GitHub code scanning (:mod:`gpufleet.check` runs the checks)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any



from . import exit_codes
from .reports import escape as esc

if TYPE_CHECKING:  # pragma: no cover
    from .project import Project

#: the checks, in the order they run and are shown

from .check import (CHECKS, DESCRIPTIONS, FAIL, LEVELS, PASS, SKIP, SRCROOT, WARN, Outcome,  # noqa: F401
                    StackResult, exit_code)


_MARK = {PASS: "ok", WARN: "warn", FAIL: "FAIL", SKIP: "-"}
_EMOJI = {PASS: ":white_check_mark:", WARN: ":warning:", FAIL: ":x:", SKIP: ":heavy_minus_sign:"}


def _verdict_line(results: Sequence[StackResult]) -> str:
    failed = [r.stack for r in results if r.status == FAIL]
    warned = [r.stack for r in results if r.status == WARN]
    line = f"{len(results)} stack(s): {len(results) - len(failed)} passed"
    if warned:
        line += f" ({len(warned)} with warnings)"
    line += f", {len(failed)} failed" + (f" ({', '.join(failed)})" if failed else "")
    return line + f"; exit {exit_code(results)}"


def text(results: Sequence[StackResult]) -> str:
    """A summary table (a row per stack, a column per check), then every finding."""
    header = [("stack", *CHECKS, "result")]
    rows = [(r.stack, *(_MARK[(r.outcome(c) or Outcome(c, SKIP, "")).status] for c in CHECKS),
             r.status.upper() if r.status == FAIL else r.status) for r in results]
    widths = [max(len(row[i]) for row in header + rows) for i in range(len(header[0]))]
    lines = [f"gpufleet check: {len(results)} stack(s)"]
    for n, row in enumerate(header + rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    for r in results:
        lines.append("")
        lines.append(f"{r.stack} ({r.source}): {r.status}")
        for o in r.outcomes:
            lines.append(f"  {o.check:<14} {_MARK[o.status]:<5} {o.summary}")
        for f in r.findings:
            lines.append(f"  {f.level.upper():<7} {f.rule}: {f.message} ({f.file}:{f.line})")
    lines.append("")
    lines.append(_verdict_line(results))
    return "\n".join(lines)


def markdown(results: Sequence[StackResult]) -> str:
    """For a PR comment: the summary table, then each stack's findings. Every name, path and
    message is escaped (:mod:`gpufleet.reports.escape`): a stack file's values never become
    markup, a mention or a link."""
    code = exit_code(results)
    icon = _EMOJI[PASS] if code == 0 else _EMOJI[FAIL]
    lines = [f"### {icon} gpufleet check", "",
             "| stack | " + " | ".join(CHECKS) + " | result |",
             "|---|" + "---|" * len(CHECKS) + "---|"]
    for r in results:
        cells = [_EMOJI[(r.outcome(c) or Outcome(c, SKIP, "")).status] for c in CHECKS]
        lines.append(f"| {esc.code(r.stack, cell=True)} | " + " | ".join(cells) + f" | **{r.status}** |")
    for r in results:
        if not r.findings:
            continue
        lines += ["", f"#### {esc.code(r.stack)} ({esc.code(r.source)})", ""]
        for f in r.findings:
            lines.append(f"- **{f.level}** {esc.code(f.rule)}: {esc.md(f.message)} ({esc.code(f'{f.file}:{f.line}')})")
    lines += ["", f"_{esc.md(_verdict_line(results))}_"]
    return "\n".join(lines)


def to_json(results: Sequence[StackResult], project: Project | None = None) -> dict[str, Any]:
    return {"project": {"name": project.name, "root": str(project.root)} if project else None,
            "checks": list(CHECKS), "exit_code": exit_code(results), "stacks": [r.to_json() for r in results]}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("gpufleet")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        return "0+unknown"


def _rules() -> list[dict[str, Any]]:
    """SARIF reportingDescriptors: every check, and every policy of the pack."""
    rules = [{"id": c, "name": c, "shortDescription": {"text": esc.sarif_text(DESCRIPTIONS[c])},
              "defaultConfiguration": {"level": "error"}, "properties": {"tags": ["gpufleet", "check"]}}
             for c in CHECKS if c != "policy"]
    from .reports import policy as policy_report

    for p in policy_report.load_pack().POLICIES:
        level = getattr(p.enforcement_level, "value", p.enforcement_level) or "advisory"
        rule = {"id": p.name, "name": p.name,
                "shortDescription": {"text": esc.sarif_text((p.description or p.name).strip())},
                "defaultConfiguration": {"level": LEVELS.get(str(level), "warning")},
                "properties": {"tags": ["gpufleet", "policy"]}}
        guide = getattr(policy_report, "guide", None)
        if guide is not None:
            fix, docs = guide(p.name)
            rule["help"] = {"text": esc.sarif_text(f"{fix} (docs: {docs})")}
        rules.append(rule)
    return rules


def _location(file: str, line: int) -> dict[str, Any]:
    artifact: dict[str, Any]
    if Path(file).is_absolute():
        artifact = {"uri": Path(file).as_uri()}
    else:
        artifact = {"uri": file, "uriBaseId": SRCROOT}
    return {"physicalLocation": {"artifactLocation": artifact, "region": {"startLine": max(1, int(line))}}}


def sarif(results: Sequence[StackResult], project: Project | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run of gpufleet, a result per finding, located in the file to fix."""
    rules = _rules()
    known = {r["id"] for r in rules}
    for f in (f for r in results for f in r.findings):
        if f.rule not in known:  # a policy the pack no longer lists, or a new check
            known.add(f.rule)
            rules.append({"id": f.rule, "name": f.rule, "shortDescription": {"text": esc.sarif_text(f.rule)}})
    index = {r["id"]: i for i, r in enumerate(rules)}
    out = []
    for r in results:
        for f in r.findings:
            identity = "|".join((f.rule, r.stack, f.subject or "", f.file))
            out.append({
                "ruleId": f.rule, "ruleIndex": index[f.rule], "level": f.level,
                "message": {"text": esc.sarif_text(f"stack {r.stack}: {f.message}")},
                "locations": [_location(f.file, f.line)],
                "partialFingerprints": {"gpufleetFinding/v1": hashlib.sha256(identity.encode()).hexdigest()[:32]},
                "properties": {"stack": r.stack, "check": f.check, **({"subject": f.subject} if f.subject else {})},
            })
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "gpufleet", "version": _version(), "rules": rules}},
        "invocations": [{"executionSuccessful": exit_code(results) in (exit_codes.OK, exit_codes.POLICY,
                                                                      exit_codes.BAD_INPUT),
                         "exitCode": exit_code(results)}],
        "results": out,
        "properties": {"stacks": {r.stack: r.status for r in results}},
    }
    if project is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": project.root.resolve().as_uri() + "/"}}
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": [run]}


def render(results: Sequence[StackResult], fmt: str, project: Project | None = None) -> str:
    if fmt == "json":
        return json.dumps(to_json(results, project), indent=1) + "\n"
    if fmt == "sarif":
        return json.dumps(sarif(results, project), indent=1) + "\n"
    if fmt == "markdown":
        return markdown(results) + "\n"
    return text(results) + "\n"
