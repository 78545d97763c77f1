"""The EKS version policy a running cluster survives (issue 18, 1), judged on every fixture stack
on every day from the suite's today to two years ahead:

- a version in standard support plans at the standard price, silently until 90 days before its
  end, then ``plan`` and ``check`` warn with the days left;
- past standard support it still plans and deploys, at the extended-support price, with a
  warning naming the day support ended and the version to move to (and the pack's advisory);
- only a version past extended support, or one EKS never offered, is refused;
- a new stack (``init``, ``replicate``) starts on the newest version in standard support;
- a version change moves the node groups and the add-ons with it, and the diff says why.

Source of the calendar: ``modules/data/eks_versions.json`` (the EKS user guide's release
calendar; 14 months of standard support, 12 more of extended, $0.10 and $0.60 per cluster-hour).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpufleet import cli
from gpufleet import diff as guard
from gpufleet import plan as planner
from gpufleet import replicate as rep
from gpufleet.modules import catalog, clock, eks_support
from gpufleet.modules.config import ConfigError
from gpufleet.modules.cost.basis import HOURS_PER_MONTH
from gpufleet.modules.cost.model import estimate
from gpufleet.project import find

from .helpers import FIXTURE_STACKS as SOURCE_STACKS
from .helpers import DATA_DAY, STACK_FOLDER, STACKS, TEST_SOURCE, TEST_TODAY, edit, raw_config, render, validate

CALENDAR = catalog.load("eks_versions.json")
VERSIONS = catalog.eks_versions()
PRICE = CALENDAR["prices_per_cluster_hour_usd"]
#: every 30 days from the calendar's day to two years past the suite's day (the same span unless
#: CI's second run moved the day), and each boundary of the calendar inside that span (the day
#: before, of and after), so a rule that is off by one day shows
SPAN_START, SPAN_END = DATA_DAY, TEST_TODAY + timedelta(days=731)
BOUNDARIES = sorted({d + timedelta(days=k) for v in VERSIONS.values()
                     for d in (v.end_of_standard_support, v.end_of_extended_support) for k in (-1, 0, 1)
                     if SPAN_START <= d <= SPAN_END})
DAYS = sorted({SPAN_START + timedelta(days=n) for n in range(0, (SPAN_END - SPAN_START).days, 30)}
              | set(BOUNDARIES) | {TEST_TODAY, SPAN_END})


#: a day 1.35 and 1.36 are both in standard support (1.36 the newest): tests of moving from one
#: to the other run on it, whatever the suite's day
BOTH_STANDARD = VERSIONS["1.36"].released


def version_of(stack: str) -> str:
    return str(raw_config(stack)["gpufleet:cluster"]["version"])


def control_plane(cfg, on: date):
    (line,) = [i for i in estimate(cfg, on=on).items if i.resource == "cluster-eks"]
    return line


# ---------------------------------------------------------------- the calendar, as data

def test_the_calendar_follows_eks_rules_and_offers_136():
    assert CALENDAR["source"].startswith("Amazon EKS Kubernetes release calendar")
    assert date.fromisoformat(CALENDAR["date"]) == DATA_DAY <= TEST_TODAY
    assert (PRICE["standard"], PRICE["extended"]) == (0.10, 0.60)
    for v in VERSIONS.values():
        assert v.released < v.end_of_standard_support < v.end_of_extended_support, v
        assert 420 <= (v.end_of_standard_support - v.released).days <= 430, v  # 14 months
        assert 365 <= (v.end_of_extended_support - v.end_of_standard_support).days <= 366, v  # 12 more
    # on the day the calendar was checked, 1.36 is the newest version and in standard support
    assert eks_support.support("1.36", DATA_DAY).phase == "standard"
    assert eks_support.default_version(DATA_DAY) == "1.36"


@given(st.dates(min_value=date(2023, 1, 1), max_value=date(2031, 1, 1)), st.sampled_from(sorted(VERSIONS) + ["1.99"]))
def test_each_day_puts_a_version_in_one_phase(on, version):
    s = eks_support.support(version, on)
    assert s.offered == (s.phase in ("standard", "extended"))
    assert (eks_support.refusal(version, on) is None) == s.offered
    assert (version in eks_support.offered_versions(on)) == s.offered
    if s.move_to is not None:  # one minor version up, and offered
        assert eks_support.support(s.move_to, on).offered and s.move_to > version
    newest = eks_support.default_version(on)
    if eks_support.standard_versions(on):
        assert eks_support.support(newest, on).phase == "standard"
        assert all(tuple(map(int, v.split("."))) <= tuple(map(int, newest.split(".")))
                   for v in eks_support.standard_versions(on))


# ---------------------------------------------------------------- every stack, every day

@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_on_every_day_plans_unless_eks_stops_offering_it(stack):
    version, raw = version_of(stack), raw_config(stack)
    phases = set()
    for day in DAYS:
        s = eks_support.support(version, day)
        phases.add(s.phase)
        with clock.frozen(day):
            if s.phase == "ended":
                with pytest.raises(ConfigError) as err:
                    validate(raw)
                line = str(err.value)
                assert len(line.splitlines()) == 1 and "gpufleet:cluster.version" in line
                assert f"extended support for {version} ended {s.info.end_of_extended_support}" in line
                continue
            cfg = validate(raw)
            warnings = dict(planner.config_warnings(cfg, stack))
        cp = control_plane(cfg, day)
        price = PRICE["extended" if s.phase == "extended" else "standard"]
        assert cp.expected == pytest.approx(price * HOURS_PER_MONTH), (day, s.phase)
        warned = warnings.get("gpufleet:cluster.version", "")
        if s.phase == "extended":
            assert f"left EKS standard support on {s.info.end_of_standard_support}" in warned, day
        elif s.days_left is not None and s.days_left <= eks_support.WARN_DAYS:
            assert f"leaves EKS standard support in {s.days_left} day(s)" in warned, day
        else:
            assert warned == "", (day, warned)
    # the span does reach each phase: the sweep is not vacuous
    assert {"standard", "extended"} <= phases


def test_extended_support_adds_its_charge_to_every_figure():
    cfg = validate(raw_config("dev"))
    end = VERSIONS[cfg.cluster.version].end_of_standard_support
    before, after = estimate(cfg, on=end), estimate(cfg, on=end + timedelta(days=1))
    extra = (PRICE["extended"] - PRICE["standard"]) * HOURS_PER_MONTH  # $365.00 a month
    for figure in ("expected", "idle", "max"):
        assert after.monthly[figure] - before.monthly[figure] == pytest.approx(extra, abs=0.01), figure
    assert control_plane(cfg, end + timedelta(days=1)).name.startswith("EKS control plane (extended support")


def test_a_version_eks_never_offered_is_refused_in_one_line():
    raw = edit(raw_config("dev"), "gpufleet:cluster.version", "1.99")
    with pytest.raises(ConfigError) as err:
        validate(raw)
    line = str(err.value)
    assert line.startswith(f"{TEST_SOURCE}: gpufleet:cluster.version") and "'1.99'" in line
    assert f"a Kubernetes version EKS offers on {TEST_TODAY}: " in line and "1.36" in line


# ---------------------------------------------------------------- what plan and check say

def _day_before_the_end(days: int) -> date:
    return VERSIONS[version_of("dev")].end_of_standard_support - timedelta(days=days)


def test_check_warns_with_the_days_left_from_90_days_ahead(capsys):
    with clock.frozen(_day_before_the_end(30)):
        assert cli.main(["check", "dev"]) == 0
    out = capsys.readouterr().out
    assert "WARNING config: gpufleet:cluster.version: Kubernetes 1.36 leaves EKS standard support in 30 day(s)" in out
    assert f"({STACK_FOLDER}/Pulumi.dev.yaml:" in out  # the fixture project's file and line
    with clock.frozen(_day_before_the_end(91)):
        assert cli.main(["check", "dev"]) == 0
    assert "EKS standard support" not in capsys.readouterr().out


def test_plan_in_extended_support_warns_with_the_date_and_the_version_to_move_to(capsys):
    raw = edit(raw_config("dev"), "gpufleet:cluster.version", "1.35")
    end = VERSIONS["1.35"].end_of_standard_support
    with clock.frozen(end + timedelta(days=10)):
        cfg = validate(raw)
        (warning,) = [w for k, w in planner.config_warnings(cfg, "dev") if k == "gpufleet:cluster.version"]
        plan = render(raw)
    assert warning == (f"warning: dev: gpufleet:cluster.version: Kubernetes 1.35 left EKS standard support on "
                       f"{end}: the control plane bills the extended-support price until upgrade to 1.36 (EKS "
                       f"upgrades it itself after {VERSIONS['1.35'].end_of_extended_support})")
    # and it still deploys: the cluster keeps EKS's EXTENDED upgrade policy (no forced upgrade)
    cluster = plan.get("aws:eks/cluster:Cluster", "cluster-eks")
    assert cluster.inputs["version"] == "1.35"
    assert cluster.inputs["upgradePolicy"] == {"supportType": "EXTENDED"}


def test_plan_prints_the_warning_on_stderr_and_exits_0(capsys):
    with clock.frozen(_day_before_the_end(-5)):  # five days past the end
        assert cli.main(["plan", "dev"]) == 0
    err = capsys.readouterr().err
    assert "gpufleet:cluster.version: Kubernetes 1.36 left EKS standard support on 2027-08-03" in err


# ---------------------------------------------------------------- new stacks start on the newest

@pytest.mark.parametrize("day, expected", [(DATA_DAY, "1.36"), (date(2026, 5, 1), "1.35")])
def test_init_starts_on_the_newest_standard_version_of_the_day(tmp_path, capsys, day, expected):
    root = tmp_path / "platform"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: platform\nruntime: python\nstackConfigDir: stacks\n")
    with clock.frozen(day):
        assert cli.main(["-C", str(root), "init", "research-dev"]) == 0, capsys.readouterr().err
    text = (root / "stacks" / "Pulumi.research-dev.yaml").read_text()
    assert f'version: "{expected}"' in text
    assert text.startswith(f"# research-dev: a dev stack written by `gpufleet init` on {day}")


def test_replicate_moves_an_old_source_to_the_newest_and_says_so(tmp_path, capsys):
    with clock.frozen(BOTH_STANDARD):  # 1.35 and 1.36 offered, 1.36 the newest, on any suite day
        root = tmp_path / "platform"
        (root / "stacks").mkdir(parents=True)
        (root / "Pulumi.yaml").write_text("name: platform\nruntime: python\nstackConfigDir: stacks\n")
        text = (SOURCE_STACKS / "Pulumi.dev.yaml").read_text().replace('version: "1.36"', 'version: "1.35"')
        (root / "stacks" / "Pulumi.dev.yaml").write_text(text)
        replica = rep.replicate("dev", "dev-eu", "eu-west-1", project=find(root), offline=True, write=False)
        assert 'version: "1.36"' in replica.text
        assert ("gpufleet:cluster.version (newest in EKS standard support)", "1.35", "1.36") in [
            (k, str(a), str(b)) for k, a, b in replica.changes]
        # --set keeps another offered version
        kept = rep.replicate("dev", "dev-eu", "eu-west-1", project=find(root), offline=True, write=False,
                             sets=['cluster.version="1.35"'])
        assert 'version: "1.35"' in kept.text


# ---------------------------------------------------------------- an upgrade moves everything with it

def test_a_version_change_rolls_the_node_groups_and_the_addons_and_the_diff_explains_it():
    with clock.frozen(BOTH_STANDARD):  # 1.35 and 1.36 offered, 1.36 the newest, on any suite day
        base_raw = edit(raw_config("dev"), "gpufleet:cluster.version", "1.35")
        base, head = render(base_raw).to_json(), render(raw_config("dev")).to_json()
        result = guard.compare(base, head)
        updates = {c.name: c for c in result.of("update")}
        rolled = ("aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup")
        assert not [c for c in result.of("replace") if c.type in rolled]
        (cp,) = updates["cluster-eks"].values
        assert (cp.path, cp.base, cp.head) == ("version", "1.35", "1.36")
        assert "control-plane upgrade in place" in cp.why and "node groups" in cp.why
        groups = [r["name"] for r in head["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup"]
        assert groups  # every node group follows the cluster
        for name in groups:
            (v,) = [v for v in updates[name].values if v.path == "version"]
            assert (v.base, v.head) == ("1.35", "1.36") and "rolling update of the nodes" in v.why
        addons = [r for r in head["resources"] if r["type"] == "aws:eks/addon:Addon"]
        moved = [r["name"] for r in addons if r["name"] in updates
                 and any(v.path == "addonVersion" for v in updates[r["name"]].values)]
        pinned = [r["name"] for r in addons if not str(r["inputs"].get("addonVersion", "")).endswith("-for-1.36")]
        assert sorted(moved) == sorted(r["name"] for r in addons if r["name"] not in pinned)
        assert moved  # the unpinned add-ons (all of dev's) follow


def test_a_skipped_minor_version_is_explained_as_refused_by_eks():
    # a day both 1.34 and 1.36 are offered (the rule is EKS's, whatever the day)
    with clock.frozen(VERSIONS["1.36"].released):
        base = render(edit(raw_config("dev"), "gpufleet:cluster.version", "1.34")).to_json()
        result = guard.compare(base, render(raw_config("dev")).to_json())
    (cp,) = {c.name: c for c in result.of("update")}["cluster-eks"].values
    assert cp.why.startswith("EKS refuses this: a control-plane upgrade moves one minor version at a time (1.34 -> 1.35")
