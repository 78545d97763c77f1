"""``gpufleet fleet preview|up``: drive ``pulumi`` for every cluster of a fleet through the
Automation API (one ``LocalWorkspace`` stack per cluster, the stack file passed as
``config_file`` since ``stack_settings()`` ignores ``stackConfigDir``), the primary first,
the others under a concurrency limit, and a result table."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .fleet import Cluster, Fleet, Progress, Summary, table


@dataclass
class DeployResult:
    stack: str
    region: str
    role: str
    changes: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "error" if self.error else "ok"


def workspace_options(project_dir: Path, pulumi_command: Any = None, env: dict[str, str] | None = None) -> Any:
    from pulumi import automation as auto

    return auto.LocalWorkspaceOptions(work_dir=str(project_dir), pulumi_command=pulumi_command,
                                      env_vars=env or {})


def deploy_one(cluster: Cluster, action: Literal["preview", "up"], project_dir: Path,
               pulumi_command: Any = None, policy_pack: str | None = "policies",
               on_output: Callable[[str], None] | None = None) -> DeployResult:
    """``pulumi preview|up`` for one cluster through the Automation API (a local program in ``project_dir``)."""
    from pulumi import automation as auto

    start = time.perf_counter()
    result = DeployResult(cluster.stack, cluster.region, cluster.role)
    try:
        stack = auto.create_or_select_stack(
            stack_name=cluster.stack, work_dir=str(project_dir),
            opts=workspace_options(project_dir, pulumi_command))
        common: dict[str, Any] = {"config_file": str(cluster.path.resolve()), "on_output": on_output,
                                  "policy_packs": [policy_pack] if policy_pack else None}
        if action == "preview":
            out = stack.preview(diff=True, **common)
            result.changes = dict(out.change_summary or {})
        else:
            out = stack.up(on_event=lambda _e: None, **common)
            result.changes = dict(out.summary.resource_changes or {})
    except Exception as exc:  # noqa: BLE001 - one failed cluster is a row; the others go on
        result.error = _error_text(exc)
    result.seconds = time.perf_counter() - start
    return result


def _error_text(exc: Exception) -> str:
    """One line for the result table: the CLI's last stderr line for a failed pulumi command."""
    text = str(exc)
    if "stderr:" in text:
        lines = [ln.strip() for ln in text.split("stderr:", 1)[1].splitlines() if ln.strip()]
        if lines:
            return f"pulumi failed: {lines[-1]}"[:300]
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {first}"[:300]


def deploy(fleet: Fleet, action: Literal["preview", "up"], project_dir: Path, concurrency: int = 2,
           pulumi_command: Any = None, policy_pack: str | None = "policies",
           progress: Progress | None = None) -> list[DeployResult]:
    """Run ``action`` for every cluster, ``concurrency`` at a time; the primary goes first, alone
    (a broken change stops at one cluster), then the others."""
    clusters = list(fleet.clusters)
    first = [c for c in clusters if c.role == "primary"]
    rest = [c for c in clusters if c.role != "primary"]
    progress = progress or Progress(len(clusters), stream=None, label=f"fleet {action}")
    results: dict[str, DeployResult] = {}

    def run(c: Cluster) -> DeployResult:
        r = deploy_one(c, action, project_dir, pulumi_command, policy_pack)
        progress.step(Summary(c.stack, c.region, c.role, error=r.error, seconds=r.seconds))
        return r

    for c in first:
        results[c.stack] = run(c)
    if action == "up" and any(results[c.stack].error for c in first):
        for c in rest:
            results[c.stack] = DeployResult(c.stack, c.region, c.role, error="skipped: the primary failed")
    else:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures: dict[str, Future] = {c.stack: pool.submit(run, c) for c in rest}
            for name, fut in futures.items():
                results[name] = fut.result()
    progress.close()
    return [results[c.stack] for c in clusters]


def deploy_table(results: Sequence[DeployResult]) -> str:
    ops = ("create", "update", "replace", "delete", "same")
    rows = [("cluster", "region", "role", *ops, "time", "status")]
    for r in results:
        rows.append((r.stack, r.region, r.role, *(str(r.changes.get(op, 0)) if not r.error else "-" for op in ops),
                     f"{r.seconds:.1f}s", r.status))
    text = table(rows)
    errors = [f"{r.stack}: {r.error}" for r in results if r.error]
    return text + ("\n" + "\n".join(errors) if errors else "")


