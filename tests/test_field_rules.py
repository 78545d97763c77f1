"""Field rules of issue #11: taints (Kubernetes' syntax, EKS's limits), node-group sizes,
the system pool's instance types, the scale-down crons and time zone.

Each hostile case of the issue is refused with one line naming file, key path, value and
what is allowed; the pure helpers get hypothesis properties.
"""

from __future__ import annotations

import re
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gpufleet.modules import catalog, nodespec
from gpufleet.modules.checks import aws_limits
from gpufleet.modules.nodespec import gpu_spec
from gpufleet.modules.schema import cron, pools
from gpufleet.modules.schema.cost import ScheduleConfig, iana_time_zones
from gpufleet.modules.schema.pools import GpuPool, SystemPool, Taint

from .helpers import TEST_SOURCE, apply_edits, assert_one_line_error, raw_config, render, validate

SRC = TEST_SOURCE
GPU0 = "gpufleet:pools.gpu[0]"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def gpu_pool(**kw) -> GpuPool:
    return GpuPool(**{"name": "p", "instance_types": ["g6.xlarge"], "max": 2, **kw})


# ---------------------------------------------------------------- taints: the cases

@pytest.mark.parametrize("taints, key_path, expected", [
    ([{"key": "bad key!", "value": "x"}], f"{GPU0}.taints[0].key",
     "a taint key [prefix/]name of at most 63 characters"),
    ([{"key": "dedicated", "value": "v" * 200}], f"{GPU0}.taints[0].value", "a taint value of at most 63 characters"),
    ([{"key": f"k{i}"} for i in range(60)], f"{GPU0}.taints",
     "at most 49 taints, not 60 (EKS allows 50 per node group"),
    ([{"key": "nvidia.com/gpu", "value": "true"}], f"{GPU0}.taints[0].key", "a key other than nvidia.com/gpu"),
    ([{"key": "nvidia.com/gpu", "value": "false", "effect": "NoExecute"}], f"{GPU0}.taints[0].key",
     "would repeat or contradict it"),
    ([{"key": "a"}, {"key": "a"}], f"{GPU0}.taints[1].key", "a key not already used by taints[0]"),
    ([{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"}], f"{GPU0}.taints[1].key",
     "one taint per key"),
    ([{"key": "example.com/" + "a" * 52}], f"{GPU0}.taints[0].key", "at most 63 characters in all (EKS's limit)"),
    ([{"key": "Example.com/dedicated"}], f"{GPU0}.taints[0].key", "prefix a lowercase DNS subdomain"),
    ([{"key": "a/b/c"}], f"{GPU0}.taints[0].key", "a taint key"),
    ([{"key": "dedicated\n"}], f"{GPU0}.taints[0].key", "a taint key"),
    ([{"key": ""}], f"{GPU0}.taints[0].key", "a taint key"),
    ([{"key": "-dedicated"}], f"{GPU0}.taints[0].key", "alphanumeric at both ends"),
    ([{"key": "dedicated", "value": "-x"}], f"{GPU0}.taints[0].value", "alphanumeric at both ends (or empty)"),
    ([{"key": "dedicated", "effect": "NoSchedules"}], f"{GPU0}.taints[0].effect",
     "'NoSchedule', 'PreferNoSchedule' or 'NoExecute'"),
])
def test_hostile_taints_are_one_clear_error(taints, key_path, expected):
    assert_one_line_error(apply_edits("dev", [(f"{GPU0}.taints", taints)]), SRC, key_path, expected)


def test_the_most_taints_a_pool_can_carry_pass_and_reach_the_node_group():
    """EKS takes 50 taints per node group, but every taint is also a cluster-autoscaler
    node-template tag on the group's ASG (at most 50 tags): the most a pool can carry is what
    its ASG has room for (modules/checks/aws_limits.py), every one of them sent as given."""
    cfg = validate(raw_config("dev"))
    room = aws_limits.MAX_ASG_TAGS - aws_limits.asg_tag_count(gpu_spec(cfg.pools.gpu[0], cfg.network.azs))
    assert 2 < room < pools.MAX_TAINTS_PER_NODE_GROUP
    taints = [{"key": f"example.com/t{i}", "value": "" if i % 2 else f"v{i}",
               "effect": ("NoSchedule", "PreferNoSchedule", "NoExecute")[i % 3]} for i in range(room)]
    plan = render(apply_edits("dev", [(f"{GPU0}.taints", taints)]))
    name = plan.config.pools.gpu[0].name
    ng = plan.get("aws:eks/nodeGroup:NodeGroup", f"pool-{name}-ng").inputs
    assert len(ng["taints"]) == room + 1  # and the GPU taint, first
    assert ng["taints"][0] == {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
    assert {"key": "example.com/t1", "value": "", "effect": "PREFER_NO_SCHEDULE"} in ng["taints"]
    keys = [t["key"] for t in ng["taints"]]
    assert len(set(keys)) == len(keys)


def test_the_reserved_key_is_the_platforms_gpu_taint():
    assert nodespec.GPU_TAINT[0] == pools.GPU_TAINT_KEY


_PREFIX_LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
_NAME = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?", fullmatch=True)
valid_keys = st.builds(
    lambda labels, name: (".".join(labels) + "/" if labels else "") + name,
    st.lists(_PREFIX_LABEL, max_size=3), _NAME).filter(lambda k: len(k) <= 63)
valid_values = st.one_of(st.just(""), st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", fullmatch=True))


def oracle_key(key: str) -> bool:
    """Kubernetes IsQualifiedName, written out character by character, plus EKS's 63."""
    if not 1 <= len(key) <= 63 or key.count("/") > 1:
        return False
    prefix, _, name = key.rpartition("/")
    alnum = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    if "/" in key:
        if not prefix or len(prefix) > 253:
            return False
        for label in prefix.split("."):
            if not label or label[0] not in alnum or label[-1] not in alnum:
                return False
            if any(c not in set("abcdefghijklmnopqrstuvwxyz0123456789-") for c in label):
                return False
    return (bool(name) and len(name) <= 63 and name[0] in alnum and name[-1] in alnum
            and all(c in alnum | set("-_.") for c in name))


@SETTINGS
@given(valid_keys, valid_values, st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]))
def test_every_kubernetes_taint_within_ekss_limits_passes(key, value, effect):
    assert Taint(key=key, value=value, effect=effect).key == key


@SETTINGS
@given(st.one_of(valid_keys, st.text(alphabet="aZ0-_./ \n:é", max_size=70)))
def test_taint_keys_agree_with_an_independent_oracle(key):
    assert pools.is_taint_key(key) == oracle_key(key), key


@SETTINGS
@given(st.lists(valid_keys, min_size=2, max_size=6))
def test_a_pool_takes_taints_only_with_distinct_keys(keys):
    taints = [Taint(key=k) for k in keys if k != pools.GPU_TAINT_KEY]
    if len({t.key for t in taints}) == len(taints):
        assert gpu_pool(taints=taints).taints == taints
    else:
        with pytest.raises(ValidationError, match="a key not already used"):
            gpu_pool(taints=taints)


# ---------------------------------------------------------------- node-group sizes

@pytest.mark.parametrize("path, value", [
    ("gpufleet:pools.system.max", 100000),
    ("gpufleet:pools.system.max", 451),
    (f"{GPU0}.max", 451),
])
def test_max_beyond_ekss_nodes_per_node_group_is_refused(path, value):
    assert_one_line_error(apply_edits("dev", [(path, value)]), SRC, path,
                          "at most 450 (EKS's quota of nodes per managed node group)")


def test_450_nodes_is_the_bound_for_every_pool():
    assert SystemPool(max=450).max == 450
    assert gpu_pool(max=450).max == 450
    with pytest.raises(ValidationError, match="at most 450"):
        gpu_pool(max=451)


# ---------------------------------------------------------------- the system pool's instance types

def test_three_u7in_nodes_for_add_ons_are_refused():
    system = {"instance_types": ["u7in-32tb.224xlarge"], "min": 3, "max": 3}
    assert_one_line_error(apply_edits("dev", [("gpufleet:pools.system", system)]), SRC,
                          "gpufleet:pools.system.instance_types[0]",
                          "an instance type for cluster add-ons: general purpose, compute or memory optimized")


@pytest.mark.parametrize("itype, why", [
    ("m7i.8xlarge", "it has 32 vCPUs"),
    ("t3.small", "it has 2 GiB of memory"),
    ("x2idn.16xlarge", "x2idn is not a family for cluster add-ons"),
    ("m4.large", "m4 is not a family for cluster add-ons"),
])
def test_system_types_outside_the_allowlist_say_why(itype, why):
    raw = apply_edits("prod", [("gpufleet:pools.system.instance_types", [itype])])
    assert_one_line_error(raw, SRC, "gpufleet:pools.system.instance_types[0]", f"({itype}: {why})")


def test_the_allowlist_is_data_with_a_source_and_every_family_is_in_the_catalog():
    rule = catalog.load("system_pool_types.json")
    assert rule["source"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", rule["date"])
    cpu_families = {t.family for t in map(catalog.instance_type, catalog.instance_type_names()) if not t.has_gpu}
    assert set(rule["families"]) <= cpu_families
    # issue #12: Graviton families too (arm64 system pools)
    arm = {catalog.instance_type(n).family for n in catalog.instance_type_names()
           if catalog.instance_type(n).arch == "arm64"}
    assert {"t4g", "m7g", "c7g", "r7g"} <= set(rule["families"]) & arm
    assert len(set(rule["families"])) == len(rule["families"])


@SETTINGS
@given(st.sampled_from(catalog.instance_type_names()))
def test_a_system_type_passes_exactly_when_the_allowlist_says_so(name):
    it = catalog.instance_type(name)
    rule = catalog.load("system_pool_types.json")
    allowed = (not it.has_gpu and it.arch in ("amd64", "arm64") and it.family in rule["families"]
               and rule["min_vcpu"] <= it.vcpu <= rule["max_vcpu"] and it.memory_mib >= rule["min_memory_mib"])
    try:
        SystemPool(instance_types=[name])
    except ValidationError:
        assert not allowed, name
    else:
        assert allowed, name


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_system_pools_are_on_the_allowlist(stack):
    for name in validate(raw_config(stack)).pools.system.instance_types:
        assert pools.system_type_problem(catalog.instance_type(name)) is None


# ---------------------------------------------------------------- cron: what EC2 Auto Scaling runs

def _item(f: cron.CronField):
    """(text, values) of one list item of field ``f``: a value, a range, a step, a name."""
    value = st.integers(f.lo, f.hi)
    span = f.hi - f.lo

    def name_or_number(n: int, use_name: bool) -> str:
        return f.names[n - f.lo] if use_name and f.names else str(n)

    single = st.builds(lambda n, nm: (name_or_number(n, nm), {n}), value, st.booleans())
    ranges = st.builds(lambda a, b, nm: (f"{name_or_number(min(a, b), nm)}-{name_or_number(max(a, b), nm)}",
                                         set(range(min(a, b), max(a, b) + 1))), value, value, st.booleans())
    stepped = st.builds(lambda a, b, s: (f"{min(a, b)}-{max(a, b)}/{s}", set(range(min(a, b), max(a, b) + 1, s))),
                        value, value, st.integers(1, span))
    star = st.builds(lambda s: (f"*/{s}", set(range(f.lo, f.hi + 1, s))), st.integers(1, span))
    return st.one_of(st.just(("*", set(range(f.lo, f.hi + 1)))), single, ranges, stepped, star)


def _field(f: cron.CronField):
    return st.lists(_item(f), min_size=1, max_size=4).map(
        lambda items: (",".join(t for t, _ in items), frozenset().union(*(v for _, v in items))))


valid_crons = st.tuples(*(_field(f) for f in cron.FIELDS))


@SETTINGS
@given(valid_crons, st.sampled_from([" ", "  ", "\t"]))
def test_every_valid_cron_passes_and_means_what_it_says(fields, sep):
    expr = sep.join(text for text, _ in fields)
    assert cron.parse(expr) == tuple(values for _, values in fields)
    assert ScheduleConfig(stop=expr, start=expr).stop == expr


def _with(field: cron.CronField, text: str) -> str:
    parts = ["0", "0", "1", "1", "0"]
    parts[field.position - 1] = text
    return " ".join(parts)


def _refused(expr: str, field: cron.CronField | None, fragment: str) -> None:
    with pytest.raises(cron.CronError) as info:
        cron.parse(expr)
    message = str(info.value)
    assert "\n" not in message and fragment in message, message
    assert info.value.field == field
    if field is not None:
        assert f"{field.name} field (field {field.position} of 5)" in message


@SETTINGS
@given(st.sampled_from(cron.FIELDS), st.data())
def test_every_field_out_of_range_is_refused_naming_the_field(field, data):
    n = data.draw(st.one_of(st.integers(field.hi + 1, 999), st.integers(0, field.lo - 1) if field.lo else st.nothing()))
    form = data.draw(st.sampled_from(["{n}", "{lo}-{n}", "*/1,{n}", "{n}-{n}"]))
    _refused(_with(field, form.format(n=n, lo=field.lo)), field, "out of range")


@SETTINGS
@given(st.sampled_from(cron.FIELDS), st.sampled_from(["*/0", "{lo}-{hi}/0", "*/{big}", "*/x", "*/"]))
def test_a_bad_step_is_refused_naming_the_field(field, form):
    text = form.format(lo=field.lo, hi=field.hi, big=field.hi - field.lo + 1)
    _refused(_with(field, text), field, "(a step is an integer from 1 to")


@SETTINGS
@given(st.sampled_from(cron.FIELDS), st.data())
def test_a_reversed_range_is_refused_naming_the_field(field, data):
    a = data.draw(st.integers(field.lo + 1, field.hi))
    b = data.draw(st.integers(field.lo, a - 1))
    _refused(_with(field, f"{a}-{b}"), field, "is a reversed range")


@pytest.mark.parametrize("position, name, owner", [
    (4, "MON", "day-of-week"), (5, "JAN", "month"), (1, "MON", "day-of-week"), (2, "DEC", "month"),
    (3, "sun", "day-of-week"), (5, "FRI-DEC", "month"),
])
def test_a_name_in_the_wrong_field_is_refused(position, name, owner):
    field = cron.FIELDS[position - 1]
    _refused(_with(field, name), field, f"is a {owner} name")


@pytest.mark.parametrize("expr, field, fragment", [
    ("0 20 * * 1-5 *", None, "it has 6 fields"),
    ("0 20 * *", None, "it has 4 fields"),
    ("", None, "it has 0 fields"),
    ("0 20 * * 7", 5, "(0 is Sunday; 7 is not accepted)"),
    ("0 20 ? * MON", 3, "'?' is not a value"),
    ("0 20 L * *", 3, "'L' is not a value"),
    ("0 20 * * MON#2", 5, "'MON#2' is not a value"),
    ("5/15 * * * *", 1, "puts a step after a single value"),
    ("1,,2 * * * *", 1, "has an empty list item"),
    ("-5 * * * *", 1, "a range without a start or an end"),
    ("0 20 31 FEBRUARY *", 4, "'FEBRUARY' is not a value"),
    ("0 ٢ * * *", 2, "is not a value"),
    ("0 20 * * " + "1," * 200 + "1", None, "characters (EC2 Auto Scaling takes at most 255)"),
])
def test_other_broken_crons(expr, field, fragment):
    _refused(expr, cron.FIELDS[field - 1] if field else None, fragment)


@pytest.mark.parametrize("key, value, expected", [
    ("stop", "0 20 * * 1-7", "day-of-week field (field 5 of 5) takes weekdays 0-6 or SUN-SAT (0 = Sunday)"),
    ("start", "0 7 32 * *", "day-of-month field (field 3 of 5) takes days 1-31"),
    ("stop", "0 20 * 0 *", "month field (field 4 of 5) takes months 1-12 or JAN-DEC"),
    ("start", "*/0 7 * * *", "'*/0' has step '0'"),
    ("stop", "0 20 * * FRI-MON", "'FRI-MON' is a reversed range"),
    ("stop", "0 20 * JAN-DEC MON-FRI", ""),  # valid: the control case
])
def test_schedule_crons_are_one_clear_error(key, value, expected):
    raw = apply_edits("dev", [("gpufleet:cost.schedule", {key: value})])
    if not expected:
        validate(raw)
        return
    assert_one_line_error(raw, SRC, f"gpufleet:cost.schedule.{key}", expected)


# ---------------------------------------------------------------- time zone

@SETTINGS
@given(st.sampled_from(sorted(iana_time_zones())))
def test_every_iana_zone_passes(zone):
    assert ScheduleConfig(time_zone=zone).time_zone == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Factory", "localtime", "../../etc/passwd", "Europe/", "", "CEST",
                                  "UTC+2"])
def test_a_name_that_is_no_iana_zone_is_refused(zone):
    raw = apply_edits("dev", [("gpufleet:cost.schedule", {"time_zone": zone})])
    assert_one_line_error(raw, SRC, "gpufleet:cost.schedule.time_zone", "an IANA time zone name")


def test_the_zone_list_is_the_tz_database():
    assert "Europe/Berlin" in iana_time_zones() and "Etc/UTC" in iana_time_zones()
    assert iana_time_zones() <= zoneinfo.available_timezones()
