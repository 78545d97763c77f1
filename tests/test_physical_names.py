"""Physical AWS names (issue #11): every name the program sets matches a template of
``modules/physical_names.py`` and fits its service's limit; stack names taken from file
names or given to ``replicate`` are checked before any resource or file."""

from __future__ import annotations

import inspect
import re
import shutil
from functools import cache
from importlib import import_module

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet import replicate as rep
from gpufleet.cli import main
from gpufleet.modules import catalog
from gpufleet.modules import physical_names as pn
from gpufleet.modules.config import ConfigError
from gpufleet.modules.storage import BUCKET_PURPOSES

from .conftest import shipped_plan
from .helpers import FIXTURE_STACKS, STACKS, apply_edits, render, stack_path, stack_source, validate


def aws_resources(plan):
    return [r for r in plan.resources if r.type.startswith("aws:")]


@cache
def sdk_params(resource_type: str) -> frozenset[str]:
    """The inputs (camelCase) the pulumi_aws class of ``resource_type`` takes."""
    module, cls = resource_type.split(":")[1].split("/")[0], resource_type.split(":")[2]
    init = getattr(import_module(f"pulumi_aws.{module}"), cls)._internal_init
    return frozenset("".join(w.title() if i else w for i, w in enumerate(p.split("_")))
                     for p in inspect.signature(init).parameters)


def own_name_inputs(r) -> dict[str, str]:
    keys = [k for k in (*pn.GENERIC_NAME_INPUTS, pn.NAME_INPUTS.get(r.type)) if k and k in r.inputs]
    return {k: r.inputs[k] for k in keys}


def parts_of(plan) -> dict[str, set[str]]:
    cfg = plan.config
    return {"stack": {plan.stack}, "region": {cfg.region}, "account": {pn.ACCOUNT_EXAMPLE},
            "purpose": set(pn.PURPOSES), "pool": {"system", *(p.name for p in cfg.pools.gpu)},
            "team": {t.name for t in cfg.teams}}


def matching(plan, r, key: str | None, name: str) -> pn.Template | None:
    """The template ``name`` matches with this plan's own stack, region, pools and teams."""
    parts = parts_of(plan)
    for t in pn.TEMPLATES:
        if t.resource_type != r.type or t.key != key:
            continue
        m = pn.pattern(t).fullmatch(name)
        if m and all(v in parts[p] for p, v in m.groupdict().items() if p != "logical"):
            return t
    return None


@pytest.mark.parametrize("stack", STACKS)
def test_every_physical_name_in_a_shipped_plan_matches_a_template_and_fits(stack):
    plan = shipped_plan(stack)
    for r in aws_resources(plan):
        for key, name in own_name_inputs(r).items():
            assert isinstance(name, str), (r.type, r.name, key, name)
            t = matching(plan, r, key, name)
            assert t is not None, (f"{r.type} {r.name}: {key}={name!r} matches no template of "
                                   "modules/physical_names.py: add it there with its service's limit")
            assert t.problem(name) is None, (r.type, name, t.problem(name))


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_pulumi_names_has_a_template_and_fits(stack):
    """A resource whose SDK class takes a ``name`` the program leaves unset is named by
    Pulumi from the logical name (+ 8 characters): it needs a template and a limit too."""
    plan = shipped_plan(stack)
    for r in aws_resources(plan):
        if "name" not in sdk_params(r.type) or own_name_inputs(r):
            continue
        t = matching(plan, r, None, r.name)
        assert t is not None, (f"{r.type} {r.name}: Pulumi names it from the logical name, and no template "
                               "of modules/physical_names.py covers that type")
        assert t.problem(r.name) is None, (r.type, r.name, t.problem(r.name))


def test_every_template_is_used_by_a_shipped_stack():
    used = set()
    for stack in STACKS:
        plan = shipped_plan(stack)
        for r in aws_resources(plan):
            for key, name in own_name_inputs(r).items() or [(None, r.name)]:
                if (t := matching(plan, r, key, name)) is not None:
                    used.add(t)
    assert set(pn.TEMPLATES) - used == set()


def test_templates_are_data_with_a_limit_and_a_source():
    for t in pn.TEMPLATES:
        assert t.limit.source.startswith("docs.aws.amazon.com/") and t.limit.max_len >= t.limit.min_len >= 1
        assert set(pn.placeholders(t.template)) <= {"stack", "region", "account", "purpose", "pool", "team", "logical"}
    assert pn.PURPOSES == BUCKET_PURPOSES


# ---------------------------------------------------------------- the stack name rule

def test_the_bound_comes_from_the_s3_bucket_in_the_longest_region():
    n = pn.max_stack_length()
    region = pn.longest_region()
    longest = f"gpufleet-{'s' * n}-datasets-{pn.ACCOUNT_EXAMPLE}-{region}"
    assert len(longest) == 63 and pn.S3_BUCKET.problem(longest) is None
    assert pn.S3_BUCKET.problem(f"gpufleet-{'s' * (n + 1)}-datasets-{pn.ACCOUNT_EXAMPLE}-{region}") == "64 characters"
    assert "1-%d characters" % n in pn.stack_rule() and "S3 bucket name" in pn.stack_rule()


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=25), st.from_regex(r"[a-z0-9][-a-z0-9]{0,20}", fullmatch=True)),
       st.sampled_from(sorted(catalog.regions())))
def test_a_stack_name_passes_only_if_every_derived_name_fits_in_every_region(stack, region):
    source = stack_source(stack)
    try:
        pn.check_stack(stack, region, source)
    except ConfigError as exc:
        message = str(exc)
        assert exc.key_path == "stack name" and exc.given == stack and "\n" not in message
        assert ": stack name: got " in message and "expected a lowercase name of 1-" in message
        assert not (pn.DNS_LABEL.fullmatch(stack) and len(stack) <= pn.max_stack_length())
        return
    assert pn.DNS_LABEL.fullmatch(stack) and 1 <= len(stack) <= pn.max_stack_length()
    for other in catalog.regions():
        for t in pn.TEMPLATES:
            if "stack" in pn.placeholders(t.template):
                for purpose in pn.PURPOSES:
                    name = pn.render(t, stack=stack, region=other, account=pn.ACCOUNT_EXAMPLE, purpose=purpose)
                    assert t.problem(name) is None, (t.template, name)


@pytest.mark.parametrize("name, expected_stack", [
    ("Pulumi.Dev_Stack.yaml", "Dev_Stack"),
    ("Pulumi.a.b.yaml", "a.b"),
    ("Pulumi..yaml", ""),
    (f"Pulumi.{'x' * 30}.yaml", "x" * 30),
])
def test_plan_refuses_a_stack_file_whose_name_breaks_physical_names(tmp_path, capsys, name, expected_stack):
    path = tmp_path / name
    shutil.copy(stack_path("dev"), path)
    assert main(["plan", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {path}: stack name: got {expected_stack!r}; expected a lowercase name of 1-"), err


def test_the_program_never_runs_for_a_bad_stack_name(monkeypatch):
    from gpufleet import engine, plan as planner

    def boom(*a, **k):  # pragma: no cover - reached only if the check is missing
        raise AssertionError("the mock engine was installed: resources would have been declared")

    monkeypatch.setattr(engine, "install", boom)
    raw = apply_edits("dev", [])
    with pytest.raises(ConfigError, match=rf"^{re.escape(stack_source('Dev_Stack'))}: stack name: got 'Dev_Stack'"):
        planner.run_program(validate(raw), raw, "Dev_Stack", stack_source("Dev_Stack"))


@pytest.fixture
def stacks_copy(tmp_path):
    d = tmp_path / "stacks"
    d.mkdir()
    for p in FIXTURE_STACKS.glob("Pulumi.*.yaml"):
        shutil.copy(p, d / p.name)
    return d


def test_replicate_refuses_a_name_whose_buckets_would_pass_63_characters(stacks_copy, capsys):
    new = "dev-replica-in-ap-southeast"  # the case: 86-character bucket names
    args = ["replicate", "dev", new, "--region", "ap-southeast-1", "--offline", "--stacks-dir", str(stacks_copy)]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {stack_source(new)}: stack name: got '{new}'; expected a lowercase name of 1-")
    assert not (stacks_copy / f"Pulumi.{new}.yaml").exists()


def test_the_longest_stack_name_in_the_longest_region_plans_with_every_name_in_bounds(stacks_copy):
    new = "dev-" + "d" * (pn.max_stack_length() - 4)  # the longest name that still says its environment
    region = pn.longest_region()
    replica = rep.replicate("dev", new, region, directory=stacks_copy, offline=True)
    raw = yaml.safe_load(replica.path.read_text())["config"]
    plan = render(raw, stack=new)
    buckets = [r.inputs["bucket"] for r in plan.by_type("aws:s3/bucket:Bucket")]
    assert buckets and max(map(len, buckets)) == 63
    for r in aws_resources(plan):
        for key, name in own_name_inputs(r).items():
            t = matching(plan, r, key, name)
            assert t is not None and t.problem(name) is None, (r.type, name)


# ---------------------------------------------------------------- names built from pool and team names

def test_a_team_name_whose_pulumi_named_role_passes_64_characters_is_refused_before_any_resource():
    long_team = "t" * 31  # data-access-<team>-identity-role + 8 = 65 > 64
    raw = apply_edits("dev", [("gpufleet:teams[0].name", long_team)])
    with pytest.raises(ConfigError) as info:
        render(raw)
    message = str(info.value)
    assert message.startswith(f"{stack_source('dev-test')}: gpufleet:teams[0].name: got '{long_team}'; "
                              f"expected a shorter team name: the IAM role name "
                              f"'data-access-{long_team}-identity-role-<7 random hex>'"), message
    assert "\n" not in message


def test_a_thirty_character_team_name_fits():
    team = "t" * 30
    cfg = validate(apply_edits("dev", [("gpufleet:teams[0].name", team)]))
    pn.check_stack("dev", cfg.region, stack_source("dev"), cfg)
