"""Property tests (hypothesis) for the pure helpers and the config validators."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gpufleet.modules import catalog
from gpufleet.modules.config import ConfigError
from gpufleet.modules.network import plan_subnets
from gpufleet.modules.nodespec import autoscaler_tags, gpu_spec
from gpufleet.modules.schema.foundation import CostTags
from gpufleet.modules.schema.pools import MAX_TIMESLICE_REPLICAS, GpuPool
from gpufleet.modules.tags import REQUIRED_TAG_KEYS, Tagger

from .helpers import edit, raw_config, validate

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GPU_TYPES = [n for n in catalog.instance_type_names()
             if catalog.instance_type(n).has_gpu and catalog.instance_type(n).arch == "amd64"]
MIG_TYPES = [n for n in GPU_TYPES if catalog.instance_type(n).gpu_model.mig_capable]


@FAST
@given(prefix=st.integers(16, 20), n=st.integers(2, 6), third=st.integers(0, 255), second=st.integers(16, 31))
def test_subnets_fit_the_vpc_and_never_overlap(prefix, n, third, second):
    vpc = ipaddress.IPv4Network(f"172.{second}.{third}.0/{prefix}", strict=False)
    azs = [f"us-east-1{c}" for c in "abcdef"[:n]]
    plans = plan_subnets(vpc, azs)
    nets = [ipaddress.IPv4Network(p.private_cidr) for p in plans] + [ipaddress.IPv4Network(p.public_cidr) for p in plans]
    assert all(net.subnet_of(vpc) for net in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert [p.az for p in plans] == azs


@FAST
@given(lo=st.integers(0, 20), hi=st.integers(1, 20))
def test_pool_sizes(lo, hi):
    pool = {"name": "p", "instance_types": ["g6.xlarge"], "min": lo, "max": hi, "always_on": lo > 0}
    if lo <= hi:
        assert GpuPool.model_validate(pool).max == hi
    else:
        with pytest.raises(ValueError, match="at most max"):
            GpuPool.model_validate(pool)


@FAST
@given(replicas=st.integers(-5, 100), itype=st.sampled_from(GPU_TYPES))
def test_timeslice_replicas_bound_and_resources(replicas, itype):
    pool = {"name": "ts", "instance_types": [itype], "sharing": "timeslice", "replicas": replicas, "max": 2}
    if 2 <= replicas <= MAX_TIMESLICE_REPLICAS:
        p = GpuPool.model_validate(pool)
        assert p.gpu_resources_per_node == {"nvidia.com/gpu": catalog.instance_type(itype).gpu_count * replicas}
    else:
        with pytest.raises(ValueError, match="an integer from 2 to"):
            GpuPool.model_validate(pool)


def _compute_slices(profile: str) -> int:
    return int(re.match(r"(\d+)g\.", profile).group(1))


@FAST
@given(itype=st.sampled_from(MIG_TYPES), config=st.sampled_from(catalog.mig_config_names()))
def test_mig_layouts_fit_the_gpu(itype, config):
    model = catalog.instance_type(itype).gpu_model
    layout = catalog.mig_layout(config, model)
    pool = {"name": "mig", "instance_types": [itype], "sharing": "mig", "mig_config": config, "max": 1}
    if layout is None:
        with pytest.raises(ValueError, match="mig_config|MIG config"):
            GpuPool.model_validate(pool)
        return
    assert set(layout) <= set(model.mig_profiles)
    # an A100/H100/H200 has 7 compute slices
    assert sum(_compute_slices(p) * n for p, n in layout.items()) <= 7
    p = GpuPool.model_validate(pool)
    gpus = catalog.instance_type(itype).gpu_count
    assert p.gpu_resources_per_node == {f"nvidia.com/mig-{k}": v * gpus for k, v in layout.items()}


@pytest.mark.parametrize("itype", ["g5.xlarge", "g6.xlarge", "g6e.xlarge", "g4dn.xlarge"])
def test_gpus_that_cannot_mig(itype):
    assert catalog.valid_mig_configs(catalog.instance_type(itype).gpu_model) == []


@pytest.mark.parametrize("itype,label", [("p4d.24xlarge", "A100 40GB"), ("p4de.24xlarge", "A100 80GB"),
                                         ("p5.48xlarge", "H100 80GB")])
def test_mig_capable_models(itype, label):
    model = catalog.instance_type(itype).gpu_model
    assert model.label == label and model.mig_capable
    assert ("all-1g.5gb" in catalog.valid_mig_configs(model)) == (label == "A100 40GB")
    assert ("all-7g.80gb" in catalog.valid_mig_configs(model)) == (label != "A100 40GB")


label_values = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@FAST
@given(itype=st.sampled_from(GPU_TYPES), extra=st.dictionaries(
    st.from_regex(r"team\.example\.com/[a-z]{1,20}", fullmatch=True), label_values, max_size=4))
def test_autoscaler_tags_describe_every_label_taint_and_resource(itype, extra):
    pool = GpuPool.model_validate({"name": "p", "instance_types": [itype], "max": 1, "labels": extra})
    spec = gpu_spec(pool, ["us-east-1a", "us-east-1b"])
    tags = autoscaler_tags(spec)
    for key, value in spec.labels.items():
        assert tags[f"k8s.io/cluster-autoscaler/node-template/label/{key}"] == value
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"] == str(
        catalog.instance_type(itype).gpu_count)
    assert all(len(k) <= 128 and len(v) <= 256 for k, v in tags.items())  # AWS tag limits


@FAST
@given(extra=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=5))
def test_tagger_always_carries_the_cost_tags(extra):
    tagger = Tagger(CostTags.model_validate({"team": "t", "cost-center": "c", "env": "dev", "project": "p"}), "dev")
    if set(extra) & set(REQUIRED_TAG_KEYS):
        with pytest.raises(ValueError, match="cost-allocation tag"):
            tagger("x", extra)
        return
    tags = tagger("x", extra)
    assert {k: tags[k] for k in REQUIRED_TAG_KEYS} == {"team": "t", "cost-center": "c", "env": "dev", "project": "p"}


@FAST
@given(prefix=st.integers(0, 32), a=st.integers(0, 255))
def test_public_endpoint_allowlist(prefix, a):
    cidr = str(ipaddress.IPv4Network(f"{a}.0.0.0/{prefix}", strict=False))
    raw = edit(raw_config("dev"), "gpufleet:cluster.endpoint.public_cidrs", [cidr])
    if prefix == 0:
        with pytest.raises(ConfigError, match="never 0.0.0.0/0"):
            validate(raw)
    elif prefix < 16:  # dev's ceiling: no range broader than /16 (a few /1s are the internet too)
        with pytest.raises(ConfigError, match=r"public_cidrs\[0\].*a range of /16 or narrower"):
            validate(raw)
    else:
        assert validate(raw).cluster.endpoint.public_cidrs[0].prefixlen == prefix


@FAST
@given(prefixes=st.lists(st.integers(16, 32), min_size=1, max_size=6), seconds=st.lists(st.integers(0, 255), min_size=6,
                                                                                   max_size=6, unique=True))
def test_public_endpoint_allowlist_union(prefixes, seconds):
    cidrs = [str(ipaddress.IPv4Network(f"198.{s}.0.0/{p}", strict=False)) for p, s in zip(prefixes, seconds)]
    raw = edit(raw_config("dev"), "gpufleet:cluster.endpoint.public_cidrs", cidrs)
    total = sum(n.num_addresses for n in ipaddress.collapse_addresses(ipaddress.IPv4Network(c) for c in cidrs))
    if total > 65536:
        with pytest.raises(ConfigError, match="an allowlist of at most 65,536 addresses"):
            validate(raw)
    else:
        assert validate(raw)


@FAST
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789-_.", min_size=0, max_size=45))
def test_pool_names_are_dns_labels(name):
    ok = bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)) and len(name) <= 40
    assume(name not in ("system", "default"))  # "default": the device plugin's default config key
    raw = edit(raw_config("dev"), "gpufleet:pools.gpu[0].name", name)
    # other sections refer to the pool by name: follow the rename
    for team in raw["gpufleet:teams"]:
        if "shared-l4" in team["shares"]:
            team["shares"][name] = team["shares"].pop("shared-l4")
    busy = raw.get("gpufleet:cost", {}).get("busy", {})
    if "shared-l4" in busy:
        busy[name] = busy.pop("shared-l4")
    if ok and name != "train-spot":
        assert validate(raw).pools.gpu[0].name == name
    else:
        with pytest.raises(ConfigError, match=r"gpufleet:pools\.gpu\[[01]\]\.name"):
            validate(raw)
