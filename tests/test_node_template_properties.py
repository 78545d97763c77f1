"""Property: for every pool of every valid config, the cluster-autoscaler's template node
offers what a ready node of that pool reports (issue #9, section 3).

The template is rebuilt the way the autoscaler builds it (instance facts, then the ASG's
``node-template/resources/*`` tags override them: ``node_model.template_capacity``); the
ready node's GPU resources come from an independent model of the NVIDIA device plugin
(``ready_node_gpu_resources``), its other figures from ``node_model.node_shape`` for each
instance type the pool may launch.
"""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.modules import catalog, node_model
from gpufleet.modules.nodespec import autoscaler_tags, gpu_spec, user_data
from gpufleet.modules.schema.pools import GpuPool

from .test_day_one import ready_node_gpu_resources

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GPU_TYPES = sorted(n for n in catalog.instance_type_names()
                   if catalog.instance_type(n).has_gpu and catalog.instance_type(n).arch == "amd64")


def _siblings(name: str) -> list[str]:
    """Instance types a pool may mix with ``name``: same GPU model and count, same pods per node."""
    it = catalog.instance_type(name)
    return [t for t in GPU_TYPES if t != name
            and (catalog.instance_type(t).gpu_model, catalog.instance_type(t).gpu_count) == (it.gpu_model, it.gpu_count)
            and node_model.max_pods(catalog.instance_type(t)) == node_model.max_pods(it)]


@st.composite
def gpu_pools(draw) -> GpuPool:
    first = draw(st.sampled_from(GPU_TYPES))
    types = [first]
    siblings = _siblings(first)
    if siblings and draw(st.booleans()):
        types.append(draw(st.sampled_from(siblings)))
    model = catalog.instance_type(first).gpu_model
    modes = ["none", "timeslice"] + (["mig"] if catalog.valid_mig_configs(model) else [])
    sharing = draw(st.sampled_from(modes))
    pool: dict = {"name": "p", "instance_types": types, "max": draw(st.integers(1, 8)), "sharing": sharing,
                  "ami": draw(st.sampled_from(["al2023", "bottlerocket"])),
                  "disk_gb": draw(st.integers(50, 2000))}
    if sharing == "mig":
        pool["mig_config"] = draw(st.sampled_from(catalog.valid_mig_configs(model)))
    if sharing == "timeslice":
        pool["replicas"] = draw(st.integers(2, 48))
    if all(catalog.instance_type(t).efa for t in types) and draw(st.booleans()):
        pool["efa"] = True
    if len(types) > 1 and draw(st.booleans()):
        pool["capacity"] = "spot"
    return GpuPool.model_validate(pool)


def hugepages_in_user_data(spec) -> int:
    text = base64.b64decode(user_data(spec)).decode()
    for marker in ("vm.nr_hugepages=", '"vm.nr_hugepages" = "'):
        if marker in text:
            return int(text.split(marker, 1)[1].split()[0].strip('"'))
    return 0


@PROPS
@given(pool=gpu_pools())
def test_the_template_node_offers_what_a_ready_node_reports(pool):
    spec = gpu_spec(pool, ["us-east-1a", "us-east-1b"])
    tags = autoscaler_tags(spec)
    pages = hugepages_in_user_data(spec)
    assert (pages > 0) == pool.efa
    for itype in pool.instance_types:
        template = node_model.template_capacity(itype, tags)
        ready = node_model.node_shape(itype, disk_gb=pool.disk_gb, nvme_raid0=pool.has_nvme, hugepages_2mi=pages,
                                      extended=spec.resources).allocatable()
        # GPUs: exactly what the device plugin advertises (no whole GPU on a MIG node)
        for resource, n in ready_node_gpu_resources(pool).items():
            assert template[resource] == n, (itype, resource)
        # everything else the node reports beyond cpu and memory is on the template,
        # and never more than any instance type of the pool delivers
        for resource, n in ready.items():
            if resource in ("cpu", "memory"):
                continue
            assert resource in template, (itype, resource)
            assert template[resource] <= n, (itype, resource, template[resource], n)
            assert template[resource] == spec.shape.allocatable()[resource], (itype, resource)
        if pool.efa:
            assert template["hugepages-2Mi"] == 2 * pages
            assert template["vpc.amazonaws.com/efa"] == pool.efa_interfaces


@PROPS
@given(pool=gpu_pools())
def test_kubelet_reserve_matches_the_pods_a_node_takes(pool):
    spec = gpu_spec(pool, ["us-east-1a"])
    text = base64.b64decode(user_data(spec)).decode()
    pods = spec.max_pods
    if spec.bottlerocket:
        # Bottlerocket derives its memory reserve from its own max-pods setting
        assert f"max-pods = {pods}\n" in text
    else:
        assert f"maxPods: {pods}\n" in text and f"memory: {11 * pods + 255}Mi" in text
    for itype in pool.instance_types:
        it = catalog.instance_type(itype)
        assert pods == (110 if it.vcpu < 30 else 250)
