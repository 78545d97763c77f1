"""The suite runs on its own fixture project (tests/fixtures/project), never on the stacks the
user keeps in the checkout (DEVELOPING.md, "tests/"; issue #13, section 2): after the README's
`gpufleet replicate prod prod-west` and a new pool and team in prod, the suite sees what it
saw before, and `gpufleet check --all` is what judges the user's stacks."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gpufleet import cli
from gpufleet import plan as planner

from .conftest import shipped_plan
from .helpers import (
    FIXTURE_FLEET,
    FIXTURE_POLICY_CONFIG,
    FIXTURE_ROOT,
    FIXTURE_STACKS,
    ROOT,
    STACK_FOLDER,
    STACKS,
    raw_config,
    stack_path,
    stack_source,
)

TESTS = Path(__file__).resolve().parent
#: what the before-stop hook flags in a test module: the checkout's stack folder by its literal
#: path segment, or the config module's name for it (built here so this file does not match)
HOOK = re.compile("(^|[^/a-z_])" + "stacks" + "/|" + "STACKS" + "_DIR", re.MULTILINE)
#: the repository root joined with its stack or policy-config folders
CHECKOUT_DIRS = re.compile(r"""\bROOT\s*/\s*["'](?:stacks|policies["']\s*/\s*["']config)["']""")
#: gpufleet.reports.policy's CONFIG_DIR is the current directory's project at import time
IMPORT_TIME_PROJECT = re.compile(r"import[^\n]*\bCONFIG_DIR\b")


def _copy_project(target: Path) -> Path:
    shutil.copytree(FIXTURE_ROOT, target, ignore=shutil.ignore_patterns(".hypothesis", "__pycache__"))
    return target


def _grow_prod(stacks_dir: Path) -> None:
    """What a platform team does next: a new inference pool and a team that uses it (the
    budget raised to cover the pool at max)."""
    path = stacks_dir / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    config = doc["config"]
    config["gpufleet:pools"]["gpu"].append(
        {"name": "infer-extra", "purpose": "inference", "instance_types": ["g6e.xlarge"], "max": 1})
    config["gpufleet:teams"].append({"name": "vision", "shares": {"infer-extra": 100}, "max_job_hours": 24})
    config["gpufleet:cost"]["budget_usd"] = 110_000
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _use_the_checkout_like_project(checkout: Path, capsys) -> None:
    """The README's replicate, then a pool and a team in prod, through the real CLI; the
    policy configs rewritten so the user's own check passes."""
    code = cli.main(["-C", str(checkout), "replicate", "prod", "prod-west", "--region", "us-west-2", "--offline"])
    assert code == 0, capsys.readouterr().err
    _grow_prod(checkout / STACK_FOLDER)
    assert cli.main(["-C", str(checkout), "policy", "prod", "--write-config"]) == 0
    capsys.readouterr()


# ---------------------------------------------------------------- the fixture project

def test_the_fixture_project_is_a_project_of_its_own():
    assert FIXTURE_ROOT.is_relative_to(TESTS)
    mine, repo = (yaml.safe_load((d / "Pulumi.yaml").read_text()) for d in (FIXTURE_ROOT, ROOT))
    # the same project name and stack folder: messages name files as the shipped project does
    assert (mine["name"], mine["stackConfigDir"]) == (repo["name"], repo["stackConfigDir"])
    assert (mine["name"], mine["stackConfigDir"]) == ("gpufleet", STACK_FOLDER)
    assert STACKS == sorted(p.name[len("Pulumi."):-len(".yaml")] for p in FIXTURE_STACKS.glob("Pulumi.*.yaml"))
    assert STACKS == ["dev", "prod", "staging"]
    assert sorted(p.stem for p in FIXTURE_POLICY_CONFIG.glob("*.json")) == STACKS
    assert FIXTURE_FLEET.is_file()
    for stack in STACKS:
        assert stack_path(stack).parent == FIXTURE_STACKS
        plan = shipped_plan(stack)
        assert plan.source == stack_source(stack)
        assert plan.config.region == raw_config(stack)["aws:region"]


def test_commands_in_a_test_act_on_the_fixture_project(capsys):
    """The autouse fixture puts every test in the fixture project's directory: a command that
    finds its project from there plans the fixture's stacks."""
    assert Path.cwd() == FIXTURE_ROOT
    assert cli.main(["plan", "prod", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["stack"] == "prod"
    assert out.err.startswith(f"project gpufleet ({FIXTURE_ROOT})")


# ---------------------------------------------------------------- the user's stacks do not reach the suite

def test_replicating_and_growing_the_users_stacks_leaves_the_suites_fixtures_as_they_were(tmp_path, monkeypatch,
                                                                                          capsys):
    """A checkout-like project (a copy of the fixture project) gets the README's replicate and a
    new pool and team in prod; run from there, the suite's fixtures are still the fixture
    project's, while `gpufleet check --all` judges the user's four stacks."""
    before = {s: raw_config(s) for s in STACKS}
    checkout = _copy_project(tmp_path / "checkout")
    _use_the_checkout_like_project(checkout, capsys)
    user_stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (checkout / STACK_FOLDER).glob("Pulumi.*.yaml"))
    assert user_stacks == ["dev", "prod", "prod-west", "staging"]

    monkeypatch.chdir(checkout)  # as `./run test` runs in the user's checkout
    spec = importlib.util.spec_from_file_location("_helpers_seen_from_the_checkout", TESTS / "helpers.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    assert helpers.STACKS == STACKS == ["dev", "prod", "staging"]  # not the checkout's four
    assert helpers.FIXTURE_ROOT == FIXTURE_ROOT
    assert {s: helpers.raw_config(s) for s in STACKS} == before  # prod without the new pool and team
    prod = planner.render("prod", FIXTURE_ROOT)  # what conftest's shipped_plan renders
    assert [p.name for p in prod.config.pools.gpu] == [p.name for p in shipped_plan("prod").config.pools.gpu]
    assert "infer-extra" not in {p.name for p in prod.config.pools.gpu}
    assert "vision" not in {t.name for t in prod.config.teams}

    # the user's stacks are judged by `gpufleet check`, on their own project
    code = cli.main(["check", "--all", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert [s["stack"] for s in doc["stacks"]] == user_stacks
    prod_result = next(s for s in doc["stacks"] if s["stack"] == "prod")
    assert "4 GPU pools, 3 teams" in prod_result["checks"][0]["summary"]


@pytest.mark.slow
def _this_sessions_collection(session: pytest.Session) -> list[str] | None:
    """The test ids this session collected, when it collected the whole suite (no -k, -m or
    --deselect, every test module): what a pristine checkout's own collection is, without
    collecting it again in a new process; None otherwise."""
    option = session.config.option
    if option.keyword or option.markexpr or getattr(option, "deselect", None):
        return None
    if {item.path for item in session.items} != set(TESTS.glob("test_*.py")):
        return None
    return sorted(item.nodeid for item in session.items)


def test_the_suite_of_a_checkout_with_grown_stacks_collects_and_passes_as_before(tmp_path, capsys, request):
    """End to end: a copy of the repository whose stack folder gets the README's replicate and a new
    pool and team in prod. Its suite collects exactly the tests a pristine copy collects (no
    test is parametrised by the user's stacks), and the tests the issue saw fail on such a
    checkout pass."""
    checkout = tmp_path / "checkout"
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".hypothesis", "*.egg-info", "bench-*.json",
                                    ".pytest_cache", "build")
    shutil.copytree(ROOT, checkout, ignore=ignore)

    # the copy's own bytecode (its three runs import the same ~90 test modules: the first writes
    # what the next two read, ~6 s less when the environment says not to write bytecode)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def pytest_in_checkout(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=checkout, capture_output=True, text=True,
                              timeout=900, check=False, env=env)

    def collected() -> list[str]:
        result = pytest_in_checkout("--collect-only")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return sorted(line for line in result.stdout.splitlines() if "::" in line)

    pristine = _this_sessions_collection(request.session) or collected()
    assert len(pristine) > 500
    _use_the_checkout_like_project(checkout, capsys)
    assert (checkout / STACK_FOLDER / "Pulumi.prod-west.yaml").is_file()
    assert collected() == pristine
    result = pytest_in_checkout(  # what broke on such a checkout: bucket names and prices per region, the
        # policy config of every stack, the fleet file's stacks, a plan of every stack
        "tests/test_storage.py::test_buckets_are_private_encrypted_tls_only_and_protected",
        "tests/test_cost_basis.py::test_every_price_of_a_non_us_east_1_stack_says_us_east_1",
        "tests/test_cli.py::test_plan_json_document",
        "tests/test_policies_plan.py::test_policy_pack_config_files_match_the_stacks",
        "tests/test_fleet.py::test_shipped_fleet_file_names_the_shipped_stacks")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]


# ---------------------------------------------------------------- no test module reads the checkout's stacks

@pytest.mark.parametrize("module", sorted(p.name for p in TESTS.glob("*.py")))
def test_no_test_module_references_the_checkouts_stacks(module):
    text = (TESTS / module).read_text()
    assert not HOOK.search(text), [m.group(0) for m in HOOK.finditer(text)]
    assert not CHECKOUT_DIRS.search(text), CHECKOUT_DIRS.search(text).group(0)
    assert not IMPORT_TIME_PROJECT.search(text), IMPORT_TIME_PROJECT.search(text).group(0)


def test_the_meta_test_catches_what_it_looks_for():
    root_join = "ROOT" + ' / "{}"'
    samples = ("X = " + root_join.format("stacks") + ' / "Pulumi.dev.yaml"',
               'validate(raw, "' + "stacks" + '/Pulumi.test.yaml")', "from modules.config import " + "STACKS" + "_DIR")
    for sample in samples:
        assert HOOK.search(sample) or CHECKOUT_DIRS.search(sample), sample
    assert CHECKOUT_DIRS.search(root_join.format("policies") + ' / "config" / "dev.json"')
    assert IMPORT_TIME_PROJECT.search("from gpufleet.reports.policy import " + "CONFIG" + "_DIR, load_pack")
    for fine in ('tmp_path / "stacks"', "FIXTURE_STACKS / name", "tests/fixtures/project/" + "stacks" + "/x"):
        assert not HOOK.search(fine) and not CHECKOUT_DIRS.search(fine), fine
