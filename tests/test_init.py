"""``gpufleet init STACK [--env] [--region]`` (issue #13, 2): a new, commented stack from the
environment's template, its policy config, and its plan."""

from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path

import pytest
import yaml

from gpufleet import cli
from gpufleet import plan as planner
from gpufleet.project import TEMPLATES_DIR, find
from gpufleet.replicate import project_cidrs
from gpufleet.modules import catalog
from gpufleet.modules import config as stack_config

from .helpers import stack_source
from .test_project import SOURCE_STACKS


@pytest.fixture
def proj(tmp_path) -> Path:
    """A project with the shipped-shaped stacks (their VPC ranges taken) and no policies/ yet."""
    root = tmp_path / "platform"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: platform\nruntime: python\nstackConfigDir: stacks\n")
    for stack in ("dev", "staging", "prod"):
        shutil.copy(SOURCE_STACKS / f"Pulumi.{stack}.yaml", root / "stacks")
    return root


def init(capsys, proj: Path, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["-C", str(proj), "init", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_init_writes_a_commented_stack_and_its_policy_config_then_plans_it(proj, capsys):
    code, out, err = init(capsys, proj, "research-dev", "--region", "eu-west-1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"project platform ({proj})"
    assert lines[1].startswith("gpufleet init: research-dev, a dev stack in eu-west-1 (AZs eu-west-1a, eu-west-1b, "
                               "VPC 10.11.0.0/16) from the dev template")
    assert (f"wrote {stack_source('research-dev')} and policies/config/research-dev.json; replace the values marked "
            "`placeholder` before `pulumi up`") in lines
    assert any(line.startswith("plan of research-dev: ") for line in lines)
    assert any(line.startswith("Policy pack gpufleet") for line in lines)  # the plan's reports

    text = (proj / "stacks" / "Pulumi.research-dev.yaml").read_text()
    template = (TEMPLATES_DIR / "Pulumi.dev.yaml").read_text()
    assert text.startswith("# research-dev: a dev stack written by `gpufleet init` on ")
    # the template's comments are all there: a commented file
    for comment in (line.split("#", 1)[1] for line in template.splitlines() if "#" in line):
        assert comment in text
    # placeholders: no real account, each value to replace marked
    assert "111122223333" not in text and "arn:aws:iam::123456789012:role/PlatformAdmin" in text
    marked = [line.split(":")[0].strip(" -") for line in text.splitlines() if "# placeholder: " in line]
    assert marked == ["cost-center", "public_cidrs", "arn", "deployer_arn", "emails"]

    raw = yaml.safe_load(text)["config"]
    assert raw["aws:region"] == "eu-west-1"
    assert raw["gpufleet:network"]["azs"] == catalog.regions()["eu-west-1"][:2]
    cidr = ipaddress.IPv4Network(raw["gpufleet:network"]["cidr"])
    others = project_cidrs(find(proj), exclude={"research-dev"})
    assert not any(cidr.overlaps(n) for n in others.values())  # free among the project's stacks
    cfg, _ = stack_config.from_file(proj / "stacks" / "Pulumi.research-dev.yaml")
    assert cfg.environment == "dev"
    written = json.loads((proj / "policies" / "config" / "research-dev.json").read_text())
    assert cli.main(["-C", str(proj), "policy", "research-dev", "--config"]) == 0
    assert json.loads(capsys.readouterr().out) == written


def test_prod_in_a_region_with_three_azs(proj, capsys):
    code, _, err = init(capsys, proj, "prod-eu", "--env", "prod", "--region", "eu-central-1")
    assert code == 0, err
    raw = yaml.safe_load((proj / "stacks" / "Pulumi.prod-eu.yaml").read_text())["config"]
    assert raw["gpufleet:network"]["azs"] == catalog.regions()["eu-central-1"][:3]
    assert raw["gpufleet:network"]["cidr"] == "10.31.0.0/16"  # prod's 10.30.0.0/16 is taken
    assert raw["gpufleet:cluster"]["ci_runner"]["project"] == "gpufleet-prod-eu-runner"
    assert next(p for p in raw["gpufleet:pools"]["gpu"] if p.get("efa"))["efa_az"] == "eu-central-1a"


def test_an_empty_project_gets_its_stacks_dir_and_the_templates_range(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: fresh\nruntime: python\n")  # stacks next to Pulumi.yaml
    code, _, err = init(capsys, tmp_path, "staging")
    assert code == 0, err
    raw = yaml.safe_load((tmp_path / "Pulumi.staging.yaml").read_text())["config"]
    template = yaml.safe_load((TEMPLATES_DIR / "Pulumi.staging.yaml").read_text())["config"]
    assert raw["aws:region"] == template["aws:region"]  # default: the template's region
    assert raw["gpufleet:network"]["cidr"] == template["gpufleet:network"]["cidr"]  # free here: kept
    assert (tmp_path / "policies" / "config" / "staging.json").is_file()


@pytest.mark.parametrize("argv, message", [
    (["research-dev", "--env", "prod"], ("--env prod: the stack name 'research-dev' says dev, and the name decides "
                                         "the environment (name it e.g. research-dev-prod for a prod stack, or leave "
                                         "--env out)")),
    (["research", "--env", "dev"], ("stack name 'research': expected a stack name that says its environment: dev, "
                                    "staging or prod, alone or as its first or last dash-separated word (prod-west, "
                                    "research-dev) (e.g. research-dev)")),
    (["dev"], "already exists: gpufleet init never overwrites a stack"),
    (["prod-w1", "--region", "us-west-1"], ("--region us-west-1: has 2 AZs (us-west-1a, us-west-1c); the source "
                                            "stack uses 3")),
    (["dev-x", "--region", "mars-1"], "--region 'mars-1': not a region gpufleet knows"),
])
def test_bad_input_is_one_line_and_writes_nothing(proj, capsys, argv, message):
    before = sorted(p.relative_to(proj) for p in proj.rglob("*"))
    code, out, err = init(capsys, proj, *argv)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert message in err, err
    assert sorted(p.relative_to(proj) for p in proj.rglob("*")) == before


def test_the_exit_code_is_the_plans(proj, capsys, monkeypatch):
    monkeypatch.setattr(planner.Plan, "failed", property(lambda self: True))
    code, _, _ = init(capsys, proj, "team-dev")
    assert code == 1
    assert (proj / "stacks" / "Pulumi.team-dev.yaml").is_file()


# ---------------------------------------------------------------- the project's policy pack

def served_policies(python: str, pack_dir: Path, timeout: float = 60) -> tuple[str, set[str]]:
    """``python __main__.py`` in ``pack_dir``, as ``pulumi preview --policy-pack`` starts the
    pack: its name and the policies it serves over gRPC."""
    import subprocess

    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    server = subprocess.Popen([python, "__main__.py"], cwd=pack_dir, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        stub = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=timeout)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return info.name, {p.name for p in info.policies}


def pinned(requirement: str) -> str:
    """``name==version`` of a dependency in pyproject.toml."""
    import tomllib

    from .helpers import ROOT

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    [pin] = [d for d in deps if d.split("==")[0] == requirement]
    return pin


def test_init_writes_the_policy_pack_into_a_project_without_one(proj, capsys):
    import ast
    import sys
    from importlib.metadata import version

    from gpufleet.policies import POLICIES

    from gpufleet.reports.policy import PACK_DIR

    code, out, err = init(capsys, proj, "research-dev")
    assert code == 0, err
    assert ("wrote policies/PulumiPolicy.yaml, policies/__main__.py, policies/requirements.txt: the project's policy "
            "pack (`pulumi preview --policy-pack policies`)") in out.splitlines()
    pack = proj / "policies"
    meta = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
    assert meta["version"] == version("gpufleet")
    assert meta["runtime"] == yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())["runtime"]
    assert (pack / "requirements.txt").read_text().splitlines()[-2:] == [pinned("pulumi-policy"),
                                                                          f"gpufleet=={version('gpufleet')}"]

    def statements(path: Path) -> list[str]:  # the pack's code, docstring left out: the checkout's own pack's
        return sorted(ast.unparse(node) for node in ast.parse(path.read_text()).body[1:])

    assert statements(pack / "__main__.py") == statements(PACK_DIR / "__main__.py")
    name, served = served_policies(sys.executable, pack)
    assert name == "gpufleet" and served == {p.name for p in POLICIES}

    # a second stack: the pack is there, nothing rewritten
    before = {p.name: p.read_bytes() for p in pack.iterdir() if p.is_file()}
    code, out, err = init(capsys, proj, "second-dev")
    assert code == 0, err
    assert "policy pack" not in out
    assert {p.name: p.read_bytes() for p in pack.iterdir() if p.is_file()} == before


def test_a_projects_own_pack_is_kept(proj, capsys):
    (proj / "policies").mkdir()
    (proj / "policies" / "PulumiPolicy.yaml").write_text("runtime: python\n")  # the team's own pack
    code, out, err = init(capsys, proj, "research-dev")
    assert code == 0, err
    assert "policy pack" not in out
    assert sorted(p.name for p in (proj / "policies").iterdir()) == ["PulumiPolicy.yaml", "config"]
    assert (proj / "policies" / "PulumiPolicy.yaml").read_text() == "runtime: python\n"


def test_write_config_gives_an_existing_project_its_pack_once(proj, capsys):
    """A project that had its stacks before gpufleet was installed gets the pack with the first
    `policy <stack> --write-config` (what `pulumi preview --policy-pack-config` needs anyway)."""
    code = cli.main(["-C", str(proj), "policy", "dev", "--write-config"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[-2:] == [
        "wrote policies/config/dev.json",
        "wrote policies/PulumiPolicy.yaml, policies/__main__.py, policies/requirements.txt: the project's policy pack "
        "(`pulumi preview --policy-pack policies --policy-pack-config policies/config/dev.json`)"]
    pack = {p.name: p.read_bytes() for p in (proj / "policies").iterdir() if p.is_file()}
    assert sorted(pack) == ["PulumiPolicy.yaml", "__main__.py", "requirements.txt"]
    code = cli.main(["-C", str(proj), "policy", "staging", "--write-config"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[-1] == "wrote policies/config/staging.json"
    assert {p.name: p.read_bytes() for p in (proj / "policies").iterdir() if p.is_file()} == pack


def test_fleet_preview_runs_the_projects_pack_and_without_any_pack_is_one_line_exit_2(proj, capsys, monkeypatch):
    from pulumi import automation as auto

    from gpufleet.reports import policy

    from .test_fleet import RecordingPulumi

    (proj / "stacks" / "fleet.yaml").write_text("clusters:\n  - {stack: dev, region: us-east-1, role: primary}\n")
    pulumi = RecordingPulumi()
    monkeypatch.setattr(auto, "PulumiCommand", lambda *a, **k: pulumi)
    monkeypatch.setattr(policy, "PACK_DIR", None)  # an installed gpufleet: no checkout's pack to fall back to
    code = cli.main(["-C", str(proj), "fleet", "preview"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err == ("error: no policy pack for --policy-pack: policies/PulumiPolicy.yaml is missing (`gpufleet init` "
                   "writes the pack into a project that has none), or run without one: --no-policy\n")
    assert not pulumi.calls

    assert init(capsys, proj, "research-dev")[0] == 0
    assert cli.main(["-C", str(proj), "fleet", "preview"]) == 0, capsys.readouterr().err
    [preview] = [c for c in pulumi.calls if c[0] == "preview"]
    assert preview[preview.index("--policy-pack") + 1] == str(proj / "policies")
