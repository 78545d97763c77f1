"""``gpufleet preflight`` and the shared AWS checks, against moto (EC2, EKS) and Stubber (Service Quotas)."""

from __future__ import annotations

import shutil

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from gpufleet import aws_checks, cli
from gpufleet.replicate import replicate
from gpufleet.modules import config as stack_config

from .helpers import FIXTURE_STACKS, raw_config, validate

CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                   "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                   "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def _isolate(monkeypatch, tmp_path) -> None:
    for var in CREDENTIAL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path)
    assert not aws_checks.credentials_available()


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """Fake credentials and moto for every AWS call of the test."""
    _isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.fixture
def quotas(monkeypatch):
    """``quotas(cfg, {code: value})``: Service Quotas answers (Stubber; moto lacks EC2's codes),
    in the order check_quotas asks; asserts at teardown that every stubbed answer was used."""
    stubs: list[Stubber] = []

    def install(cfg, values: dict[str, float]):
        codes = sorted(aws_checks.vcpu_needs(cfg))
        assert set(values) <= set(codes), f"{values} vs needed {codes}"

        def make(region):
            clients = aws_checks.Clients(region, boto3.Session())
            client = clients.session.client("service-quotas", region_name=region)
            stub = Stubber(client)
            for code in codes:
                if code in values:
                    stub.add_response("get_service_quota",
                                      {"Quota": {"ServiceCode": "ec2", "QuotaCode": code, "Value": values[code]}},
                                      {"ServiceCode": "ec2", "QuotaCode": code})
                else:
                    stub.add_client_error("get_service_quota", "NoSuchResourceException", "no such quota",
                                          expected_params={"ServiceCode": "ec2", "QuotaCode": code})
            stub.activate()
            stubs.append(stub)
            clients._made["service-quotas"] = client
            return clients

        monkeypatch.setattr(aws_checks, "make_clients", make)

    yield install
    for stub in stubs:
        stub.assert_no_pending_responses()


@pytest.fixture
def stacks(tmp_path):
    """A private copy of the fixture stacks (tests never write into a project's stacks)."""
    directory = tmp_path / "stacks"
    directory.mkdir()
    for path in FIXTURE_STACKS.glob("Pulumi.*.yaml"):
        shutil.copy(path, directory)
    return directory


def cfg_of(stack: str):
    return validate(raw_config(stack))


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- pure parts

def test_vcpu_needs_sum_max_nodes_times_largest_type_per_quota():
    needs = aws_checks.vcpu_needs(cfg_of("prod"))
    assert needs == {
        "L-417A185B": (2 * 96, ["mig-a100"]),     # P on-demand: p4d.24xlarge × 2
        "L-7212CCBC": (4 * 96, ["train-a100"]),   # P spot
        "L-DB2E81BA": (6 * 4, ["infer-l40s"]),    # G/VT on-demand: g6e.xlarge × 6
    }
    dev = aws_checks.vcpu_needs(cfg_of("dev"))
    assert dev["L-3819A6DF"] == (2 * 96, ["train-spot"])  # the largest type (g6.24xlarge) counts


def test_efa_pools_are_checked_in_their_one_az_only():
    placements = aws_checks.pool_placements(cfg_of("prod"))
    assert placements["train-a100"] == (["p4d.24xlarge", "p4de.24xlarge"], ["us-east-1a"])
    assert placements["infer-l40s"][1] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert placements["system"] == (["m7i.xlarge"], ["us-east-1a", "us-east-1b", "us-east-1c"])


def test_quota_groups():
    assert aws_checks.quota_group("p5.48xlarge") == "P"
    assert aws_checks.quota_group("g6e.xlarge") == "G/VT"
    assert aws_checks.quota_group("m7i.large") is None


# ---------------------------------------------------------------- preflight against moto

def test_preflight_passes_for_dev_with_enough_quota(aws, quotas, capsys):
    quotas(cfg_of("dev"), {"L-DB2E81BA": 64, "L-3819A6DF": 384})
    code, out, err = run(capsys, "preflight", "dev")
    assert code == 0, out + err
    assert "offered in us-east-1a, us-east-1b" in out
    assert "(L-3819A6DF): 384 vCPUs ≥ 192 needed by train-spot" in out
    assert "no EKS cluster named gpufleet-dev yet" in out
    assert "preflight passed" in out and "FAIL" not in out


def test_low_quota_is_a_warning_not_a_failure(aws, quotas, capsys):
    quotas(cfg_of("prod"), {"L-417A185B": 96, "L-7212CCBC": 0, "L-DB2E81BA": 64})
    code, out, _ = run(capsys, "preflight", "prod")
    assert code == 0, out
    assert "WARN quotas    Running On-Demand P instances (L-417A185B) is 96 vCPUs in us-east-1, below the 192" in out
    assert "All P Spot Instance Requests (L-7212CCBC) is 0 vCPUs" in out
    # moto's offerings (like AWS's) have no p4de.24xlarge in us-east-1a, where the EFA pool sits:
    # p4d.24xlarge covers it, so that is a warning too.
    assert "WARN offerings pool train-a100: p4de.24xlarge not offered in us-east-1a" in out
    assert "3 warning(s), 0 failure(s)" in out


def test_unreadable_quota_is_a_warning(aws, quotas, capsys):
    quotas(cfg_of("dev"), {"L-DB2E81BA": 64})
    code, out, _ = run(capsys, "preflight", "dev")
    assert code == 0
    assert "(L-3819A6DF): could not read the quota" in out and "need 192 vCPUs at max" in out


def test_a_foreign_cluster_with_the_stack_cluster_name_fails(aws, quotas, capsys):
    _cluster("gpufleet-dev", tags={"team": "other"})
    quotas(cfg_of("dev"), {"L-DB2E81BA": 64, "L-3819A6DF": 384})
    code, out, _ = run(capsys, "preflight", "dev")
    assert code == 1
    assert "FAIL cluster   an EKS cluster named gpufleet-dev already exists in us-east-1, owned by nothing gpufleet knows" in out
    assert "preflight FAILED" in out


def test_the_stacks_own_cluster_is_fine(aws, quotas, capsys):
    _cluster("gpufleet-dev", tags={"gpufleet:stack": "dev"})
    quotas(cfg_of("dev"), {"L-DB2E81BA": 64, "L-3819A6DF": 384})
    code, out, _ = run(capsys, "preflight", "dev")
    assert code == 0
    assert "EKS cluster gpufleet-dev exists and belongs to stack dev" in out


def test_region_without_the_instance_types_fails(aws, quotas, stacks, capsys):
    # ap-southeast-1 offers no g6 instances: an offline replica there validates, preflight fails it.
    replicate("dev", "dev-sg", "ap-southeast-1", directory=stacks, offline=True)
    quotas(validate(stack_config.read_stack_file(stacks / "Pulumi.dev-sg.yaml")), {})
    code, out, _ = run(capsys, "preflight", "dev-sg", "--stacks-dir", str(stacks))
    assert code == 1
    assert ("FAIL offerings pool shared-l4: no instance type of the pool is offered in ap-southeast-1a, "
            "ap-southeast-1b: g6.xlarge not offered in ap-southeast-1a, ap-southeast-1b") in out
    assert "offerings pool system: " in out and "FAIL offerings pool system" not in out
    assert "preflight FAILED" in out


def test_an_az_the_account_does_not_have_fails(aws, quotas, stacks, capsys):
    # AZ names are per account: moto's account sees us-west-1a and us-west-1b, not us-west-1c.
    replicate("staging", "staging-usw1", "us-west-1", directory=stacks, offline=True)
    quotas(validate(stack_config.read_stack_file(stacks / "Pulumi.staging-usw1.yaml")), {})
    code, out, _ = run(capsys, "preflight", "staging-usw1", "--stacks-dir", str(stacks))
    assert code == 1
    assert ("FAIL azs       us-west-1c not available to this account in us-west-1 "
            "(available: us-west-1a, us-west-1b)") in out


def test_preflight_without_credentials_exits_3(no_credentials, capsys):
    code, out, err = run(capsys, "preflight", "dev")
    assert code == 3 and out == ""  # an external service (AWS) failed: exit_codes.EXTERNAL
    assert err.startswith("error: no AWS credentials found")


def test_preflight_unknown_stack_exits_2(aws, capsys):
    code, _, err = run(capsys, "preflight", "nope")
    assert code == 2
    assert "unknown stack 'nope'" in err


def _cluster(name: str, tags: dict[str, str]) -> None:
    eks = boto3.client("eks", region_name="us-east-1")
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": []}, tags=tags)
