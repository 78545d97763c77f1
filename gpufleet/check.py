"""``gpufleet check``: every offline check on every stack of a project, for CI and code scanning.

For each stack file, in order (a stack that does not validate stops there; the others go on):

- ``config`` – the stack file validates (:func:`modules.config.from_file`);
- ``plan`` – the real program runs under the mock engine (:func:`gpufleet.plan.render`);
- ``policy`` – the policy pack's verdicts on the plan (the plan's ``policy`` report):
  a mandatory violation is an error, an advisory one a warning;
- ``policy-config`` – ``policies/config/<stack>.json`` exists and is what
  ``gpufleet policy <stack> --config`` prints (else ``pulumi preview --policy-pack-config``
  judges the stack against other thresholds than the offline verdicts);
- ``will-it-run`` – a typical job of every team on every pool its queue may use is admitted
  by Kueue, scales the pool from zero, fits the node and is ready in time
  (:mod:`gpufleet.will_it_run`);
- ``system-fit`` – the add-ons fit the system pool's ``min`` nodes (:mod:`modules.fit`, when
  the install has it).

A stack that validates but that a storage grant leaves a team out of gets a warning (the
``config`` check warns; warnings never fail). The project is the current directory's
(:func:`find_project`: ``gpufleet.project``, like every command); ``--all`` is every stack
file of its stacks dir (:func:`all_stacks`).

:func:`check_stacks` returns one :class:`StackResult` per stack; :func:`exit_code` is the
highest code of any stack (0 every check passed or only warned, 1 a policy violation or a
failed check, 2 a stack that does not validate, 4 a bug). :func:`text`, :func:`markdown`,
:func:`to_json` and :func:`sarif` render the results (SARIF 2.1.0 for GitHub code scanning:
one result per finding, ruleId = the policy's or the check's name, located at the line of the
stack file to change).

Offline: no network, no AWS; it reads the project's files and writes nothing.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


from gpufleet.modules import config as stack_config

from . import exit_codes
from .stack_lines import line_finder

if TYPE_CHECKING:  # pragma: no cover
    from .project import Project

#: the checks, in the order they run and are shown
CHECKS = ("config", "plan", "policy", "policy-config", "will-it-run", "system-fit")
DESCRIPTIONS = {
    "config": "The stack file validates against the gpufleet schema (modules/schema).",
    "plan": "The Pulumi program renders the stack offline under the mock engine (gpufleet plan).",
    "policy": "The CrossGuard policy pack's verdicts on the offline plan.",
    "policy-config": "policies/config/<stack>.json exists and matches `gpufleet policy <stack> --config`.",
    "will-it-run": "A typical job of every team runs on every pool its Kueue queue may use.",
    "system-fit": "The platform add-ons fit the system pool's min nodes while the GPU pools are at zero.",
}
PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
#: SARIF levels of a policy violation's enforcement level
LEVELS = {"mandatory": "error", "advisory": "warning"}
SRCROOT = "%SRCROOT%"


# ---------------------------------------------------------------- the project

def find_project(start: Path | str | None = None) -> Project:
    """The project ``check`` acts on: the nearest ``Pulumi.yaml`` at or above ``start``
    (default: the current directory, which ``-C`` has moved), like every command."""
    from .project import find

    return find(start)


def all_stacks(project: Project) -> list[str]:
    """Every ``Pulumi.<stack>.yaml`` in the project's stacks dir, by name."""
    return project.stacks()


# ---------------------------------------------------------------- results

@dataclass(frozen=True)
class Finding:
    """One problem: a SARIF result."""

    #: SARIF ruleId: the policy's name, or the check's name
    rule: str
    #: "error" (fails the stack) or "warning"
    level: str
    message: str
    #: the file to fix, relative to the project root when inside it
    file: str
    line: int = 1
    #: what it is about: a resource, a team's job, a pool
    subject: str | None = None
    #: which of CHECKS found it
    check: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "rule": self.rule, "level": self.level, "message": self.message,
                "file": self.file, "line": self.line, "subject": self.subject}


@dataclass(frozen=True)
class Outcome:
    check: str
    status: str
    summary: str


@dataclass
class StackResult:
    stack: str
    #: the stack file as messages name it (``stacks/Pulumi.dev.yaml``)
    source: str
    outcomes: list[Outcome] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    code: int = exit_codes.OK

    @property
    def status(self) -> str:
        if self.code != exit_codes.OK:
            return FAIL
        return WARN if any(o.status == WARN for o in self.outcomes) else PASS

    def outcome(self, check: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.check == check), None)

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "source": self.source, "status": self.status, "exit_code": self.code,
                "checks": [{"check": o.check, "status": o.status, "summary": o.summary} for o in self.outcomes],
                "findings": [f.to_json() for f in self.findings]}


def exit_code(results: Sequence[StackResult]) -> int:
    """The highest exit code of any stack (0 when there is none)."""
    return max((r.code for r in results), default=exit_codes.OK)


def _pool_of(resource: str | None, pools: Iterable[str]) -> str | None:
    """The GPU pool a resource belongs to (``pool-<pool>-ng``), if any."""
    name = (resource or "").rsplit("::", 1)[-1]
    for pool in sorted(pools, key=len, reverse=True):
        if name.startswith(f"pool-{pool}-"):
            return pool
    return None


# ---------------------------------------------------------------- the checks

def _shown_file(path: Path, project: Project) -> str:
    """A file as findings name it: relative to the project root when inside it (a SARIF
    location relative to the repository), else its path."""
    try:
        return Path(path).resolve().relative_to(project.root.resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def _error_message(exc: BaseException, code: int) -> str:
    from .cli import message

    return message(exc, code)


def check_stack(stack_or_path: str, project: Project) -> StackResult:
    """Every check on one stack (a name in the project's stacks dir, or a stack file path)."""
    from . import plan as planner

    try:
        path, stack, shown = planner.resolve(stack_or_path, project)
    except stack_config.ConfigError as exc:
        path, stack, shown = Path(stack_or_path), stack_or_path, exc.source
    result = StackResult(stack, shown)
    file = _shown_file(path, project)
    line_of = line_finder(path)

    def add(check: str, status: str, summary: str, *findings: Finding) -> None:
        result.outcomes.append(Outcome(check, status, summary))
        result.findings.extend(findings)

    def skip_rest(reason: str) -> None:
        for check in CHECKS:
            if result.outcome(check) is None:
                add(check, SKIP, reason)

    def crashed(check: str, exc: BaseException) -> StackResult:
        code = exit_codes.classify(exc)
        rule = "config" if code == exit_codes.BAD_INPUT else check
        line = line_of(exc.key_path) if isinstance(exc, stack_config.ConfigError) else 1
        add(check, FAIL, "error", Finding(rule, "error", _error_message(exc, code), file, line, check=check))
        result.code = max(result.code, code)
        skip_rest(f"not run: {check} failed")
        return result

    # config
    try:
        if not path.is_file():
            if path.exists():
                stack_config.check_file(path, "stack file", shown=shown)
            raise planner.missing_stack(stack_or_path, shown, project)
        cfg, _ = stack_config.from_file(path, shown)
    except Exception as exc:  # noqa: BLE001 - every stack is reported, whatever happens to one
        return crashed("config", exc)
    warnings = [Finding("config", "warning", w.removeprefix("warning: ").removeprefix(f"{shown}: "), file,
                        line_of(key), key.removeprefix("gpufleet:"), check="config")
                for key, w in planner.config_warnings(cfg, shown)]
    add("config", WARN if warnings else PASS,
        f"{cfg.environment} in {cfg.region}, {len(cfg.pools.gpu)} GPU pools, {len(cfg.teams)} teams"
        + (f", {len(warnings)} warning(s)" if warnings else ""), *warnings)

    # plan (validates again: the plan is what `gpufleet plan` renders)
    try:
        plan = planner.render(stack_or_path, project)
    except Exception as exc:  # noqa: BLE001
        return crashed("plan", exc)
    cost = next((r.data for r in plan.reports if r.key == "cost"), None) or {}
    expected = (cost.get("monthly") or {}).get("expected")
    summary = f"{len(plan.resources)} resources"
    if expected is not None:
        summary += f", ${expected:,.0f}/month expected"
    others = [r.key for r in plan.reports if r.failed and r.key != "policy"]
    if others:
        add("plan", FAIL, summary, *(Finding("plan", "error", f"the plan's {k} report fails", file, check="plan")
                                     for k in others))
        result.code = max(result.code, exit_codes.POLICY)
    else:
        add("plan", PASS, summary)

    pools = [p.name for p in cfg.pools.gpu]
    steps = (("policy", lambda: _policy(plan, file, line_of, pools)),
             ("policy-config", lambda: _policy_config(path, stack, project)),
             ("will-it-run", lambda: _will_it_run(plan, file, line_of)),
             ("system-fit", lambda: _system_fit(cfg, file, line_of)))
    for check, run in steps:
        try:
            status, summary, findings = run()
        except Exception as exc:  # noqa: BLE001
            return crashed(check, exc)
        add(check, status, summary, *findings)
        if status == FAIL:
            result.code = max(result.code, exit_codes.POLICY)
    return result


_CONFIG_KEY = re.compile(r"gpufleet:[A-Za-z0-9_.\-\[\]]*[A-Za-z0-9_\]]")


def _policy_line(v: dict[str, Any], pool: str | None, line_of) -> int:
    """The line of the stack file a violation is fixed at: the first stack key its fix hint
    names (``gpufleet:pools.gpu[].max``, the pool's own item when the resource is a pool's),
    else the pool's item, else the environment."""
    key = _CONFIG_KEY.search(str(v.get("fix") or ""))
    if key:
        path = key.group(0)
        if pool:
            path = path.replace("gpu[]", f"gpu[{pool}]")
        return line_of(path.replace("[]", ""))
    return line_of(f"gpufleet:pools.gpu[{pool}]" if pool else "gpufleet:environment")


def _policy(plan: Any, file: str, line_of, pools: list[str]) -> tuple[str, str, list[Finding]]:
    report = next((r for r in plan.reports if r.key == "policy"), None)
    if report is None:
        return SKIP, "the plan has no policy report", []
    data = report.data or {}
    findings = []
    for v in data.get("violations") or []:
        resource = v.get("resource")
        name = (resource or "").rsplit("::", 1)[-1] or None
        pool = _pool_of(resource, pools)
        where = f" [{name}]" if name else ""
        fix = f" Fix: {str(v['fix']).rstrip('.')}." if v.get("fix") else ""
        findings.append(Finding(v.get("policy", "policy"), LEVELS.get(v.get("level"), "note"),
                                f"{str(v.get('message', '')).rstrip('.')}{where}.{fix}", file,
                                _policy_line(v, pool, line_of), name, check="policy"))
    mandatory = sum(f.level == "error" for f in findings)
    advisory = len(findings) - mandatory
    counts = data.get("summary") or {}
    if {"rules", "passed", "failed", "skipped"} <= set(counts):
        summary = (f"{counts['rules']} rules: {counts['passed']} passed, {counts['failed']} failed, "
                   f"{counts['skipped']} skipped")
    else:
        summary = f"{mandatory} mandatory, {advisory} advisory violation(s)" if findings else "no violations"
    status = FAIL if mandatory else WARN if advisory else PASS
    return status, summary, findings


def _policy_config(path: Path, stack: str, project: Project) -> tuple[str, str, list[Finding]]:
    """The project's ``policies/config/<stack>.json`` is what ``gpufleet policy <stack> --config``
    prints (the PR workflow's check before ``pulumi preview``)."""
    from .commands.policy import config_text

    if path.resolve().parent != project.stacks_dir.resolve():
        return SKIP, "the stack file is not in the project's stacks dir", []
    target = project.policy_config(stack)
    shown = _shown_file(target, project)
    fix = f"write it with `gpufleet policy {stack} --write-config` and commit it"
    if not target.is_file():
        return FAIL, f"{shown} missing", [Finding(
            "policy-config", "error",
            f"{shown} is missing: pulumi preview --policy-pack-config would judge the stack against the pack's "
            f"fallback thresholds; {fix}", _shown_file(path, project), 1, stack, check="policy-config")]
    _, expected = config_text(str(path), project)
    if target.read_text() != expected:
        return FAIL, f"{shown} stale", [Finding(
            "policy-config", "error",
            f"{shown} is stale: it no longer matches {_shown_file(path, project)}; {fix}", shown, 1, stack,
            check="policy-config")]
    return PASS, f"{shown} current", []


def _will_it_run(plan: Any, file: str, line_of) -> tuple[str, str, list[Finding]]:
    from . import will_it_run as wir

    facts = wir.stack_facts(plan)
    jobs = wir.team_jobs(plan, facts)
    findings = []
    for job in jobs:
        verdict = wir.check(job, facts)
        if verdict.runs:
            continue
        team, _, pool = job.name.partition("@")
        requests = ", ".join(f"{k}={v}" for k, v in sorted(job.pod_sets[0].requests.items()))
        reasons = "; ".join(verdict.reasons) or "Kueue admits it on no flavor"
        findings.append(Finding(
            "will-it-run", "error", f"team {team}'s typical job on pool {pool} ({requests}) would not run: {reasons}",
            file, line_of(f"gpufleet:teams[{team}]"), job.name, check="will-it-run"))
    if not jobs:
        return PASS, "no team jobs to run (no teams or GPU pools)", []
    teams = len({j.name.partition("@")[0] for j in jobs})
    if findings:
        return FAIL, f"{len(findings)} of {len(jobs)} team jobs would not run", findings
    return PASS, f"{len(jobs)} jobs of {teams} teams run on every pool they may use", []


def _fit_module():
    """:mod:`modules.fit`, or None where the install does not have it."""
    try:
        return importlib.import_module("gpufleet.modules.fit")
    except ModuleNotFoundError as exc:
        if exc.name not in ("gpufleet.modules.fit", "gpufleet.modules"):
            raise
        return None


def _system_fit(cfg: Any, file: str, line_of) -> tuple[str, str, list[Finding]]:
    fit = _fit_module()
    if fit is None or not hasattr(fit, "system_fit"):
        return SKIP, "no system-pool fit model (modules/fit.py) in this install", []
    result = fit.system_fit(cfg)
    short = result.shortfall()
    if short:
        return FAIL, "the add-ons do not fit", [Finding(
            "system-fit", "error", f"the system pool's {result.nodes} min nodes cannot hold the add-ons: {short}",
            file, line_of("gpufleet:pools.system.min"), "pools.system", check="system-fit")]
    spare = result.margin
    return PASS, (f"{result.nodes} × {result.node.instance}: {spare['cpu']:,}m CPU, {spare['memory']:,} MiB, "
                  f"{spare['pods']} pods to spare"), []


def check_stacks(stacks: Sequence[str], project: Project) -> list[StackResult]:
    """Every check on every stack, in the order given (duplicates once)."""
    return [check_stack(s, project) for s in dict.fromkeys(stacks)]


# the reports (text, Markdown, JSON, SARIF) live in their own module
from .check_report import markdown, render, sarif, text, to_json  # noqa: E402,F401
