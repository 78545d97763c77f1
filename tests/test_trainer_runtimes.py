"""The Trainer's ClusterTrainingRuntimes, created by the program, not by a hook Job (issue #10, finding 8).

kubeflow-trainer 2.3.0 applies its built-in runtimes with a post-install hook Job that pulls
``docker.io/alpine`` and runs ``apk add kubectl``; under ``atomic`` a failed pull rolls the
whole release back. The platform turns every chart runtime off (no installer) and creates
the runtimes it uses as custom resources whose objects are the chart's own, kept in
``modules/data/reference/trainer-runtimes-<version>.json``.

Checked here: the data file is what the vendored chart archive renders; every runtime the
plan creates validates strictly against the pinned CRD, after the release that installs the
CRD; the example TrainJob's runtime is one of them; the trainer release, rendered from its
archive with the plan's values, has no Job pulling from Docker Hub or running ``apk add``.

Regenerate the data file after a chart bump: ``python -m tests.test_trainer_runtimes --write``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import yaml

from gpufleet import chart_render as cr
from gpufleet.modules import clock
from gpufleet.modules.charts import CHARTS
from gpufleet.modules.k8s_schema import has_crd_schema, manifest, validate_custom_resource
from gpufleet.modules.ml import training

from .helpers import ROOT

CR_TYPE = "kubernetes:trainer.kubeflow.org/v1alpha1:ClusterTrainingRuntime"
REF = CHARTS["kubeflow-trainer"]
#: the labels the chart's ``trainer.labels`` (templates/_helpers.tpl) puts on every runtime
#: for the Helm release that applies it; Pulumi, not Helm, manages the platform's runtimes
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
               "app.kubernetes.io/version", "app.kubernetes.io/managed-by")
INSTALLER_CONFIGMAP = f"{training.TRAINER_RELEASE}-runtimes-installer"


def rendered_chart_runtimes() -> dict[str, dict[str, Any]]:
    """Every built-in runtime the vendored chart renders (``runtimes.defaultEnabled``), by name,
    as its installer ConfigMap holds them."""
    rel = cr.render_release(REF.chart, REF.version, {"runtimes": {"defaultEnabled": True}},
                            training.TRAINER_RELEASE, training.TRAINER_NAMESPACE)
    assert rel.error is None, rel.error
    [config_map] = rel.find("ConfigMap", INSTALLER_CONFIGMAP)
    docs = cr.split_manifests({"runtimes.yaml": config_map["data"]["runtimes.yaml"]})
    return {m.obj["metadata"]["name"]: m.obj for m in docs}


def without_helm_labels(obj: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(obj))
    out["metadata"]["labels"] = {k: v for k, v in out["metadata"].get("labels", {}).items() if k not in HELM_LABELS}
    return out


def expected_document(date: str) -> dict[str, Any]:
    """The data file as the vendored archive gives it (the platform's runtimes only)."""
    rendered = rendered_chart_runtimes()
    names = training.PLATFORM_RUNTIMES
    files = ", ".join(f"{n}.yaml" for n in names)
    return {
        "source": (f"kubeflow/trainer@v{REF.version} charts/kubeflow-trainer/files/runtimes/ ({files}), as chart "
                   f"{REF.name} {REF.version} renders it (modules/data/reference/charts/{REF.name}-{REF.version}.tgz "
                   f"with runtimes.defaultEnabled=true: ConfigMap <release>-runtimes-installer, key runtimes.yaml, "
                   f"which the chart's post-install hook Job applies)"),
        "date": date,
        "note": ("The chart's release labels (helm.sh/chart, app.kubernetes.io/name, instance, version, "
                 "managed-by: the chart's trainer.labels) are left out: Pulumi, not Helm, manages these objects. "
                 "tests/test_trainer_runtimes.py checks this file against the archive; regenerate with: "
                 "python -m tests.test_trainer_runtimes --write"),
        "chart": {"name": REF.name, "version": REF.version},
        "runtimes": [without_helm_labels(rendered[n]) for n in names],
    }


# --- the data file ---------------------------------------------------------------------------


def test_the_data_file_is_what_the_vendored_chart_renders():
    doc = json.loads(training.runtimes_file().read_text())
    assert doc == expected_document(doc["date"]), "regenerate: python -m tests.test_trainer_runtimes --write"
    # only the release labels were left out, and they are what Helm would have set
    rendered = rendered_chart_runtimes()
    for runtime in doc["runtimes"]:
        chart_labels = rendered[runtime["metadata"]["name"]]["metadata"]["labels"]
        dropped = {k: v for k, v in chart_labels.items() if k not in runtime["metadata"]["labels"]}
        assert set(dropped) == set(HELM_LABELS)
        assert dropped["app.kubernetes.io/managed-by"] == "Helm" and dropped["helm.sh/chart"] == f"{REF.name}-{REF.version}"


def test_the_data_file_names_the_pinned_chart_version():
    assert training.runtimes_file().name == f"trainer-runtimes-{REF.version}.json"
    assert json.loads(training.runtimes_file().read_text())["chart"] == {"name": REF.name, "version": REF.version}


# --- what the plan creates -----------------------------------------------------------------------


def trainer_plan(plan):
    if plan.config.ml.training != "trainer":
        pytest.skip("the v1 training operator has no ClusterTrainingRuntimes")
    return plan


def test_the_platforms_runtimes_are_created_after_the_release_and_validate_strictly(any_stack_plan):
    plan = trainer_plan(any_stack_plan)
    resources = plan.by_type(CR_TYPE)
    objs = {manifest(r.type, r.inputs)["metadata"]["name"]: (r, manifest(r.type, r.inputs)) for r in resources}
    assert set(objs) == set(training.PLATFORM_RUNTIMES) and training.TORCH_RUNTIME in objs
    [release] = [r for r in plan.by_type(cr.RELEASE_TYPE) if r.inputs["chart"] == REF.chart]
    for name, (res, obj) in objs.items():
        assert has_crd_schema(obj["apiVersion"], obj["kind"])
        assert validate_custom_resource(obj) == [], name
        # the chart's object, as Pulumi's
        chart_obj = training.chart_runtimes()[name]
        assert obj["spec"] == chart_obj["spec"]
        assert obj["metadata"]["labels"] == {**chart_obj["metadata"]["labels"], "app.kubernetes.io/managed-by": "pulumi"}
        # the release installs the CRD (and the webhook whose check the runtime's label skips)
        assert any(dep.endswith(f"::{release.name}") for dep in res.depends_on), res.depends_on
        assert res.name == f"training-runtime-{name}"


def test_the_example_trainjob_uses_a_runtime_the_platform_creates(any_stack_plan):
    plan = trainer_plan(any_stack_plan)
    names = {manifest(r.type, r.inputs)["metadata"]["name"] for r in plan.by_type(CR_TYPE)}
    docs = [d for d in yaml.safe_load_all((ROOT / "examples" / "trainjob-spot-checkpoints.yaml").read_text()) if d]
    [job] = [d for d in docs if d["kind"] == "TrainJob"]
    assert job["spec"]["runtimeRef"]["name"] in names


def test_the_trainer_release_pulls_nothing_from_docker_hub_at_install(any_stack_plan):
    plan = trainer_plan(any_stack_plan)
    [res] = [r for r in plan.by_type(cr.RELEASE_TYPE) if r.inputs["chart"] == REF.chart]
    i = res.inputs
    rel = cr.render_release(i["chart"], i["version"], i.get("values") or {}, i.get("name") or res.name,
                            i.get("namespace") or "default", resource=res.name)
    assert rel.error is None and rel.manifests
    jobs = rel.find("Job")
    for job in jobs:
        for c in job["spec"]["template"]["spec"].get("containers", []) + job["spec"]["template"]["spec"].get(
                "initContainers", []):
            image = c["image"]
            first = image.split("/", 1)[0]
            from_docker_hub = "/" not in image or first in ("docker.io", "index.docker.io", "registry-1.docker.io") or (
                "." not in first and ":" not in first and first != "localhost")
            assert not from_docker_hub, (job["metadata"]["name"], image)
            assert "apk add" not in " ".join(c.get("command", []) + c.get("args", [])), job["metadata"]["name"]
    hooks = [j for j in jobs if "helm.sh/hook" in (j["metadata"].get("annotations") or {})]
    assert not hooks, [j["metadata"]["name"] for j in hooks]
    assert not rel.find("ConfigMap", INSTALLER_CONFIGMAP)  # nor the installer's manifests


def _write() -> None:  # pragma: no cover - a maintenance command
    path = training.runtimes_file()
    path.write_text(json.dumps(expected_document(clock.today().isoformat()), indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_trainer_runtimes --write")
    _write()
