"""The pack as ``pulumi preview --policy-pack policies`` runs it: CrossGuard's own analyzer
servicer (the object ``PolicyPack`` serves over gRPC) gets the pack's policies, the
``--policy-pack-config`` file and protobuf-encoded resources, and must reach the same
verdicts as the offline path (``gpufleet plan``). One implementation, two callers.
"""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from gpufleet.reports.policy import PACK_DIR, load_pack

from .helpers import FIXTURE_POLICY_CONFIG
from .policy_support import foundation, offline

pack = load_pack()
LEVELS = {"advisory": 0, "mandatory": 1, "disabled": 2, "remediate": 3}


def servicer(config: dict) -> _PolicyAnalyzerServicer:
    svc = _PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", pack.POLICIES, EnforcementLevel.MANDATORY)
    svc.Configure(proto.ConfigureAnalyzerRequest(policyConfig={
        name: proto.PolicyConfig(
            enforcementLevel=LEVELS[entry.get("enforcementLevel", "mandatory")],
            properties=json_format.ParseDict({k: v for k, v in entry.items() if k != "enforcementLevel"},
                                             struct_pb2.Struct()))
        for name, entry in config.items()}), None)
    return svc


def struct(value: dict) -> struct_pb2.Struct:
    return json_format.ParseDict(value, struct_pb2.Struct())


def provider_of(rec, by_urn) -> proto.AnalyzerProviderResource | None:
    target = by_urn.get(rec.provider.rsplit("::", 1)[0]) if rec.provider else None
    if target is None:
        return None
    return proto.AnalyzerProviderResource(type=target.type, properties=struct(target.inputs), urn=target.urn,
                                          name=target.name)


def crossguard_verdicts(records, config: dict) -> set[tuple[str, str, str]]:
    """(policy, level, message) from Analyze (each custom resource) and AnalyzeStack."""
    svc = servicer(config)
    by_urn = {r.urn: r for r in records}
    diagnostics = []
    for r in records:
        if r.custom or r.type.startswith("pulumi:providers:"):
            diagnostics += svc.Analyze(proto.AnalyzeRequest(
                type=r.type, properties=struct(r.inputs), urn=r.urn, name=r.name,
                provider=provider_of(r, by_urn)), None).diagnostics
    diagnostics += svc.AnalyzeStack(proto.AnalyzeStackRequest(resources=[
        proto.AnalyzerResource(type=r.type, properties=struct(r.inputs), urn=r.urn, name=r.name,
                               parent=r.parent or "", dependencies=r.depends_on, provider=provider_of(r, by_urn),
                               options=proto.AnalyzerResourceOptions(parent=r.parent or ""))
        for r in records]), None).diagnostics
    out = set()
    for d in diagnostics:
        description = pack.policy(d.policyName).description
        assert d.message.startswith(description + "\n")  # CrossGuard prefixes the policy's description
        level = proto.EnforcementLevel.Name(d.enforcementLevel).lower()
        out.add((d.policyName, level, d.message[len(description) + 1:]))
    return out


def offline_verdicts(records, config: dict) -> set[tuple[str, str, str]]:
    return {(v.policy, v.level, v.message) for v in offline.run(records, config)}


@pytest.mark.on_data_day
def test_crossguard_and_offline_agree_on_a_noncompliant_stack():
    """The prod foundation (training on-demand) judged with dev's config file: many rules
    fire, identically on both paths."""
    records = foundation()
    next(r for r in records if r.name == "pool-train-a100-ng").inputs["capacityType"] = "ON_DEMAND"
    config = json.loads((FIXTURE_POLICY_CONFIG / "dev.json").read_text())
    config["cost-allocation-tags"]["acceptProviderDefaultTags"] = False
    crossguard = crossguard_verdicts(records, config)
    assert crossguard == offline_verdicts(records, config)
    fired = {policy for policy, _, _ in crossguard}
    assert fired == {"gpu-pool-scale-to-zero", "spot-for-training-outside-prod", "gpu-instance-type-allowlist",
                     "max-gpu-nodes-per-pool", "max-gpu-nodes-per-stack", "gpu-spend-within-budget",
                     "cost-tool-installed", "cost-allocation-tags", "single-nat-outside-prod"}
    assert ("no-spot-for-prod-inference", "mandatory") not in {(p, lvl) for p, lvl, _ in crossguard}


@pytest.mark.on_data_day
def test_crossguard_and_offline_agree_on_the_shipped_dev_stack(dev_plan):
    config = json.loads((FIXTURE_POLICY_CONFIG / "dev.json").read_text())
    assert crossguard_verdicts(dev_plan.resources, config) == offline_verdicts(dev_plan.resources, config) == set()


def test_main_serves_the_pack_over_grpc():
    """``python __main__.py`` in ``policies/`` (what Pulumi runs) prints its port and serves all policies."""
    server = subprocess.Popen([sys.executable, "__main__.py"], cwd=PACK_DIR, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        stub = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert info.name == "gpufleet"
    served = {p.name: p for p in info.policies}
    assert set(served) == {p.name for p in pack.POLICIES}
    assert {n: p.enforcementLevel for n, p in served.items() if p.enforcementLevel != proto.MANDATORY} == {
        "eks-version-standard-support": proto.ADVISORY}
    schema = served["gpu-spend-within-budget"].configSchema
    assert set(schema.properties) == {"environment", "budgetUsd", "spotDiscount"}
