"""Regenerate the catalog data in ``modules/data`` from the shared reference folder.

The platform must work from a clean clone without ``../shared``, so the facts it
needs are copied here once, with their upstream source and the date of the copy.
Run ``python scripts/import_reference.py [path/to/shared/reference]`` to refresh.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "modules" / "data"


def _num(text: str | None) -> int:
    return int(text) if text else 0


def import_instance_types(ref: Path) -> None:
    raw = json.loads((ref / "aws" / "instance-types.json").read_text())
    types = {}
    for name, entry in sorted(raw["types"].items()):
        labels, alloc = entry["labels"], entry["allocatable"]
        types[name] = {
            "family": labels.get("family"),
            "arch": labels.get("kubernetes.io/arch"),
            "vcpu": _num(labels.get("cpu")),
            "memory_mib": _num(labels.get("memory")),
            "gpu_count": _num(labels.get("gpu-count")),
            "gpu_name": labels.get("gpu-name"),
            "gpu_manufacturer": labels.get("gpu-manufacturer"),
            "gpu_memory_mib": _num(labels.get("gpu-memory")),
            "nvme_gb": _num(labels.get("local-nvme")),
            "network_mbps": _num(labels.get("network-bandwidth")),
            "efa": _num(alloc.get("vpc.amazonaws.com/efa")),
            "allocatable": alloc,
        }
    doc = {
        "source": raw["source"],
        "copied_from": "shared/reference/aws/instance-types.json",
        "copied_on": date.today().isoformat(),
        "units": {"memory_mib": "MiB", "gpu_memory_mib": "MiB per GPU", "nvme_gb": "GB total",
                  "network_mbps": "Mbit/s", "efa": "EFA interfaces a node reports"},
        "types": types,
    }
    (DATA / "instance_types.json").write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n")


def import_prices(ref: Path) -> None:
    raw = json.loads((ref / "aws" / "on-demand-prices-us-east-1.json").read_text())
    raw["copied_from"] = "shared/reference/aws/on-demand-prices-us-east-1.json"
    raw["copied_on"] = date.today().isoformat()
    (DATA / "prices-us-east-1.json").write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n")


def import_mig(ref: Path) -> None:
    raw = json.loads((ref / "gpu" / "mig-parted-default-configs.json").read_text())
    raw["copied_from"] = "shared/reference/gpu/mig-parted-default-configs.json"
    raw["copied_on"] = date.today().isoformat()
    (DATA / "mig_configs.json").write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n")


def import_schemas(ref: Path) -> None:
    """Refresh the CRDs, chart defaults and chart archives the reference holds. Files the
    project added itself (defaults it extracted from an archive the reference has no values
    file for, e.g. kserve-runtime-configs, metrics-server) stay: the copy merges, never wipes."""
    for folder in ("crds", "helm-values", "charts"):
        shutil.copytree(ref / folder, DATA / "reference" / folder, dirs_exist_ok=True)


def main(argv: list[str]) -> int:
    ref = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "reference"
    if not ref.is_dir():
        print(f"reference folder not found: {ref}", file=sys.stderr)
        return 2
    import_instance_types(ref)
    import_prices(ref)
    import_mig(ref)
    import_schemas(ref)
    print(f"imported catalog data from {ref} into {DATA}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
