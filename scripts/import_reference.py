"""Regenerate the catalog data in ``modules/data`` from the shared reference folder.

The platform must work from a clean clone without ``../shared``, so the facts it
needs are copied here once, with their upstream source and the date of the copy.
Run ``python scripts/import_reference.py [path/to/shared/reference]`` to refresh;
``--check`` writes nothing and exits 1 when a refresh would change a file (listing them).

What it writes under ``modules/data``:

- ``instance_types.json``, ``prices-us-east-1.json``, ``mig_configs.json``: from the
  reference's ``aws/`` and ``gpu/`` files, stamped with ``copied_on``.
- ``reference/crds``, ``reference/charts``: the reference's files, copied.
- ``reference/helm-values``: the reference's chart defaults, plus what the project derives
  from the chart archives itself (:data:`SUBCHART_VALUES`: a vendored subchart's defaults
  merged under its key, as Helm merges them, where the platform sets that subchart's values;
  :data:`ARCHIVE_VALUES`: the defaults of a chart the reference has no values file for).

A file whose content is already what the reference gives is left as it is (its
``copied_on`` date and its formatting too): only real changes are written, so refreshing an
up-to-date checkout changes nothing. Files the project added itself that the reference does
not produce (e.g. ``reference/trainer-runtimes-2.3.0.json``) stay: the copy merges, never wipes.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gpufleet.modules import clock

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "modules" / "data"
#: the reference folder next to the checkout (``../shared/reference``)
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"
#: how the derived files name the archives they come from (the repository's copies)
CHARTS_SHOWN = "modules/data/reference/charts"

#: Vendored subcharts whose defaults the platform needs in a chart's values file: it sets
#: their values (``modules/ml/training.py`` pins the JobSet image under ``jobset``), and
#: :class:`modules.helm_addon.HelmAddon` refuses a key the defaults lack. The reference's
#: values file holds the parent chart's ``values.yaml`` only; the subchart's come from the
#: archive of the same version (``<values file stem>.tgz``). ``{chart: subcharts}``.
SUBCHART_VALUES: dict[str, tuple[str, ...]] = {
    "kubeflow-trainer": ("jobset",),
}

#: Charts the platform installs (``modules/charts.py``) that the reference has an archive of
#: but no values file for: their defaults come from the archive's ``values.yaml``.
#: ``{archive stem (= values file stem): upstream source of values.yaml}``.
ARCHIVE_VALUES: dict[str, str] = {
    "kserve-runtime-configs-v0.20.0": "kserve/kserve@v0.20.0 charts/kserve-runtime-configs/values.yaml",
    "metrics-server-3.13.1": "kubernetes-sigs/metrics-server@metrics-server-helm-chart-3.13.1 "
                             "charts/metrics-server/values.yaml",
}

#: the key a copy's date is under; a difference in it alone is no change
DATE_KEY = "copied_on"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# ---------------------------------------------------------------- what a refresh produces

@dataclass(frozen=True)
class Copy:
    """A file copied as it is."""

    source: Path

    def same_as(self, target: Path) -> bool:
        return target.is_file() and target.read_bytes() == self.source.read_bytes()

    def write(self, target: Path) -> None:
        if target.exists():
            target.unlink()  # a read-only copy (the reference's files are read-only) is replaced
        shutil.copy2(self.source, target)


@dataclass(frozen=True)
class JsonDoc:
    """A JSON document the script builds; compared by content (``copied_on`` aside), so a
    file that says the same keeps its date and its formatting."""

    doc: dict[str, Any]
    indent: int | None = 1
    sort_keys: bool = False
    dated: bool = field(default=False)

    def _comparable(self, doc: Any) -> str:
        if isinstance(doc, dict):
            doc = {k: v for k, v in doc.items() if k != DATE_KEY}
        return json.dumps(doc, sort_keys=self.sort_keys)  # key order counts unless the file sorts its keys

    def same_as(self, target: Path) -> bool:
        if not target.is_file():
            return False
        try:
            existing = json.loads(target.read_text())
        except (UnicodeDecodeError, ValueError):
            return False
        if self.dated and not (isinstance(existing, dict) and DATE_KEY in existing):
            return False  # a copy says when it was made
        return self._comparable(existing) == self._comparable(self.doc)

    def text(self) -> str:
        doc = dict(self.doc)
        if self.dated:
            doc[DATE_KEY] = clock.today().isoformat()
        return json.dumps(doc, indent=self.indent, sort_keys=self.sort_keys) + "\n"

    def write(self, target: Path) -> None:
        text = self.text()
        if target.exists():
            target.unlink()  # a read-only copy (the reference's files are read-only) is replaced
        target.write_text(text)


Output = Copy | JsonDoc


def _num(text: str | None) -> int:
    return int(text) if text else 0


def instance_types(ref: Path) -> JsonDoc:
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
        "units": {"memory_mib": "MiB", "gpu_memory_mib": "MiB per GPU", "nvme_gb": "GB total",
                  "network_mbps": "Mbit/s", "efa": "EFA interfaces a node reports"},
        "types": types,
    }
    return JsonDoc(doc, indent=0, sort_keys=True, dated=True)


def _copied(ref: Path, relative: str) -> JsonDoc:
    raw = json.loads((ref / relative).read_text())
    raw["copied_from"] = f"shared/reference/{relative}"
    return JsonDoc(raw, indent=1, sort_keys=True, dated=True)


def prices(ref: Path) -> JsonDoc:
    return _copied(ref, "aws/on-demand-prices-us-east-1.json")


def mig_configs(ref: Path) -> JsonDoc:
    return _copied(ref, "gpu/mig-parted-default-configs.json")


# ---------------------------------------------------------------- chart defaults from archives

class Archive:
    """A Helm chart archive (``<chart>-<version>.tgz``, one top folder with ``Chart.yaml``)."""

    def __init__(self, path: Path):
        self.path = path
        with tarfile.open(path) as tar:
            self._files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        tops = sorted(name.split("/", 1)[0] for name in self._files if name.count("/") == 1
                      and name.endswith("/Chart.yaml"))
        if len(tops) != 1:
            raise SystemExit(f"{path}: expected one chart folder with a Chart.yaml, found {tops or 'none'}")
        self.top = tops[0]

    def yaml(self, relative: str) -> Any:
        name = f"{self.top}/{relative}"
        if name not in self._files:
            raise SystemExit(f"{self.path}: no {name}")
        return yaml.load(io.BytesIO(self._files[name]), Loader=_YAML_LOADER)

    @property
    def chart(self) -> dict[str, Any]:
        return self.yaml("Chart.yaml")

    def values(self) -> dict[str, Any]:
        return self.yaml("values.yaml") or {}


def _coalesce(defaults: Any, values: Any) -> Any:
    """A subchart's defaults under the parent's values for it, as Helm merges them: the
    parent's value wins, maps merge key by key, a null removes the key."""
    if not (isinstance(defaults, dict) and isinstance(values, dict)):
        return values
    merged = dict(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _coalesce(merged[key], value)
        else:
            merged[key] = value
    return merged


def with_subcharts(doc: dict[str, Any], archive: Archive, subcharts: tuple[str, ...]) -> dict[str, Any]:
    """``doc`` (a chart's defaults: ``defaults`` is its ``values.yaml``) with each vendored
    subchart's ``values.yaml`` merged under the subchart's key, and ``source_subcharts`` saying so."""
    dependencies = {d["name"]: d for d in archive.chart.get("dependencies") or []}
    defaults = dict(doc["defaults"])
    said = []
    for name in subcharts:
        if name not in dependencies:
            raise SystemExit(f"{archive.path}: Chart.yaml has no dependency {name!r}")
        key = dependencies[name].get("alias") or name
        sub = archive.yaml(f"charts/{name}/Chart.yaml")
        defaults[key] = _coalesce(archive.yaml(f"charts/{name}/values.yaml") or {}, defaults.get(key) or {})
        said.append(f"{name} {sub['version']} values merged under `{key}` from the chart archive's "
                    f"charts/{name}/values.yaml ({CHARTS_SHOWN}/{archive.path.name})")
    return {**doc, "defaults": defaults, "source_subcharts": "; ".join(said)}


def archive_values(archive: Archive, source: str) -> dict[str, Any]:
    """A chart's defaults from its archive's ``values.yaml``, in the reference's shape."""
    chart = archive.chart
    return {"chart": chart["name"], "version": str(chart["version"]), "source": source, "defaults": archive.values()}


# ---------------------------------------------------------------- the whole refresh

def planned(ref: Path, data: Path = DATA) -> dict[str, Output]:
    """Every file a refresh from ``ref`` produces, by its path under ``data``."""
    out: dict[str, Output] = {
        "instance_types.json": instance_types(ref),
        "prices-us-east-1.json": prices(ref),
        "mig_configs.json": mig_configs(ref),
    }
    for folder in ("crds", "charts"):
        for file in sorted(p for p in (ref / folder).rglob("*") if p.is_file()):
            out[f"reference/{folder}/{file.relative_to(ref / folder).as_posix()}"] = Copy(file)

    def archive(stem: str) -> Archive:
        # the archive the refresh leaves in modules/data (the reference's copy), else the one there
        for folder in (ref / "charts", data / "reference" / "charts"):
            if (folder / f"{stem}.tgz").is_file():
                return Archive(folder / f"{stem}.tgz")
        raise SystemExit(f"no chart archive {stem}.tgz in {ref / 'charts'} or {data / 'reference' / 'charts'}")

    charts = set()
    for file in sorted((ref / "helm-values").glob("*.json")):
        doc = json.loads(file.read_text())
        charts.add(doc.get("chart"))
        if doc.get("chart") in SUBCHART_VALUES:
            doc = with_subcharts(doc, archive(file.stem), SUBCHART_VALUES[doc["chart"]])
        out[f"reference/helm-values/{file.name}"] = JsonDoc(doc)
    missing = sorted(set(SUBCHART_VALUES) - charts)
    if missing:  # the table names a chart the reference no longer has: say so rather than drop the merge
        raise SystemExit(f"{ref / 'helm-values'} has no values file of {', '.join(missing)} (SUBCHART_VALUES)")
    for stem, source in ARCHIVE_VALUES.items():
        out.setdefault(f"reference/helm-values/{stem}.json", JsonDoc(archive_values(archive(stem), source)))
    return out


def changes(ref: Path, data: Path = DATA) -> tuple[dict[str, Output], list[str]]:
    """(what a refresh produces, the paths under ``data`` it would add or change)."""
    out = planned(ref, data)
    return out, [path for path, output in out.items() if not output.same_as(data / path)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="import_reference.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", nargs="?", type=Path, default=DEFAULT_REFERENCE,
                        help=f"the shared reference folder (default: {DEFAULT_REFERENCE})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a refresh would change a file (listing them)")
    parser.add_argument("--data", "--out", dest="data", type=Path, default=DATA,
                        help="the data folder to refresh or check (default: this checkout's modules/data)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    ref, data = args.reference, args.data
    if not ref.is_dir():
        print(f"reference folder not found: {ref}", file=sys.stderr)
        return 2
    out, changed = changes(ref, data)
    for path in changed:
        verb = "would " if args.check else ""
        print(f"{verb}{'update' if (data / path).exists() else 'add'} {data / path}")
    if args.check:
        if changed:
            print(f"{len(changed)} file(s) in {data} differ from what {ref} gives: "
                  f"run python scripts/import_reference.py {ref}", file=sys.stderr)
            return 1
        print(f"{data} is up to date with {ref}")
        return 0
    for path in changed:
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        out[path].write(data / path)
    print(f"imported catalog data from {ref} into {data}: {len(changed)} file(s) changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
