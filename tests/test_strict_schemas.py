"""Custom resources are validated strictly (issue #10): a field the API server would prune
(unknown to the CRD's structural schema) is an error, except below
``x-kubernetes-preserve-unknown-fields`` and in maps (``additionalProperties``).

The old check (openapi-schema-validator's OAS30Validator alone) accepted unknown fields:
tests below show the typo passing it and failing :func:`validate_custom_resource`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from gpufleet.modules.k8s_schema import (
    REFERENCE, crd_schema, has_crd_schema, manifest, pruned_fields, validate_against_schema,
    validate_custom_resource,
)

from .ml_helpers import manifests

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED_CRDS = ROOT.parent / "shared" / "reference" / "crds"


def oas30_errors(obj) -> list[str]:
    """What the old check said: OpenAPI 3.0 validation alone (unknown fields allowed)."""
    from openapi_schema_validator import OAS30Validator

    return [e.message for e in OAS30Validator(crd_schema(obj["apiVersion"], obj["kind"])).iter_errors(dict(obj))]


def example(kind: str) -> dict:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == kind:
                return doc
    raise LookupError(kind)


def cluster_queue(plan) -> dict:
    return copy.deepcopy(manifests(plan, "ClusterQueue")[0])


# ---------------------------------------------------------------- unknown fields are errors

def test_a_typo_in_a_cluster_queue_is_an_error(dev_plan):
    cq = cluster_queue(dev_plan)
    assert validate_custom_resource(cq) == []
    cq["spec"]["queueingStratgy"] = "BestEffortFIFO"               # queueingStrategy
    resource = cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]
    resource["borowingLimit"] = resource["nominalQuota"]           # borrowingLimit
    assert oas30_errors(cq) == []                                  # the old check let both through
    errors = validate_custom_resource(cq)
    assert errors == [
        "spec.queueingStratgy: unknown field: not in the CRD schema, the API server would drop it silently",
        "spec.resourceGroups.0.flavors.0.resources.0.borowingLimit: "
        "unknown field: not in the CRD schema, the API server would drop it silently",
    ]


def test_a_typo_in_a_trainjob_is_an_error():
    tj = example("TrainJob")
    assert validate_custom_resource(tj) == []
    tj["spec"]["trainer"]["numNode"] = 2                           # numNodes
    spec = (tj["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
            ["template"]["spec"]["template"]["spec"])
    spec["containers"][0]["volumeMount"] = []                      # volumeMounts
    assert oas30_errors(tj) == []
    errors = validate_custom_resource(tj)
    assert [e.split(":")[0] for e in errors] == [
        "spec.runtimePatches.0.trainingRuntimeSpec.template.spec.replicatedJobs.0.template.spec.template.spec"
        ".containers.0.volumeMount",
        "spec.trainer.numNode",
    ]


def test_unknown_metadata_fields_are_errors_too(dev_plan):
    # metadata is ObjectMeta: the API server drops any other key (at the root)
    cq = cluster_queue(dev_plan)
    cq["metadata"]["label"] = {"a": "b"}
    assert validate_custom_resource(cq) == [
        "metadata.label: unknown field: not in the CRD schema, the API server would drop it silently"]


def test_type_errors_are_still_reported(dev_plan):
    cq = cluster_queue(dev_plan)
    cq["spec"]["queueingStrategy"] = "Fastest"
    assert len(validate_custom_resource(cq)) == 1 and "Fastest" in validate_custom_resource(cq)[0]


# ---------------------------------------------------------------- where unknown fields are allowed

def test_below_preserve_unknown_fields_anything_goes():
    isvc = example("InferenceService")
    assert crd_schema(isvc["apiVersion"], isvc["kind"])["properties"]["status"]["x-kubernetes-preserve-unknown-fields"]
    isvc["status"] = {"whatever": {"nested": [1, {"deep": True}]}, "url": "http://x"}
    assert validate_custom_resource(isvc) == []
    isvc["spec"]["whatever"] = 1
    assert validate_custom_resource(isvc)[0].startswith("spec.whatever: unknown field")


def test_preserve_unknown_fields_keeps_unknown_keys_but_checks_known_ones():
    # skipPrune: unknown keys stay, a known property is pruned against its own schema again
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}}}}
    ok = {"apiVersion": "x/v1", "kind": "X", "spec": {"free": {"b": 1}, "known": {"a": "y"}}}
    assert validate_against_schema(ok, schema) == []
    bad = {"apiVersion": "x/v1", "kind": "X", "spec": {"known": {"a": "y", "b": 2}}}
    assert pruned_fields(bad, schema) == [("spec", "known", "b")]


def test_maps_allow_any_key_but_their_values_are_checked(dev_plan):
    flavor = copy.deepcopy(manifests(dev_plan, "ResourceFlavor")[0])
    flavor["spec"]["nodeLabels"]["any.example.com/label"] = "x"    # additionalProperties: string
    assert validate_custom_resource(flavor) == []
    tj = example("TrainJob")
    tj["spec"]["trainer"]["resourcesPerNode"]["requests"]["example.com/device"] = 1
    assert validate_custom_resource(tj) == []
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "typed": {"type": "object",
                  "additionalProperties": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        "free": {"type": "object", "additionalProperties": True}}}}}
    obj = {"apiVersion": "x/v1", "kind": "X",
           "spec": {"typed": {"k1": {"a": 1}, "k2": {"b": 2}}, "free": {"k": {"any": ["thing"]}}}}
    assert pruned_fields(obj, schema) == [("spec", "typed", "k2", "b")]


def test_int_or_string_and_embedded_resources():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": True},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}}}}}}

    def obj(**spec):
        return {"apiVersion": "x/v1", "kind": "X", "spec": spec}

    assert validate_against_schema(obj(port=8080), schema) == []
    assert validate_against_schema(obj(port="http"), schema) == []
    assert len(validate_against_schema(obj(port=1.5), schema)) == 1
    # an embedded object keeps apiVersion/kind/metadata (and needs apiVersion and kind)
    embedded = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}}, "spec": {"x": "y"}}
    assert validate_against_schema(obj(template=embedded), schema) == []
    assert validate_against_schema(obj(template={"spec": {"x": "y"}}), schema) == [
        "spec.template.apiVersion: required: an embedded resource needs apiVersion and kind",
        "spec.template.kind: required: an embedded resource needs apiVersion and kind",
    ]
    typo = {**embedded, "metadata": {"nmae": "p"}, "spec": {"x": "y", "z": 1}}
    assert pruned_fields(obj(template=typo), schema) == [("spec", "template", "metadata", "nmae"),
                                                         ("spec", "template", "spec", "z")]


# ---------------------------------------------------------------- the re-copied CRDs

def _wpc_schema_without_description(version: str) -> dict:
    schema = copy.deepcopy(crd_schema(f"kueue.x-k8s.io/{version}", "WorkloadPriorityClass"))
    del schema["properties"]["description"]  # what the earlier copy of the reference had
    return schema


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_workload_priority_class_description_is_in_the_pinned_schema(version):
    schema = crd_schema(f"kueue.x-k8s.io/{version}", "WorkloadPriorityClass")
    assert schema["properties"]["description"]["type"] == "string"


def test_the_platforms_workload_priority_classes_pass_and_failed_with_the_old_copy(dev_plan):
    wpcs = manifests(dev_plan, "WorkloadPriorityClass")
    assert wpcs and all(w.get("description") for w in wpcs)
    for wpc in wpcs:
        assert validate_custom_resource(wpc) == []
        # with the earlier copy (no `description` property) strict validation rejects it
        assert validate_against_schema(wpc, _wpc_schema_without_description("v1beta2")) == [
            "description: unknown field: not in the CRD schema, the API server would drop it silently"]
    long = {**wpcs[0], "description": "x" * 2049}
    assert len(validate_custom_resource(long)) == 1


def test_pinned_crds_are_the_reference_copy():
    if not SHARED_CRDS.is_dir():
        pytest.skip("../shared/reference is not beside this clone")
    pinned = sorted(p.relative_to(REFERENCE / "crds") for p in (REFERENCE / "crds").glob("*/*.json"))
    shared = sorted(p.relative_to(SHARED_CRDS) for p in SHARED_CRDS.glob("*/*.json"))
    assert pinned == shared
    for rel in pinned:
        assert json.loads((REFERENCE / "crds" / rel).read_text()) == json.loads((SHARED_CRDS / rel).read_text()), rel


# ---------------------------------------------------------------- everything shipped passes strictly

def test_every_custom_resource_of_every_stack_passes_strictly(any_stack_plan):
    checked = 0
    for r in any_stack_plan.resources:
        obj = manifest(r.type, r.inputs)
        if obj is None or not has_crd_schema(obj["apiVersion"], obj["kind"]):
            continue
        assert validate_custom_resource(obj) == [], r.urn
        checked += 1
    assert checked >= len(manifests(any_stack_plan, "ClusterQueue")) + len(manifests(any_stack_plan, "LocalQueue")) > 0


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_custom_resource_passes_strictly(path):
    custom = [d for d in yaml.safe_load_all(path.read_text()) if d and has_crd_schema(d["apiVersion"], d["kind"])]
    assert custom
    for doc in custom:
        assert validate_custom_resource(doc) == [], doc["metadata"]["name"]

