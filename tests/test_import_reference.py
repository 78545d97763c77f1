"""``scripts/import_reference.py`` (refreshes ``modules/data`` from ``../shared/reference``)
leaves an up-to-date checkout as it is: the chart defaults the project derives from the chart
archives (the kubeflow-trainer defaults with the vendored JobSet subchart's merged under
``jobset``; the defaults of charts the reference has no values file for) survive a refresh,
and a copy that says the same keeps its date. ``--check`` says whether a refresh would change
a file.

The tests that need the reference folder skip without it (a clean clone has no ``../shared``);
the derivation from the archives in ``modules/data/reference/charts`` runs everywhere."""

from __future__ import annotations

import filecmp
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpufleet.modules import clock

from .helpers import ROOT

SCRIPT = ROOT / "scripts" / "import_reference.py"
DATA = ROOT / "modules" / "data"
HELM_VALUES = DATA / "reference" / "helm-values"
CHARTS = DATA / "reference" / "charts"
TRAINER = "kubeflow-trainer-2.3.0"


def _script():
    name = "_scripts_import_reference"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


importer = _script()
REFERENCE = importer.DEFAULT_REFERENCE  # ../shared/reference
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"no reference folder {REFERENCE}")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True, text=True, cwd=ROOT)


def _data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    for path in target.rglob("*"):  # the charts are copies of read-only files
        path.chmod(path.stat().st_mode | 0o200)
    return target


def _same_tree(a: Path, b: Path) -> list[str]:
    """Paths under ``a`` and ``b`` that differ (content, or present on one side only)."""
    cmp = filecmp.dircmp(a, b)
    found = [*cmp.left_only, *cmp.right_only, *cmp.funny_files]
    found += [f for f in cmp.common_files if not filecmp.cmp(a / f, b / f, shallow=False)]
    for sub in cmp.common_dirs:
        found += [f"{sub}/{f}" for f in _same_tree(a / sub, b / sub)]
    return found


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


# ---------------------------------------------------------------- against the reference

@needs_reference
def test_check_against_the_reference_reports_no_change():
    result = run("--check", str(REFERENCE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


@needs_reference
def test_a_refresh_of_an_up_to_date_copy_changes_no_file(tmp_path):
    data = _data_copy(tmp_path)
    result = run(str(REFERENCE), "--data", str(data))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 file(s) changed" in result.stdout
    assert _same_tree(DATA, data) == []


@needs_reference
def test_the_trainer_defaults_the_old_import_overwrote_are_reported_and_restored(tmp_path):
    """What the plain copy of the reference's values file gave (no ``jobset`` subchart defaults,
    so HelmAddon would refuse the JobSet image the platform pins): --check exits 1 naming the
    file, and a refresh gives back the repository's defaults."""
    data = _data_copy(tmp_path)
    target = data / "reference" / "helm-values" / f"{TRAINER}.json"
    shutil.copy(REFERENCE / "helm-values" / f"{TRAINER}.json", target)
    assert "image" not in _load(target)["defaults"]["jobset"]  # the reference has the parent's values only

    check = run("--check", str(REFERENCE), "--data", str(data))
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"would update {target}" in check.stdout
    assert check.stdout.count("would ") == 1
    assert target.read_bytes() == (REFERENCE / "helm-values" / f"{TRAINER}.json").read_bytes()  # nothing written

    assert run(str(REFERENCE), "--data", str(data)).returncode == 0
    restored, kept = _load(target), _load(HELM_VALUES / f"{TRAINER}.json")
    assert json.dumps(restored) == json.dumps(kept)  # same keys in the same order
    assert restored["defaults"]["jobset"]["image"]["repository"]
    assert run("--check", str(REFERENCE), "--data", str(data)).returncode == 0


@needs_reference
def test_a_copy_that_says_the_same_keeps_its_date_and_a_changed_one_gets_todays(tmp_path):
    from datetime import date

    data = _data_copy(tmp_path)
    prices, mig = data / "prices-us-east-1.json", data / "mig_configs.json"
    doc = _load(prices)
    doc["copied_on"] = "2000-01-01"
    prices.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    changed = _load(mig)
    changed["mig-configs"]["all-disabled"] = []
    mig.write_text(json.dumps(changed, indent=1, sort_keys=True) + "\n")

    check = run("--check", str(REFERENCE), "--data", str(data))
    assert check.returncode == 1
    assert check.stdout.splitlines() == [f"would update {mig}"]

    assert run(str(REFERENCE), "--data", str(data)).returncode == 0
    assert _load(prices)["copied_on"] == "2000-01-01"
    refreshed = _load(mig)
    assert refreshed["copied_on"] == clock.today().isoformat()  # the clock the suite set
    assert {k: v for k, v in refreshed.items() if k != "copied_on"} == \
        {k: v for k, v in _load(DATA / "mig_configs.json").items() if k != "copied_on"}


@needs_reference
def test_files_the_project_added_stay(tmp_path):
    data = _data_copy(tmp_path)
    assert run(str(REFERENCE), "--data", str(data)).returncode == 0
    for kept in ("reference/trainer-runtimes-2.3.0.json", "gpu_models.json", "environment_ceilings.json"):
        assert (data / kept).read_bytes() == (DATA / kept).read_bytes()


@needs_reference
def test_a_derived_values_file_missing_is_added(tmp_path):
    data = _data_copy(tmp_path)
    target = data / "reference" / "helm-values" / "metrics-server-3.13.1.json"
    target.unlink()
    check = run("--check", str(REFERENCE), "--data", str(data))
    assert check.returncode == 1 and f"would add {target}" in check.stdout
    assert run(str(REFERENCE), "--data", str(data)).returncode == 0
    assert _load(target) == _load(HELM_VALUES / "metrics-server-3.13.1.json")


# ---------------------------------------------------------------- from the archives (no reference needed)

def test_the_trainer_defaults_are_its_values_with_the_vendored_jobset_ones_merged_as_helm_does():
    kept = _load(HELM_VALUES / f"{TRAINER}.json")
    archive = importer.Archive(CHARTS / f"{TRAINER}.tgz")
    parent_only = {k: kept[k] for k in ("chart", "version", "source")} | {"defaults": archive.values()}
    derived = importer.with_subcharts(parent_only, archive, importer.SUBCHART_VALUES["kubeflow-trainer"])
    assert json.dumps(derived) == json.dumps(kept)
    # the parent's values for the subchart win over the subchart's defaults
    assert derived["defaults"]["jobset"]["fullnameOverride"] == archive.values()["jobset"]["fullnameOverride"]


@pytest.mark.parametrize("stem", sorted(importer.ARCHIVE_VALUES))
def test_the_defaults_of_a_chart_without_a_reference_values_file_are_its_archives(stem):
    derived = importer.archive_values(importer.Archive(CHARTS / f"{stem}.tgz"), importer.ARCHIVE_VALUES[stem])
    assert json.dumps(derived) == json.dumps(_load(HELM_VALUES / f"{stem}.json"))


def test_helm_merges_a_subcharts_defaults_under_the_parents_values():
    defaults = {"image": {"repository": "r", "tag": "main"}, "replicas": 1, "gone": {"a": 1}}
    merged = importer._coalesce(defaults, {"image": {"tag": "v1"}, "gone": None, "extra": [1]})
    assert merged == {"image": {"repository": "r", "tag": "v1"}, "replicas": 1, "extra": [1]}
    assert list(merged) == ["image", "replicas", "extra"]  # the subchart's order, then the parent's additions


def test_a_missing_reference_folder_is_exit_2(tmp_path):
    result = run("--check", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "reference folder not found" in result.stderr
