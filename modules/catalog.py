"""Catalog facts: instance types, GPU models, MIG configurations, EKS versions, regions.

Facts are data (``modules/data/*.json``, each naming its source and date); this module
only loads them, once, and answers questions about them. Nothing here talks to AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Mapping

DATA_DIR = Path(__file__).resolve().parent / "data"


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed data file ``modules/data/<name>``."""
    return json.loads((DATA_DIR / name).read_text())


@dataclass(frozen=True)
class GpuModel:
    key: str  # e.g. "a100-40gb"
    name: str  # e.g. "a100"
    mig_profiles: tuple[str, ...] = ()
    pci_device_ids: tuple[str, ...] = ()

    @property
    def mig_capable(self) -> bool:
        return bool(self.mig_profiles)

    @property
    def label(self) -> str:
        """Human form, e.g. ``A100 40GB``."""
        name, mem = self.key.rsplit("-", 1)
        return f"{name.upper()} {mem.upper()}"


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    arch: str
    vcpu: int
    memory_mib: int
    gpu_count: int
    gpu_name: str | None
    gpu_manufacturer: str | None
    gpu_memory_mib: int
    nvme_gb: int
    efa: int
    allocatable: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_gpu(self) -> bool:
        """Has NVIDIA GPUs (the only kind the platform schedules)."""
        return self.gpu_count > 0 and self.gpu_manufacturer == "nvidia"

    @property
    def has_nvme(self) -> bool:
        return self.nvme_gb > 0

    @property
    def gpu_model(self) -> GpuModel | None:
        if not self.has_gpu:
            return None
        return gpu_model(self.gpu_name or "", self.gpu_memory_mib)


def instance_type(name: str) -> InstanceType | None:
    """Facts for one EC2 instance type, or None when the catalog doesn't know it."""
    return _instance_types().get(name)


def instance_type_names() -> list[str]:
    return sorted(_instance_types())


@cache
def _instance_types() -> dict[str, InstanceType]:
    types = {}
    for name, t in load("instance_types.json")["types"].items():
        types[name] = InstanceType(
            name=name,
            family=t["family"],
            arch=t["arch"],
            vcpu=t["vcpu"],
            memory_mib=t["memory_mib"],
            gpu_count=t["gpu_count"],
            gpu_name=t["gpu_name"],
            gpu_manufacturer=t["gpu_manufacturer"],
            gpu_memory_mib=t["gpu_memory_mib"],
            nvme_gb=t["nvme_gb"],
            efa=t["efa"],
            allocatable=t["allocatable"],
        )
    return types


@cache
def gpu_model(gpu_name: str, memory_mib: int) -> GpuModel:
    """The GPU model for a catalog GPU name and per-GPU memory (nearest known memory size)."""
    gib = memory_mib / 1024
    candidates = [
        (abs(int(key.rsplit("-", 1)[1].removesuffix("gb")) - gib), key, m)
        for key, m in load("gpu_models.json")["models"].items()
        if key.rsplit("-", 1)[0] == gpu_name
    ]
    if not candidates:
        return GpuModel(key=f"{gpu_name}-{round(gib)}gb", name=gpu_name)
    _, key, m = min(candidates)
    return GpuModel(key, gpu_name, tuple(m["mig_profiles"]), tuple(m["pci_device_ids"]))


def mig_config_names() -> list[str]:
    return sorted(load("mig_configs.json")["mig-configs"])


def mig_layout(config: str, model: GpuModel) -> dict[str, int] | None:
    """MIG devices per GPU (profile -> count) that ``config`` gives on ``model``.

    None when the config does not exist, does not enable MIG, has no entry for this GPU,
    or uses a profile the GPU does not have.
    """
    entries = load("mig_configs.json")["mig-configs"].get(config)
    if not entries or not model.mig_capable:
        return None
    layout: dict[str, int] = {}
    for entry in entries:
        filt = entry.get("device-filter")
        if filt is not None:
            ids = [filt] if isinstance(filt, str) else filt
            if not set(ids) & set(model.pci_device_ids):
                continue
        if not entry.get("mig-enabled") or not entry.get("mig-devices"):
            return None
        for profile, count in entry["mig-devices"].items():
            if profile not in model.mig_profiles:
                return None
            layout[profile] = layout.get(profile, 0) + int(count)
    return layout or None


def valid_mig_configs(model: GpuModel) -> list[str]:
    return [c for c in mig_config_names() if mig_layout(c, model) is not None]


def mig_resource_name(profile: str) -> str:
    """The extended resource a MIG device is advertised as under the ``mixed`` strategy."""
    return f"nvidia.com/mig-{profile}"


@dataclass(frozen=True)
class EksVersion:
    version: str
    released: date
    end_of_standard_support: date
    end_of_extended_support: date

    def in_standard_support(self, on: date) -> bool:
        return self.released <= on <= self.end_of_standard_support


def eks_versions() -> dict[str, EksVersion]:
    return {
        v: EksVersion(v, *(date.fromisoformat(d[k]) for k in
                           ("released", "end_of_standard_support", "end_of_extended_support")))
        for v, d in load("eks_versions.json")["versions"].items()
    }


def regions() -> dict[str, list[str]]:
    return load("regions.json")["regions"]


def on_demand_prices() -> dict[str, Any]:
    """The bundled on-demand price table (us-east-1) with its source and date."""
    return load("prices-us-east-1.json")
