"""The Pulumi entry point (``__main__.py``, what ``pulumi up`` runs) under the mock engine."""

from __future__ import annotations

import base64
import re
import runpy

import pulumi
import pytest

from gpufleet import engine
from gpufleet.modules import config as stack_config

from .helpers import ROOT, edit, raw_config, render, stack_source


def run_main(raw: dict) -> engine.RecordingMonitor:
    monitor = engine.install("gpufleet", "dev", raw, "us-east-1")
    stack_config.forget()

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    program()
    return monitor


def test_main_declares_the_same_resources_as_the_plan(dev_plan):
    monitor = run_main(raw_config("dev"))
    assert {r.urn for r in monitor.records.values()} == {r.urn for r in dev_plan.resources}


def test_main_fails_with_the_one_line_config_error_under_pulumi():
    raw = edit(raw_config("dev"), "gpufleet:pools.gpu[0].replicas", 1)
    with pytest.raises(pulumi.RunError, match=rf"^{re.escape(stack_source('dev'))}: gpufleet:pools\.gpu\[0\]\.replicas: got 1; "):
        run_main(raw)


def test_bottlerocket_pool_uses_its_data_volume_and_toml_settings():
    raw = edit(raw_config("dev"), "gpufleet:pools.gpu[1].ami", "bottlerocket")
    plan = render(raw)
    ng = plan.get("aws:eks/nodeGroup:NodeGroup", "pool-train-spot-ng").inputs
    assert ng["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    lt = plan.get("aws:ec2/launchTemplate:LaunchTemplate", "pool-train-spot-lt").inputs
    assert lt["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"
    settings = base64.b64decode(lt["userData"]).decode()
    assert "[settings.bootstrap-commands.k8s-ephemeral-storage]" in settings
    assert '"ephemeral-storage", "init"' in settings


def test_shared_values_come_from_the_global_stack_reference():
    raw = edit(raw_config("dev"), "gpufleet:shared", {"stack": "acme/gpufleet/global", "outputs": ["model_bucket_arn"]})
    plan = render(raw)
    ref = plan.get("pulumi:pulumi:StackReference", "global")
    assert ref.inputs["name"] == "acme/gpufleet/global"


def test_invokes_answer_under_the_mock_engine():
    import pulumi_aws as aws

    engine.install("gpufleet", "dev", raw_config("dev"), "us-east-1")
    seen = {}

    @pulumi.runtime.test
    def program():
        return aws.get_caller_identity_output().account_id.apply(lambda a: seen.update(account=a))

    program()
    assert seen["account"] == engine.ACCOUNT
