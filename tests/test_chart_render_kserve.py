"""KServe as rendered (issue #10, section 1): Standard mode, the ClusterServingRuntimes KServe
would select for the documented InferenceServices (``examples/inferenceservice-mig.yaml``, the
README's), and the predictor pods it would make: valid, and fitting the serving pool."""
# ruff: noqa: F811  (the rendered fixture, imported from chart_render_support, is a test parameter)

from __future__ import annotations

import json

import pytest
import yaml

from gpufleet import chart_render as cr

from .chart_render_support import rendered  # noqa: F401 (fixture)
from .helpers import ROOT


def test_kserve_runs_in_standard_mode(rendered):
    kserve = rendered.chart("kserve-resources")
    if not rendered.plan.config.ml.kserve:
        assert kserve is None
        return
    [config_map] = kserve.find("ConfigMap", "inferenceservice-config")
    assert json.loads(config_map["data"]["deploy"])["defaultDeploymentMode"] in ("Standard", "RawDeployment")


EXAMPLE_ISVC = ROOT / "examples" / "inferenceservice-mig.yaml"


def readme_inference_service() -> dict:
    """The InferenceService of the README's "Submit an inference service"."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Submit an inference service"):]
    return yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])


def inference_examples() -> list[tuple[str, dict]]:
    return [("examples/inferenceservice-mig.yaml", yaml.safe_load(EXAMPLE_ISVC.read_text())),
            ("README", readme_inference_service())]


def selected_runtimes(predictor: dict, runtimes: list[dict]) -> list[dict]:
    """The ClusterServingRuntimes KServe would pick for ``predictor.model``, best first: not
    disabled, single-model, multi-node only for a ``workerSpec``, the model format (and its
    version, when given) among the runtime's ``autoSelect`` formats (no ``runtime`` named),
    higher ``priority`` first (kserve ``getClusterServingRuntimes``, ``RuntimeSupportsModel``,
    ``sortSupportedRuntimeByPriority``)."""
    model = predictor["model"]
    fmt = model["modelFormat"]
    label = f"{fmt['name']}:{fmt['version']}" if fmt.get("version") else fmt["name"]
    out = []
    for rt in runtimes:
        spec = rt["spec"]
        if model.get("runtime") and rt["metadata"]["name"] != model["runtime"]:
            continue
        labels = set()
        for f in spec.get("supportedModelFormats") or ():
            if model.get("runtime") or f.get("autoSelect"):
                labels |= {f["name"], *([f"{f['name']}:{f['version']}"] if f.get("version") else [])}
        if (not spec.get("disabled") and not spec.get("multiModel") and label in labels
                and ("workerSpec" in spec) == ("workerSpec" in predictor)):
            out.append(rt)

    def priority(rt: dict) -> int:
        return max((f.get("priority", 0) for f in rt["spec"]["supportedModelFormats"] if f["name"] == fmt["name"]),
                   default=0)
    return sorted(out, key=priority, reverse=True)


def test_cluster_serving_runtimes_exist_when_kserve_is_on(rendered):
    if not rendered.plan.config.ml.kserve:
        pytest.skip("KServe is off")
    runtimes = rendered.objects("ClusterServingRuntime")
    assert runtimes, "KServe 0.20's kserve-resources ships no runtimes (they are in kserve-runtime-configs)"
    crds = cr.chart_crds(rendered.releases)
    assert all(cr.custom_resource_errors(r, crds) == [] for r in runtimes)
    # only the Hugging Face server (the chart switches its multi-node variant with it)
    assert {r["metadata"]["name"] for r in runtimes if not r["spec"].get("disabled")} == \
        {"kserve-huggingfaceserver", "kserve-huggingfaceserver-multinode"}
    # the documented InferenceServices find a runtime for their modelFormat
    for source, isvc in inference_examples():
        chosen = selected_runtimes(isvc["spec"]["predictor"], runtimes)
        assert chosen, f"{source}: no enabled runtime serves {isvc['spec']['predictor']['model']['modelFormat']}"
        assert chosen[0]["metadata"]["name"] == "kserve-huggingfaceserver", source


def _quantity(resource: str, q) -> int:
    from gpufleet.modules.ml.quotas import parse_cpu_millis, parse_memory_mib

    return parse_cpu_millis(q) if resource == "cpu" else parse_memory_mib(q) if resource == "memory" else int(q)


def predictor_resources(predictor: dict, runtime: dict, config: dict) -> dict[str, dict[str, int]]:
    """The predictor container's resources as the Deployment gets them: KServe's webhook fills
    each missing cpu/memory request and limit from ``inferenceservice-config`` (empty values
    are skipped), the runtime's container is merged underneath key by key (strategic merge),
    and the API server defaults a request that has a limit only to the limit."""
    own = predictor["model"].get("resources") or {}
    filled: dict[str, dict] = {"requests": dict(own.get("requests") or {}), "limits": dict(own.get("limits") or {})}
    for kind, key in (("requests", "Request"), ("limits", "Limit")):
        for res in ("cpu", "memory"):
            default = config.get(f"{res}{key}", "")
            if default and res not in filled[kind]:
                filled[kind][res] = default
    [container] = [c for c in runtime["spec"]["containers"] if c["name"] == "kserve-container"]
    base = container.get("resources") or {}
    merged = {kind: {**(base.get(kind) or {}), **filled[kind]} for kind in ("requests", "limits")}
    for res, q in merged["limits"].items():
        merged["requests"].setdefault(res, q)
    return {kind: {r: _quantity(r, q) for r, q in vals.items()} for kind, vals in merged.items()}


def test_inference_services_are_valid_pods_that_fit_the_serving_pool(rendered):
    """KServe fills in the resources a predictor leaves out: the documented InferenceServices
    must still be valid pods (no request above its limit; KServe's default CPU limit of 1 made
    the example's 2-CPU request one), and a default-sized predictor must fit once per GPU unit
    (MIG slice, time-slice, GPU) of a serving node."""
    from gpufleet.modules.ml.quotas import node_capacity
    from gpufleet.modules.schema.ml import serving_pool

    cfg = rendered.plan.config
    if not cfg.ml.kserve:
        pytest.skip("KServe is off")
    [config_map] = rendered.chart("kserve-resources").find("ConfigMap", "inferenceservice-config")
    config = json.loads(config_map["data"]["inferenceService"])["resource"]
    runtimes = rendered.objects("ClusterServingRuntime")
    k = cfg.ml.kueue
    for source, isvc in inference_examples():
        predictor = isvc["spec"]["predictor"]
        res = predictor_resources(predictor, selected_runtimes(predictor, runtimes)[0], config)
        for name, limit in res["limits"].items():
            assert res["requests"][name] <= limit, (source, name, res)
        pool = predictor.get("nodeSelector", {}).get("gpufleet.io/pool")
        if pool in {p.name for p in cfg.pools.gpu}:
            node = node_capacity(cfg.pool(pool), k.node_reserved_cpu_millis, k.node_reserved_memory_mib)
            assert res["requests"]["cpu"] <= node.cpu_millis and res["requests"]["memory"] <= node.memory_mib, source
    pool = serving_pool(cfg)
    node = node_capacity(pool, k.node_reserved_cpu_millis, k.node_reserved_memory_mib)
    units = sum(node.gpus.values())
    resource = next(iter(node.gpus))
    bare = {"model": {"modelFormat": {"name": "huggingface"}, "resources": {"limits": {resource: 1}}}}
    res = predictor_resources(bare, selected_runtimes(bare, runtimes)[0], config)
    assert units * res["requests"]["cpu"] <= node.cpu_millis, (pool.name, units, res)
    assert units * res["requests"]["memory"] <= node.memory_mib, (pool.name, units, res)
    assert all(res["requests"][r] <= res["limits"][r] for r in res["limits"])
