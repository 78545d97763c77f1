"""NVMe scratch: the local-static-provisioner on always-on pools with instance store, the
local-nvme class, and the init script that publishes bind mounts of the RAID0 array.
(Pools at zero get no local PVs: see tests/test_scratch.py.)"""

from __future__ import annotations

import pytest

from gpufleet.modules.charts import CHARTS
from gpufleet.modules.helm_addon import check_values
from gpufleet.modules.k8s_schema import validate_builtin
from gpufleet.modules.nodespec import POOL_LABEL
from gpufleet.modules.schema import storage as schema
from gpufleet.modules.storage import nvme

from .conftest import shipped_plan
from .helpers import edit, raw_config, render, storage_classes
from .test_scratch import plan_of

RELEASE = "kubernetes:helm.sh/v3:Release"


# ------------------------------------------------------------------ NVMe scratch

def scratch_values(plan) -> dict:
    return plan.get(RELEASE, "local-nvme-release").inputs["values"]


@pytest.fixture(params=["prod", "dev-train-spot-always-on"])
def local_pv_plan(request):
    """A plan with local PVs: prod (infer-l40s always on) and dev with train-spot always on
    (2 volumes per node). No shipped pool at zero has them any more."""
    return plan_of(request.param)


def test_provisioner_is_pinned_and_its_values_exist_in_the_chart(local_pv_plan):
    rel = local_pv_plan.get(RELEASE, "local-nvme-release").inputs
    chart = CHARTS["local-static-provisioner"]
    assert (rel["chart"], rel["version"], rel["repositoryOpts"]["repo"]) == (chart.chart, chart.version, chart.repo)
    check_values(chart, rel["values"])  # raises on a key the pinned chart does not have


def test_provisioner_runs_only_on_nvme_pools_and_tolerates_the_gpu_taint(local_pv_plan):
    cfg = local_pv_plan.config
    values = scratch_values(local_pv_plan)
    term = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term == [{"matchExpressions": [{"key": POOL_LABEL, "operator": "In",
                                           "values": sorted(schema.scratch_pools(cfg))}]}]
    assert schema.scratch_pools(cfg)
    for name in schema.scratch_pools(cfg):
        assert cfg.pool(name).has_nvme and cfg.pool(name).min >= 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]


def test_staging_offers_local_pvs_only_where_configured():
    """staging's pools all scale from zero: no local PVs, whatever has NVMe; with the inference
    pool kept running (and listed), exactly that pool."""
    staging = shipped_plan("staging")
    assert staging.outputs["storage"]["scratch_pools"] == []
    assert "local-nvme" not in storage_classes(staging)
    raw = raw_config("staging")
    i = [p["name"] for p in raw["gpufleet:pools"]["gpu"]].index("infer-l40s")
    edit(raw, f"gpufleet:pools.gpu[{i}].min", 1)
    edit(raw, f"gpufleet:pools.gpu[{i}].always_on", True)
    edit(raw, "gpufleet:storage.scratch", {"pools": ["infer-l40s"]})
    plan = render(raw)
    values = scratch_values(plan)
    pools = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert pools["matchExpressions"][0]["values"] == ["infer-l40s"]
    assert plan.outputs["storage"]["scratch_pools"] == ["infer-l40s"]


def test_provisioner_publishes_bind_mounts_of_the_raid0_array_not_the_array():
    values = scratch_values(plan_of("dev-train-spot-always-on"))
    (cls,) = values["classes"]
    assert cls["name"] == "local-nvme" and cls["hostDir"] == "/mnt/local-nvme"
    assert cls["volumeMode"] == "Filesystem"
    (init,) = values["initContainers"]
    script = init["command"][-1]
    assert "mountpoint -q /host/mnt/k8s-disks/0" in script  # nodeadm's RAID0 mount
    assert "mount --bind" in script and "seq 1 2" in script  # volumes_per_node: 2
    assert init["volumeMounts"][0]["mountPropagation"] == "Bidirectional"
    assert init["securityContext"] == {"privileged": True}


def test_provisioner_pod_pieces_validate_as_a_pod(local_pv_plan):
    values = scratch_values(local_pv_plan)
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "local-nvme-check"},
        "spec": {
            "containers": [{"name": "provisioner", "image": "registry.k8s.io/sig-storage/local-volume-provisioner:v2.9.0"}],
            "initContainers": values["initContainers"],
            "volumes": values["additionalVolumes"],
            "affinity": values["affinity"],
            "tolerations": values["tolerations"],
        },
    }
    assert validate_builtin(pod, local_pv_plan.config.cluster.version) == []


def test_provisioner_namespace_allows_privileged_pods(prod_plan):
    ns = prod_plan.get("kubernetes:core/v1:Namespace", "local-nvme-ns").inputs
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_pool_taints_are_tolerated_too():
    pools = [nvme.ScratchPool("a", (("dedicated", "research", "NoSchedule"),)), nvme.ScratchPool("b")]
    tol = nvme.tolerations(pools)
    assert {"key": "dedicated", "operator": "Equal", "value": "research", "effect": "NoSchedule"} in tol
    assert len(tol) == 2


def test_no_scratch_means_no_provisioner_and_no_class():
    raw = raw_config("prod")
    edit(raw, "gpufleet:storage.scratch", {"pools": []})
    plan = render(raw)
    assert not [r for r in plan.resources if r.name.startswith("local-nvme")]  # nor its node-cleanup controller
    assert "local-nvme" not in storage_classes(plan)
    assert plan.outputs["storage"]["storage_classes"]["scratch"] is None
    assert set(storage_classes(plan)) == {"gp3", "checkpoints", "shared-datasets"}


def _run_prepare(tmp_path, script: str, raid_mounted: bool):
    """Run the init container's script against a fake host: ``/host/mnt`` becomes a temp dir,
    ``mountpoint`` and ``mount`` are stubs that keep the mount table in a file."""
    import subprocess

    root = tmp_path / "host-mnt"
    (root / "k8s-disks" / "0").mkdir(parents=True, exist_ok=True)
    table = tmp_path / "mounts"
    if not table.exists():
        table.write_text(str(root / "k8s-disks" / "0") + "\n" if raid_mounted else "")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mountpoint").write_text(f'#!/bin/sh\ngrep -qx "$2" {table}\n')
    (bin_dir / "mount").write_text(f'#!/bin/sh\n[ "$1" = --bind ] || exit 2\necho "$3" >> {table}\n')
    for f in ("mountpoint", "mount"):
        (bin_dir / f).chmod(0o755)
    body = script.replace(nvme.HOST_MNT, str(root))
    result = subprocess.run(["sh", "-c", body], check=False, env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=10)
    return result, root, table.read_text().split()


def test_prepare_script_binds_each_volume_once(tmp_path):
    script = nvme.prepare_script(3)
    result, root, mounts = _run_prepare(tmp_path, script, raid_mounted=True)
    assert result.returncode == 0, result.stderr
    published = [str(root / "local-nvme" / f"vol-{i}") for i in (1, 2, 3)]
    assert mounts[1:] == published
    for i in (1, 2, 3):
        assert (root / "k8s-disks" / "0" / "local-nvme" / f"vol-{i}").is_dir()
    # a restarted pod finds the mounts in place and binds nothing twice
    result, _, again = _run_prepare(tmp_path, script, raid_mounted=True)
    assert result.returncode == 0 and again == mounts


def test_prepare_script_refuses_a_node_without_the_array(tmp_path):
    result, root, mounts = _run_prepare(tmp_path, nvme.prepare_script(1), raid_mounted=False)
    assert result.returncode == 1
    assert "no instance-store RAID0 array at /mnt/k8s-disks/0" in result.stderr
    assert mounts == [] and not (root / "local-nvme").exists()
