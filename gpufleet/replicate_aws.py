"""The AWS checks of a new stack's region, when credentials are there (and not ``--offline``):
its AZs ranked by which offer the pools' instance types, then the AZs exist, every pool's
instance types are offered there (a gap is a :class:`BadInput`: nothing is written) and the
GPU vCPU quotas cover the pools' max (a shortfall is a warning). An AWS error skips the
checks with the reason, as no credentials do."""

from __future__ import annotations

from gpufleet.modules import catalog
from gpufleet.modules.schema.stack import StackConfig

from . import aws_checks
from .replicate_input import BadInput


def clients_for(region: str, offline: bool) -> tuple[aws_checks.Clients | None, str | None]:
    """(clients, None) when the AWS checks can run, else (None, why not)."""
    if offline:
        return None, "--offline"
    if not aws_checks.credentials_available():
        return None, "no AWS credentials found (boto3 default chain)"
    return aws_checks.make_clients(region), None


def _not_run(exc: Exception) -> str:
    return f"the AWS checks could not run ({exc})"


def offered_azs(clients: aws_checks.Clients, cfg: StackConfig, region: str) -> tuple[list[str] | None, str | None]:
    """(the region's AZs where the account is offered the pools' instance types, best first,
    None), or (None, why the AWS checks could not run)."""
    from botocore.exceptions import BotoCoreError, ClientError

    pools = [p.instance_types for p in cfg.pools.gpu] + [cfg.pools.system.instance_types]
    try:
        return aws_checks.rank_azs(clients, catalog.regions()[region], pools), None
    except (ClientError, BotoCoreError) as exc:
        return None, _not_run(exc)


def check_region(cfg: StackConfig, source: str, clients: aws_checks.Clients) -> tuple[list[aws_checks.Finding],
                                                                                        str | None]:
    """(the findings, None), or ([], why the checks could not run). A missing AZ or instance
    type is a BadInput (nothing written)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        findings = aws_checks.check_azs(clients, cfg)
        if all(f.level != "fail" for f in findings):
            findings += aws_checks.check_offerings(clients, cfg)
        findings += aws_checks.check_quotas(clients, cfg)
    except (ClientError, BotoCoreError) as exc:
        return [], _not_run(exc)
    failed = [f for f in findings if f.level == "fail"]
    if failed:
        lines = "\n  ".join(f.message for f in failed)
        raise BadInput(f"{cfg.region} cannot host a replica of {source} as is "
                       f"(nothing written):\n  {lines}\n"
                       "Pick another region, --azs, or change instance types with --set.")
    return findings, None
