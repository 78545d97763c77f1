"""CEL checked in the API server's environment (issue #10): every expression of every
ValidatingAdmissionPolicy the platform ships, and every CRD ``x-kubernetes-validations`` rule
of the pinned CRDs, refers only to names its context declares (:mod:`modules.cel_env`).

Finding 1 of the issue: ``gpufleet-gpu-pods-queued`` and ``gpufleet-gpu-workloads-queued``
used ``variables.containers`` in a matchCondition. cel-python evaluated it (the tests bound
``variables`` before the match conditions); the API server compiles match conditions without
``variables`` and refuses such a policy, so GPU pods bypassed Kueue."""

from __future__ import annotations

import copy
import json
from itertools import product
from typing import Any

import pytest

from gpufleet.modules.cel_env import crd_rule_problems, crd_rules, free_references, policy_problems
from gpufleet.modules.k8s_schema import REFERENCE, has_crd_schema
from gpufleet.modules.ml import admission

from .ml_helpers import by_name, cel_eval, evaluate_policy, manifests, plain

pytest.importorskip("celpy", reason="cel-python's parser reads the CEL expressions (pip install cel-python)")

GPU_PODS, GPU_WORKLOADS = "gpufleet-gpu-pods-queued", "gpufleet-gpu-workloads-queued"
VARIABLES_IN_MATCH_CONDITION = (
    "spec.matchConditions[1].expression: undeclared reference to 'variables' (a matchCondition is compiled "
    "without spec.variables, no params without spec.paramKind; declared: authorizer, authorizer.requestResource, "
    "namespaceObject, object, oldObject, request)")


def vap(spec: dict[str, Any], name: str = "p") -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name}, "spec": spec}


def spec_of(policy: admission.Policy) -> dict[str, Any]:
    """The API object :func:`admission.policy_spec` sends (the fields CEL is in)."""
    spec: dict[str, Any] = {
        "matchConditions": [{"name": n, "expression": e} for n, e in policy.match_conditions],
        "variables": [{"name": n, "expression": e} for n, e in policy.variables],
        "validations": [{k: v for k, v in {"expression": c.expression, "message": c.message,
                                           "messageExpression": c.message_expression}.items() if v}
                        for c in policy.validations],
    }
    if policy.params:
        spec["paramKind"] = {"apiVersion": "v1", "kind": "ConfigMap"}
    return {k: v for k, v in spec.items() if v}


# ---------------------------------------------------------------- the known finding


def the_old_policy(plan, name: str, containers: str) -> dict[str, Any]:
    """The policy as shipped before the fix: the GPU test read ``variables.containers``."""
    old = copy.deepcopy(by_name(manifests(plan, "ValidatingAdmissionPolicy"), name))
    old["spec"]["variables"] = [{"name": "containers", "expression": containers}]
    old["spec"]["matchConditions"][1]["expression"] = admission.asks_for_gpu("variables.containers")
    return old


def test_the_checker_reports_variables_in_a_match_condition(dev_plan):
    for name, containers in ((GPU_PODS, admission.POD_CONTAINERS), (GPU_WORKLOADS, admission.TEMPLATE_CONTAINERS)):
        assert policy_problems(the_old_policy(dev_plan, name, containers)) == [
            f"ValidatingAdmissionPolicy {name}: {VARIABLES_IN_MATCH_CONDITION}"]
    # and evaluated in the API server's order (match conditions first, without variables)
    from celpy.evaluation import CELEvalError

    old = the_old_policy(dev_plan, GPU_PODS, admission.POD_CONTAINERS)["spec"]
    with pytest.raises(CELEvalError, match="undeclared reference to 'variables'"):
        evaluate_policy(old, pod({"limits": {"nvidia.com/gpu": 1}}), {"metadata": {"name": "team-research"}})


def test_the_fixed_policies_declare_what_they_use(dev_plan):
    for name in (GPU_PODS, GPU_WORKLOADS):
        spec = by_name(manifests(dev_plan, "ValidatingAdmissionPolicy"), name)["spec"]
        assert "variables" not in spec
        assert [c["name"] for c in spec["matchConditions"]] == ["not-owned", "asks-for-gpu"]
        assert {r.name for c in spec["matchConditions"] for r in free_references(c["expression"])} == {"object"}


def test_every_policy_of_every_stack_passes_the_environment_check(any_stack_plan):
    policies = manifests(any_stack_plan, "ValidatingAdmissionPolicy")
    assert {GPU_PODS, GPU_WORKLOADS} <= {p["metadata"]["name"] for p in policies}
    for policy in policies:
        assert policy_problems(policy) == []


@pytest.mark.parametrize("training,kserve", list(product(["trainer", "pytorchjob"], [True, False])))
def test_every_policy_the_module_can_build_passes(training, kserve):
    for policy in admission.policies(training, kserve):
        assert policy_problems(vap(spec_of(policy), policy.name)) == []


# ---------------------------------------------------------------- the environments


def test_variables_are_declared_only_where_the_api_server_composes_them():
    validation = [{"expression": "variables.gpu", "message": "m"}]
    # no spec.variables: no `variables` at all
    assert policy_problems(vap({"validations": validation})) == [
        "ValidatingAdmissionPolicy p: spec.validations[0].expression: undeclared reference to 'variables' "
        "(a validation, no params without spec.paramKind; declared: authorizer, authorizer.requestResource, "
        "namespaceObject, object, oldObject, request)"]
    # declared: fine in validations; a misspelt one is an undefined field
    spec = {"variables": [{"name": "gpu", "expression": "object.spec.x"}], "validations": validation}
    assert policy_problems(vap(spec)) == []
    spec["validations"] = [{"expression": "variables.gpus", "message": "m"}]
    [problem] = policy_problems(vap(spec))
    assert problem.startswith("ValidatingAdmissionPolicy p: spec.validations[0].expression: "
                              "undefined field 'gpus' of variables") and "variables: gpu)" in problem


def test_a_variable_sees_only_the_variables_before_it():
    spec = {"variables": [{"name": "a", "expression": "variables.b + 1"}, {"name": "b", "expression": "1"},
                          {"name": "c", "expression": "variables.a + variables.b"}],
            "validations": [{"expression": "variables.c > 0"}]}
    [problem] = policy_problems(vap(spec))
    assert problem.startswith("ValidatingAdmissionPolicy p: spec.variables[0].expression: "
                              "undefined field 'b' of variables")
    assert problem.endswith("variables: none yet)")


def test_params_only_with_a_param_kind():
    spec = {"matchConditions": [{"name": "m", "expression": "params.data.x == 'y'"}],
            "validations": [{"expression": "int(params.data.max) > 1", "messageExpression": "params.data.max"}]}
    problems = policy_problems(vap(spec))
    assert [p.split(": undeclared")[0] for p in problems] == [
        "ValidatingAdmissionPolicy p: spec.matchConditions[0].expression",
        "ValidatingAdmissionPolicy p: spec.validations[0].expression",
        "ValidatingAdmissionPolicy p: spec.validations[0].messageExpression"]
    assert all("undeclared reference to 'params'" in p for p in problems)
    spec["paramKind"] = {"apiVersion": "v1", "kind": "ConfigMap"}
    assert policy_problems(vap(spec)) == []


def test_a_message_expression_has_no_authorizer():
    expr = "authorizer.group('').resource('pods').check('create').allowed()"
    spec = {"validations": [{"expression": expr, "messageExpression": "string(" + expr + ")"}]}
    [problem] = policy_problems(vap(spec))
    assert problem.startswith("ValidatingAdmissionPolicy p: spec.validations[0].messageExpression: "
                              "undeclared reference to 'authorizer' (a messageExpression has no authorizer")


def test_undeclared_names_typed_fields_and_syntax_errors():
    spec = {"validations": [
        {"expression": "obj.metadata.name != ''"},                                # object
        {"expression": "request.usrInfo.username != ''"},                         # userInfo
        {"expression": "object.spec.containers.all(c, c.name != 'x' &&"},         # syntax
    ]}
    problems = policy_problems(vap(spec))
    assert problems[0].startswith("ValidatingAdmissionPolicy p: spec.validations[0].expression: "
                                  "undeclared reference to 'obj'")
    assert problems[1].startswith("ValidatingAdmissionPolicy p: spec.validations[1].expression: "
                                  "undefined field 'usrInfo' of request")
    assert problems[2].startswith("ValidatingAdmissionPolicy p: spec.validations[2].expression: syntax error")
    assert len(problems) == 3


def test_macro_variables_literals_functions_and_types_are_not_free():
    expr = ("object.spec.containers.exists(c, c.ports.all(p, p.containerPort > 0)) && "
            "object.spec.containers.map(c, c.name).filter(n, n.startsWith('a')).size() >= 0 && "
            "object.spec.containers.exists_one(c, c.name == 'variables.x && params') && "
            "object.metadata.labels.all(k, v, k != v) && "
            "cel.bind(n, object.metadata.name, n.size() > 0) && "
            "type(object.spec) == map && quantity('1Gi').isGreaterThan(quantity('1Mi')) && "
            "format.named('dns1123Label').hasValue() && optional.of(1).hasValue()")
    assert {r.name for r in free_references(expr)} == {"object", "map"}
    assert policy_problems(vap({"validations": [{"expression": expr}]})) == []
    # a bound variable is scoped: `c` outside its macro is free
    assert [r.name for r in free_references("object.spec.containers.exists(c, true) && c.name == ''")] == [
        "object", "c"]


# ---------------------------------------------------------------- CRD x-kubernetes-validations


def test_crd_rules_have_self_and_old_self_only_where_correlatable():
    rule = lambda r: {"x-kubernetes-validations": [{"rule": r, "message": "m"}]}  # noqa: E731
    schema = {"type": "object", **rule("self.a == oldSelf.a"), "properties": {
        "atomic": {"type": "array", "items": {"type": "object", **rule("self.x == oldSelf.x")}},
        "keyed": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", **rule("self.name == oldSelf.name")}},
        "mapped": {"type": "object", "additionalProperties": {"type": "string", **rule("self == oldSelf")}},
        "typo": {"type": "string", **rule("slef.size() > 0")},
        "optional": {"type": "string", "x-kubernetes-validations": [{"rule": "self != ''", "optionalOldSelf": True}]},
    }}
    assert crd_rule_problems(schema) == [
        "openAPIV3Schema.properties[atomic].items.x-kubernetes-validations: rule 'self.x == oldSelf.x': "
        "undeclared reference to 'oldSelf' (oldSelf cannot be used on the uncorrelatable portion of the schema "
        "within openAPIV3Schema.properties[atomic]; declared: self)",
        "openAPIV3Schema.properties[typo].x-kubernetes-validations: rule 'slef.size() > 0': "
        "undeclared reference to 'slef' (a CRD rule; declared: oldSelf, self)",
        "openAPIV3Schema.properties[optional].x-kubernetes-validations: optionalOldSelf: "
        "may not be set if oldSelf is not used in rule",
    ]


def pinned_crds() -> list[tuple[str, dict[str, Any]]]:
    return [(str(p.relative_to(REFERENCE)), json.loads(p.read_text()))
            for p in sorted((REFERENCE / "crds").glob("*/*.json"))]


def test_every_pinned_crd_rule_compiles_in_its_environment():
    total = 0
    for where, crd in pinned_crds():
        total += len(list(crd_rules(crd["openAPIV3Schema"])))
        assert crd_rule_problems(crd["openAPIV3Schema"], f"{where}: ") == []
    assert total > 50


def test_the_crds_the_platforms_custom_resources_rely_on_have_their_rules_checked(any_stack_plan):
    kinds = {(o["apiVersion"], o["kind"]) for o in manifests(any_stack_plan)
             if has_crd_schema(o["apiVersion"], o["kind"])}
    checked = {(f"{c['group']}/{c['version']}", c["kind"]): len(list(crd_rules(c["openAPIV3Schema"])))
               for _, c in pinned_crds()}
    assert kinds and kinds <= checked.keys()
    assert sum(checked[k] for k in kinds) > 0  # Kueue's ClusterQueue, Cohort, ... carry rules


# ---------------------------------------------------------------- the fix keeps the behaviour


def pod(resources: dict | None = None, labels: dict | None = None, owned: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "team-research"}
    if labels:
        meta["labels"] = labels
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "1"}]
    container: dict[str, Any] = {"name": "c", "image": "x"}
    if resources is not None:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "side", "image": "y"}, container]}}


def templated(kind: str, p: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1" if kind != "Job" else "batch/v1", "kind": kind, "metadata": p["metadata"],
            "spec": {"template": {"spec": p["spec"]}}}


QUEUED = {admission.QUEUE_LABEL: "team-research"}
SAMPLES = {
    "gpu limit": {"limits": {"nvidia.com/gpu": 1}},
    "gpu request": {"requests": {"nvidia.com/gpu": 1}},
    "mig slice": {"limits": {"nvidia.com/mig-1g.5gb": 1}},
    "cpu only": {"limits": {"cpu": "2"}, "requests": {"memory": "1Gi"}},
    "no resources": None,
    "empty resources": {},
}


def decisions(spec: dict[str, Any], wrap, evaluate=evaluate_policy) -> dict[tuple[str, bool, bool], Any]:
    ns = {"metadata": {"name": "team-research", "labels": {"gpufleet.io/tenant": "team"}}}
    return {(sample, labelled, owned): evaluate(spec, wrap(pod(res, QUEUED if labelled else None, owned)), ns)
            for (sample, res), labelled, owned in product(SAMPLES.items(), [False, True], [False, True])}


@pytest.mark.parametrize("name,wrap", [
    (GPU_PODS, lambda p: p),
    (GPU_WORKLOADS, lambda p: templated("Deployment", p)),
    (GPU_WORKLOADS, lambda p: templated("StatefulSet", p)),
    (GPU_WORKLOADS, lambda p: templated("Job", p)),
], ids=["pod", "deployment", "statefulset", "job"])
def test_the_fixed_gpu_policies_decide_as_before(dev_plan, name, wrap):
    spec = by_name(manifests(dev_plan, "ValidatingAdmissionPolicy"), name)["spec"]
    got = decisions(spec, wrap)
    message = [admission.QUEUE_MESSAGE]
    for (sample, labelled, owned), decision in got.items():
        gpu = sample in ("gpu limit", "gpu request", "mig slice")
        expected = None if owned or not gpu else [] if labelled else message
        assert decision == expected, (sample, labelled, owned)
    # the old policy, evaluated as the old tests did (variables bound before the match
    # conditions, which the API server never does), decided the same
    containers = admission.POD_CONTAINERS if name == GPU_PODS else admission.TEMPLATE_CONTAINERS
    old = the_old_policy(dev_plan, name, containers)["spec"]
    assert decisions(old, wrap, evaluate=variables_first) == got


def variables_first(spec: dict[str, Any], obj: dict[str, Any], ns: dict[str, Any]) -> list[str] | None:
    """How tests/test_ml_teams.py evaluates a policy: variables, then match conditions."""
    activation: dict[str, Any] = {"object": obj, "namespaceObject": ns, "variables": {}}
    for var in spec.get("variables", []):
        activation["variables"][var["name"]] = plain(cel_eval(var["expression"], activation))
    if not all(bool(cel_eval(c["expression"], activation)) for c in spec.get("matchConditions", [])):
        return None
    return [v["message"] for v in spec["validations"] if not bool(cel_eval(v["expression"], activation))]
