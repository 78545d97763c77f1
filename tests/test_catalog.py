"""Catalog facts are data with a source and a date, and say what the issue says they do."""

from __future__ import annotations

import pytest

from gpufleet.modules import catalog


@pytest.mark.parametrize("name", ["instance_types.json", "prices-us-east-1.json", "mig_configs.json",
                                  "gpu_models.json", "eks_versions.json", "regions.json"])
def test_every_data_file_names_its_source_and_date(name):
    doc = catalog.load(name)
    assert doc.get("source")
    assert doc.get("date") or doc.get("copied_on") or doc.get("generated")


@pytest.mark.parametrize("itype,gpus,model,efa,nvme", [
    ("p4d.24xlarge", 8, "a100-40gb", 4, True),
    ("p4de.24xlarge", 8, "a100-80gb", 4, True),
    ("p5.48xlarge", 8, "h100-80gb", 32, True),
    ("g5.xlarge", 1, "a10g-24gb", 0, True),
    ("g6.xlarge", 1, "l4-24gb", 0, True),
    ("g6e.xlarge", 1, "l40s-48gb", 0, True),
])
def test_instance_facts(itype, gpus, model, efa, nvme):
    it = catalog.instance_type(itype)
    assert (it.gpu_count, it.gpu_model.key, it.efa, it.has_nvme) == (gpus, model, efa, nvme)
    assert it.allocatable["nvidia.com/gpu"] == str(gpus)


def test_cpu_types_have_no_gpu_and_unknown_types_are_none():
    assert not catalog.instance_type("m7i.large").has_gpu
    assert catalog.instance_type("m7i.large").gpu_model is None
    assert catalog.instance_type("x9.mega") is None


def test_eks_versions_in_standard_support_on_a_fixed_date():
    from datetime import date

    versions = catalog.eks_versions()
    on = date(2026, 11, 24)
    assert {v for v, ver in versions.items() if ver.in_standard_support(on)} == {"1.34", "1.35", "1.36"}


def test_every_region_lists_azs_of_its_own():
    for region, azs in catalog.regions().items():
        assert len(azs) >= 2 and all(az.startswith(region) and len(az) == len(region) + 1 for az in azs)
