"""``gpufleet preflight``: check a stack against the live AWS account before ``pulumi up``.

Runs every check of :mod:`gpufleet.aws_checks` in the stack's region: the AZs exist for the
account, each pool's instance types are offered in its AZs, the GPU vCPU quotas cover the
pools' max (a shortfall is a warning: scale-ups stall, nothing breaks), and no EKS cluster
named ``gpufleet-<stack>`` exists that another stack (or no stack) owns.

Exit status (:mod:`gpufleet.exit_codes`): 0 every check passed (warnings allowed), 1 a check
failed, 2 bad input (unknown stack, invalid stack file), 3 no AWS credentials or an AWS call
failed (the report still lists every check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gpufleet.modules import config as stack_config
from gpufleet.modules.platform import cluster_name
from gpufleet.modules.schema.stack import StackConfig

from . import aws_checks
from .exit_codes import ExternalServiceError
from .project import Project
from .replicate import BadInput, project_for

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


@dataclass
class Preflight:
    stack: str
    config: StackConfig
    findings: list[aws_checks.Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.level == "fail" for f in self.findings)

    @property
    def service_failed(self) -> bool:
        """An AWS call failed: the checks are incomplete (exit 3, not a verdict on the stack)."""
        return any(f.check == "aws" and f.level == "fail" for f in self.findings)

    def text(self) -> str:
        lines = [(f"gpufleet preflight: stack {self.stack}, cluster {cluster_name(self.stack)}, "
                  f"region {self.config.region}, AZs {', '.join(self.config.network.azs)}")]
        lines += [f"  {MARK[f.level]} {f.check:<9} {f.message}" for f in self.findings]
        counts = {level: sum(f.level == level for f in self.findings) for level in MARK}
        verdict = "FAILED" if self.failed else "passed"
        lines.append(f"preflight {verdict}: {counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failure(s)")
        return "\n".join(lines)


def load_stack(stack: str, directory: Path | None = None, project: Project | Path | None = None
               ) -> tuple[str, StackConfig]:
    """(stack name, validated config) for a stack name (in the project's stacks dir;
    ``directory``: another stacks dir) or a stack file path."""
    if stack.endswith((".yaml", ".yml")) or "/" in stack:
        path = Path(stack)
        name, shown = path.name.rsplit(".", 1)[0].removeprefix("Pulumi."), stack
    else:
        proj = project_for(project, directory)
        path, name = proj.stack_file(stack), stack
        shown = proj.shown(path)
        if not path.exists():
            raise BadInput(f"unknown stack {stack!r}: no file {shown} (stacks of project {proj.name}: "
                           f"{', '.join(proj.stacks()) or 'none'})")
    cfg, _ = stack_config.from_file(path, shown)  # the file as named: a missing or unreadable one is one line
    return name, cfg


def preflight(stack: str, directory: Path | None = None, project: Project | Path | None = None) -> Preflight:
    """Run the checks; ConfigError/BadInput for a bad stack, ExternalServiceError without credentials."""
    name, cfg = load_stack(stack, directory, project)
    if not aws_checks.credentials_available():
        raise ExternalServiceError("no AWS credentials found (environment, profile, SSO or instance role): "
                       "preflight checks the live account; log in (e.g. `aws sso login`) and retry")
    from botocore.exceptions import BotoCoreError, ClientError

    clients = aws_checks.make_clients(cfg.region)
    result = Preflight(name, cfg)
    for check in (lambda: aws_checks.check_azs(clients, cfg),
                  lambda: aws_checks.check_offerings(clients, cfg),
                  lambda: aws_checks.check_quotas(clients, cfg),
                  lambda: aws_checks.check_cluster_name(clients, cluster_name(name), name)):
        try:
            result.findings += check()
        except (ClientError, BotoCoreError) as exc:
            result.findings.append(aws_checks.Finding("aws", "fail", f"AWS call failed: {exc}"))
    return result
