"""gpufleet acts on the user's project (issue #13): found like ``pulumi`` finds it, from the
current directory or ``-C DIR``, with its own ``stackConfigDir``, fleet file and policy
configs; never the folder gpufleet was installed from (this checkout). Also the CLI's
set-up surface: ``--version``, every command's ``--help``, shell completion, ``./run``,
and the warning for a team that ``storage.buckets.grants`` leaves out."""
# ruff: noqa: F811  (pytest fixtures imported from test_preflight are redefined as test parameters)

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gpufleet import cli, project
from gpufleet.replicate import dump_document, load_document
from gpufleet.modules import config as stack_config

from .helpers import FIXTURE_STACKS
from .test_preflight import aws, no_credentials, quotas  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
#: stack files shaped like the shipped ones (with their comments): the suite's fixture project's
SOURCE_STACKS = FIXTURE_STACKS
NAME = "acme-ml"


def snapshot() -> dict[str, bytes]:
    """Every file of the folder gpufleet was installed from (this checkout) a command could wrongly
    write: its stack files and policy configs."""
    files = [*project.TEMPLATES_DIR.iterdir(), *(project.PACKAGE_ROOT / project.POLICY_CONFIG_DIR).glob("*.json")]
    return {str(p): p.read_bytes() for p in files if p.is_file()}


@pytest.fixture(autouse=True)
def checkout_untouched():
    """No test here changes a byte of the install folder's stack files or policy configs."""
    before = snapshot()
    yield
    assert snapshot() == before, "a command wrote into the folder gpufleet was installed from"


def write_stack(path: Path, source: Path, edits: dict[str, object] | None = None) -> None:
    """Copy a stack file, comments kept, with ``{"gpufleet:pools.gpu[1].max": 1}``-style edits."""
    doc = load_document(source.read_text())
    for dotted, value in (edits or {}).items():
        node = doc["config"]
        head, *rest = dotted.split(".")
        keys: list = [head]
        for part in rest:
            name, _, index = part.partition("[")
            keys += [name] + ([int(index[:-1])] if index else [])
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    path.write_text(dump_document(doc))


@pytest.fixture
def user_project(tmp_path) -> Path:
    """A project that is not this checkout: its own Pulumi.yaml (stackConfigDir infra/stacks),
    its own stacks (dev differs from the checkout's: train-spot max 1, budget $7,000) and
    fleet file, no policy configs yet."""
    root = tmp_path / "acme"
    stacks = root / "infra" / "stacks"
    stacks.mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(f"name: {NAME}\nruntime: python\nstackConfigDir: infra/stacks\n")
    write_stack(stacks / "Pulumi.dev.yaml", SOURCE_STACKS / "Pulumi.dev.yaml",
                {"gpufleet:pools.gpu[1].max": 1, "gpufleet:cost.busy.train-spot.nodes": 1,
                 "gpufleet:cost.budget_usd": 7000})
    for stack in ("staging", "prod"):
        shutil.copy(SOURCE_STACKS / f"Pulumi.{stack}.yaml", stacks)
    (stacks / "fleet.yaml").write_text("clusters:\n  - {stack: dev, region: us-east-1, role: primary}\n"
                                       "  - {stack: staging, region: us-east-1, role: standalone}\n")
    (root / "infra" / "deep" / "er").mkdir(parents=True)
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def header(root: Path) -> str:
    return f"project {NAME} ({root})"


def train_spot_max(doc: dict) -> int:
    ng = next(r for r in doc["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup"
              and r["name"].startswith("pool-train-spot"))
    return ng["inputs"]["scalingConfig"]["maxSize"]


# ---------------------------------------------------------------- finding the project

def test_find_walks_up_to_pulumi_yaml_and_honours_stack_config_dir(user_project):
    found = project.find(user_project / "infra" / "deep" / "er")
    assert found == project.Project(
        root=user_project, name=NAME, stacks_dir=user_project / "infra" / "stacks",
        policy_config_dir=user_project / "policies" / "config",
        fleet_file=user_project / "infra" / "stacks" / "fleet.yaml", project_file=user_project / "Pulumi.yaml")
    assert found.stacks() == ["dev", "prod", "staging"]
    assert found.shown(found.stack_file("dev")) == "infra/stacks/Pulumi.dev.yaml"


def test_without_stack_config_dir_the_stacks_are_next_to_pulumi_yml(tmp_path):
    (tmp_path / "Pulumi.yml").write_text("name: solo\nruntime: python\n")
    found = project.find(tmp_path)
    assert (found.name, found.stacks_dir, found.fleet_file) == ("solo", tmp_path, tmp_path / "fleet.yaml")


def test_a_directory_without_a_project_is_one_line_exit_2(tmp_path, capsys):
    empty = tmp_path / "not-a-project"
    empty.mkdir()
    for argv in (["plan", "dev"], ["cost", "dev"], ["policy", "dev", "--write-config"], ["fleet", "plan"],
                 ["replicate", "dev", "dev-west", "--region", "us-west-2", "--offline"], ["init", "x-dev"]):
        code, out, err = run(capsys, "-C", str(empty), *argv)
        assert (code, out) == (2, ""), argv
        assert err == (f"error: no Pulumi project in {empty} or above it (no Pulumi.yaml): run gpufleet inside "
                       "your project, or point at it with -C DIR\n"), argv
    assert list(empty.iterdir()) == []


def test_bad_project_file_and_bad_cwd_are_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("runtime: python\n")
    code, out, err = run(capsys, "-C", str(tmp_path), "plan", "dev")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith(f"error: {tmp_path}/Pulumi.yaml: name: got nothing; expected the project's name")
    code, out, err = run(capsys, "-C", str(tmp_path / "nope"), "plan", "dev")
    assert (code, out, err) == (2, "", f"error: -C {tmp_path / 'nope'}: no such directory\n")


# ---------------------------------------------------------------- every command acts on it

@pytest.mark.parametrize("where", ["root", "subdirectory", "-C"])
def test_plan_acts_on_the_users_project(user_project, capsys, monkeypatch, tmp_path, where):
    if where == "-C":
        monkeypatch.chdir(tmp_path)
        argv = ["-C", str(user_project / "infra" / "deep")]
    else:
        monkeypatch.chdir(user_project if where == "root" else user_project / "infra" / "deep" / "er")
        argv = []
    code, out, err = run(capsys, *argv, "plan", "dev", "--json")
    assert code == 0, err
    doc = json.loads(out)  # stdout stays pure JSON: the project line is on stderr
    assert err.splitlines()[0] == header(user_project)
    assert train_spot_max(doc) == 1  # the user's dev stack, not the checkout's (max 2)
    if where == "-C":
        assert os.getcwd() == str(tmp_path)  # -C moves into DIR for the command only


def test_text_output_names_the_project_first(user_project, capsys):
    code, out, _ = run(capsys, "-C", str(user_project), "plan", "dev")
    assert code == 0 and out.splitlines()[0] == header(user_project)
    assert "infra/stacks/Pulumi.dev.yaml" in out.splitlines()[1] or "infra/stacks/Pulumi.dev.yaml" in out


def test_cost_acts_on_the_users_project(user_project, capsys):
    code, out, _ = run(capsys, "-C", str(user_project), "cost", "dev")
    lines = out.splitlines()
    assert code == 0 and lines[0] == header(user_project)
    assert any("GPU pool train-spot: 0..1 ×" in line for line in lines), out
    code, out, err = run(capsys, "-C", str(user_project), "cost", "dev", "--format", "json")
    assert code == 0 and json.loads(out)["stack"] == "dev" and err.splitlines()[0] == header(user_project)


def test_policy_write_config_writes_into_the_users_project(user_project, capsys):
    code, out, _ = run(capsys, "-C", str(user_project / "infra"), "policy", "dev", "--write-config")
    assert code == 0
    head, config_line, pack_line = out.splitlines()  # the pack, written the first time: tests/test_init.py
    assert [head, config_line] == [header(user_project), "wrote policies/config/dev.json"]
    assert pack_line.startswith("wrote policies/PulumiPolicy.yaml, ")
    written = json.loads((user_project / "policies" / "config" / "dev.json").read_text())
    assert written["gpu-spend-within-budget"]["budgetUsd"] == 7000  # the user's budget
    code, printed, _ = run(capsys, "-C", str(user_project), "policy", "dev", "--config")
    assert code == 0 and json.loads(printed) == written


def test_replicate_writes_into_the_users_project(user_project, capsys, monkeypatch):
    monkeypatch.chdir(user_project / "infra" / "deep")
    code, out, err = run(capsys, "replicate", "dev", "dev-west", "--region", "us-west-2", "--offline")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == header(user_project)
    assert ("wrote infra/stacks/Pulumi.dev-west.yaml (2 GPU pools, 2 teams) and policies/config/dev-west.json; "
            "check it with `gpufleet plan dev-west`") in lines
    assert lines[-1] == ("to deploy it with the fleet, add it to infra/stacks/fleet.yaml: "
                         "- {stack: dev-west, region: us-west-2, role: replica}")
    raw = stack_config.read_stack_file(user_project / "infra" / "stacks" / "Pulumi.dev-west.yaml")
    assert raw["gpufleet:pools"]["gpu"][1]["max"] == 1  # a copy of the user's dev
    assert (user_project / "policies" / "config" / "dev-west.json").is_file()


def test_fleet_plan_reads_the_projects_fleet_file(user_project, capsys):
    code, out, _ = run(capsys, "-C", str(user_project), "fleet", "plan", "--jobs", "1")
    lines = out.splitlines()
    assert lines[0] == header(user_project)
    assert lines[1].startswith("gpufleet fleet plan: 2 clusters from infra/stacks/fleet.yaml in ")
    assert [line.split()[0] for line in lines[3:5]] == ["dev", "staging"]
    assert code in (0, 1) and "error" not in out


def test_preflight_finds_the_stack_in_the_users_project(user_project, aws, quotas, capsys):
    cfg, _ = stack_config.from_file(user_project / "infra" / "stacks" / "Pulumi.dev.yaml")
    quotas(cfg, {"L-DB2E81BA": 64, "L-3819A6DF": 384})
    code, out, err = run(capsys, "-C", str(user_project), "preflight", "dev")
    assert code == 0, out + err
    assert out.splitlines()[0] == header(user_project)
    assert "(L-3819A6DF): 384 vCPUs ≥ 96 needed by train-spot" in out  # max 1 node: the user's dev


def test_preflight_of_an_unknown_stack_names_the_projects_stacks(user_project, no_credentials, capsys):
    code, out, err = run(capsys, "-C", str(user_project), "preflight", "nope")
    assert (code, out) == (2, "")
    assert err == ("error: unknown stack 'nope': no file infra/stacks/Pulumi.nope.yaml "
                   f"(stacks of project {NAME}: dev, prod, staging)\n")


def test_an_unknown_stack_name_lists_the_projects_stacks(user_project, capsys):
    code, out, err = run(capsys, "-C", str(user_project), "plan", "nope")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("error: infra/stacks/Pulumi.nope.yaml: (file): got 'nope'; expected a stack name")
    assert f"(stacks of project {NAME} in infra/stacks/: dev, prod, staging)" in err


def test_diff_of_saved_plans_needs_no_project(user_project, tmp_path, capsys):
    code, out, _ = run(capsys, "-C", str(user_project), "plan", "dev", "--json")
    assert code == 0
    outside = tmp_path / "plans"
    outside.mkdir()
    (outside / "a.json").write_text(out)
    (outside / "b.json").write_text(out)
    code, out, err = run(capsys, "-C", str(outside), "diff", "a.json", "b.json")
    assert code == 0, err
    assert not out.startswith("project ") and "OK: nothing is replaced" in out


# ---------------------------------------------------------------- S3 grants (issue #13, 2)

@pytest.mark.on_data_day
def test_a_team_the_explicit_grants_leave_out_is_a_warning(user_project, capsys):
    stacks = user_project / "infra" / "stacks"
    teams = load_document((stacks / "Pulumi.prod.yaml").read_text())["config"]["gpufleet:teams"]
    ops = {"name": "ops", "shares": {"infer-l40s": 0}, "max_job_hours": 4}
    write_stack(stacks / "Pulumi.prod.yaml", SOURCE_STACKS / "Pulumi.prod.yaml",
                {"gpufleet:teams": [*teams, ops]})
    code, out, err = run(capsys, "-C", str(user_project), "plan", "prod", "--json")
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert warning == [(
        "warning: infra/stacks/Pulumi.prod.yaml: gpufleet:storage.buckets.grants lists applied, research but not "
        "team ops: it gets no access to the datasets and models buckets (add {team: ops, datasets: read, models: "
        "read-write} to grant the defaults, or datasets: none, models: none to say it is meant)")]
    plan = json.loads(out)
    roles = {r["name"] for r in plan["resources"] if r["type"] == "aws:iam/role:Role"}
    assert not any("data-access-ops" in name for name in roles)  # what the warning says: no access
    # without explicit grants every team gets the defaults: no warning
    code, _, err = run(capsys, "-C", str(user_project), "plan", "dev", "--json")
    assert code == 0 and "warning:" not in err


def test_storage_warnings_unit():
    from gpufleet.plan import storage_warnings
    from gpufleet.modules.schema.stack import StackConfig

    raw = stack_config.read_stack_file(SOURCE_STACKS / "Pulumi.prod.yaml")
    cfg = stack_config.validate(raw, "prod")
    assert storage_warnings(cfg, "prod") == []
    grants = raw["gpufleet:storage"]["buckets"]["grants"]
    raw["gpufleet:storage"]["buckets"]["grants"] = [grants[0]]
    cfg = StackConfig.model_validate(stack_config.sections(raw))
    assert [w.split(" but not ")[1].split(":")[0] for w in storage_warnings(cfg, "prod")] == ["team applied"]
    raw["gpufleet:storage"]["buckets"]["grants"].append({"team": "applied", "datasets": "none", "models": "none"})
    assert storage_warnings(StackConfig.model_validate(stack_config.sections(raw)), "prod") == []


# ---------------------------------------------------------------- --version, --help, completion

def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"gpufleet {version('gpufleet')}\n"


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*prefix, name), child
                yield from _commands(child, (*prefix, name))


def test_every_commands_help_lists_its_exit_codes_and_an_example(capsys):
    from gpufleet import exit_codes

    commands = list(_commands(cli.parser()))
    assert {"plan", "cost", "policy", "replicate", "init", "preflight", "diff", "fleet"} <= {c[0] for c, _ in commands}
    for argv, _ in commands:
        with pytest.raises(SystemExit):
            cli.main([*argv, "--help"])
        text = capsys.readouterr().out
        assert "\nexample:\n  gpufleet " in text or "\nexamples:\n  gpufleet " in text, argv
        for code, meaning in exit_codes.MEANING.items():
            assert f"  {code}  {meaning}" in text, argv


def test_stack_names_complete_from_the_project(user_project):
    pytest.importorskip("argcomplete")
    assert [w for w in _complete(f"gpufleet -C {user_project} plan ", user_project.parent)
            if not w.startswith("-")] == ["dev", "prod", "staging"]
    assert _complete("gpufleet replicate st", user_project / "infra" / "deep") == ["staging"]


def _complete(line: str, cwd: Path) -> list[str]:
    """What the shell gets when it asks for completions of ``line`` (argcomplete's protocol:
    the environment in, the words on file descriptor 8)."""
    import sys

    gpufleet = Path(sys.executable).parent / "gpufleet"
    env = {**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": "\n", "COMP_LINE": line,
           "COMP_POINT": str(len(line)), "COMP_TYPE": "9"}
    done = subprocess.run(["bash", "-c", f'"{gpufleet}" 8>&1 1>/dev/null 2>/dev/null'], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    return [w.strip() for w in done.stdout.split("\n") if w.strip()]
