"""Exit codes (issue #11, section 2): defined once, listed in ``--help`` and the README; 2 a
usage error or bad input, 3 an external failure (AWS, Pulumi), 4 a bug, each one line."""

from __future__ import annotations

import re

import pytest

from gpufleet import cli

from .helpers import ROOT
from .hostile_support import run


def test_exit_codes_are_defined_once_and_listed_in_help_and_readme(capsys):
    from gpufleet import exit_codes

    assert (exit_codes.OK, exit_codes.POLICY, exit_codes.BAD_INPUT, exit_codes.EXTERNAL) == (0, 1, 2, 3)
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Exit codes"):]
    for code, meaning in exit_codes.MEANING.items():
        assert f"  {code}  {meaning}" in out
        assert re.search(rf"^\| `{code}` \|", section, re.M), f"README lacks exit code {code}"
    with pytest.raises(SystemExit):
        cli.main(["plan", "--help"])
    assert "exit codes:" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["plan"])
    assert info.value.code == 2


def test_a_bug_is_one_line_and_its_own_exit_code(monkeypatch, capsys):
    from gpufleet import exit_codes
    from gpufleet import plan as planner

    def broken(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(planner, "render", broken)
    code, out, err, _ = run(capsys, "plan", "dev")
    assert code == exit_codes.INTERNAL == 4 and out == "" and err.count("\n") == 1
    assert err.startswith("error: internal error (a bug in gpufleet") and "ZeroDivisionError: division by zero" in err


def test_live_prices_without_credentials_exit_3(capsys, monkeypatch, tmp_path):
    from .test_preflight import _isolate

    _isolate(monkeypatch, tmp_path)
    code, out, err, _ = run(capsys, "cost", "dev", "--live-prices")
    assert code == 3 and out == "" and err.count("\n") == 1
    assert err.startswith("error: cannot get live prices for us-east-1: ")


def test_preflight_with_a_failing_aws_call_exits_3(capsys, monkeypatch, tmp_path):
    import boto3
    from botocore.stub import Stubber

    from gpufleet import aws_checks

    from .test_preflight import _isolate

    _isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def clients(region):
        made = aws_checks.Clients(region, boto3.Session())
        for service in ("ec2", "service-quotas", "eks"):
            client = made.session.client(service, region_name=region)
            stub = Stubber(client)
            if service == "ec2":
                stub.add_client_error("describe_availability_zones", "UnauthorizedOperation", "not authorized")
            stub.activate()
            made._made[service] = client
        return made

    monkeypatch.setattr(aws_checks, "make_clients", clients)
    code, out, err, _ = run(capsys, "preflight", "dev")
    assert code == 3, out + err
    assert "AWS call failed" in out and "UnauthorizedOperation" in out
    assert err.count("\n") == 1 and err.startswith("error: an AWS call failed")


def test_fleet_preview_with_pulumi_failing_exits_3(capsys, monkeypatch):
    from pulumi import automation as auto

    from .test_fleet import RecordingPulumi

    monkeypatch.setattr(auto, "PulumiCommand", lambda *a, **k: RecordingPulumi(fail=("prod",)))
    code, out, err, _ = run(capsys, "fleet", "preview", "--no-policy")
    assert code == 3, out + err
    assert "prod: pulumi failed: error: prod broke" in out


def test_pulumi_cli_missing_exits_3(capsys, monkeypatch):
    from pulumi import automation as auto

    def missing(*a, **k):
        raise FileNotFoundError("pulumi")

    monkeypatch.setattr(auto, "PulumiCommand", missing)
    code, out, err, _ = run(capsys, "fleet", "up")
    assert code == 3 and out == "" and err.startswith("error: the pulumi CLI is not installed")
