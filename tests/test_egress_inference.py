"""Team-to-team inference calls through the NetworkPolicies (issue #10, finding 6).

A team's job or service calls another team's model: the caller's namespace must allow the
egress and the model's namespace the ingress. The team namespaces' policies, as the plan
declares them for every shipped stack, are evaluated by a small NetworkPolicy evaluator
that follows the Kubernetes semantics (``networking.k8s.io/v1`` NetworkPolicy reference:
a pod is isolated for a direction once a policy selecting it lists that policy type; the
connection is allowed when every isolated side has a rule that matches the peer and the
port; rules of all policies add up; a peer with ``podSelector`` alone means the policy's
namespace, with ``namespaceSelector`` the namespaces it selects; an empty selector
selects everything).

KServe's predictor pods carry ``serving.kserve.io/inferenceservice: <name>`` and
``component: predictor`` and serve on 8080 (``modules.ml.teams``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from gpufleet.modules.ml.teams import ISVC_LABEL, ISVC_PORT

from .ml_helpers import manifests

# --- a small NetworkPolicy evaluator ---------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str]
    ip: str


@dataclass
class Cluster:
    #: namespace -> labels (``kubernetes.io/metadata.name`` is added, as the API server does)
    namespaces: dict[str, dict[str, str]]
    policies: list[dict[str, Any]] = field(default_factory=list)

    def ns_labels(self, name: str) -> dict[str, str]:
        return {**self.namespaces.get(name, {}), "kubernetes.io/metadata.name": name}

    def allowed(self, src: Pod, dst: Pod, port: int, protocol: str = "TCP") -> bool:
        return (self.direction_allows(src, "Egress", dst, port, protocol)
                and self.direction_allows(dst, "Ingress", src, port, protocol))

    def direction_allows(self, pod: Pod, direction: str, peer: Pod, port: int, protocol: str) -> bool:
        """Whether ``pod``'s policies let ``peer`` through in ``direction`` (not isolated: yes)."""
        isolating = [p for p in self.policies
                     if p["metadata"]["namespace"] == pod.namespace
                     and selects(p["spec"].get("podSelector") or {}, pod.labels)
                     and direction in policy_types(p["spec"])]
        if not isolating:
            return True
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in isolating:
            for rule in policy["spec"].get(key) or ():
                if (self.peers_match(rule.get(peers_key), policy["metadata"]["namespace"], peer)
                        and ports_match(rule.get("ports"), port, protocol)):
                    return True
        return False

    def peers_match(self, peers: list[dict[str, Any]] | None, policy_ns: str, peer: Pod) -> bool:
        if not peers:  # no ``to``/``from``: every peer
            return True
        for p in peers:
            if "ipBlock" in p:
                block = p["ipBlock"]
                ip = ipaddress.ip_address(peer.ip)
                if ip in ipaddress.ip_network(block["cidr"]) and not any(
                        ip in ipaddress.ip_network(e) for e in block.get("except") or ()):
                    return True
                continue
            if "namespaceSelector" in p:
                ns_ok = selects(p["namespaceSelector"], self.ns_labels(peer.namespace))
            else:
                ns_ok = peer.namespace == policy_ns
            if ns_ok and selects(p.get("podSelector") or {}, peer.labels):
                return True
        return False


def policy_types(spec: Mapping[str, Any]) -> list[str]:
    if "policyTypes" in spec:
        return list(spec["policyTypes"])
    return ["Ingress"] + (["Egress"] if "egress" in spec else [])


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """``metav1.LabelSelector`` semantics: all of matchLabels and matchExpressions hold."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels,
              "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def ports_match(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:  # no ``ports``: every port
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        if isinstance(p["port"], int) and p["port"] <= port <= p.get("endPort", p["port"]):
            return True
    return False


# --- the plan's policies -----------------------------------------------------------------------

_next_ip = iter(range(10, 250))


def pod(namespace: str, **labels: str) -> Pod:
    # pod IPs come from the VPC (VPC CNI), like every address the policies' ipBlocks name
    return Pod(namespace, labels, f"10.0.{next(_next_ip)}.7")


def cluster_of(plan) -> Cluster:
    namespaces = {o["metadata"]["name"]: dict(o["metadata"].get("labels") or {}) for o in manifests(plan, "Namespace")}
    namespaces.setdefault("kube-system", {})
    namespaces.setdefault("default", {})
    return Cluster(namespaces, manifests(plan, "NetworkPolicy"))


def predictor(namespace: str, name: str = "sentiment") -> Pod:
    # the labels KServe puts on a predictor pod in Standard mode (plus the Deployment's app label)
    return pod(namespace, **{ISVC_LABEL: name, "component": "predictor", "app": f"isvc.{name}-predictor"})


def team_pairs(plan) -> list[tuple[str, str]]:
    teams = [t.namespace for t in plan.config.teams]
    return [(a, b) for a in teams for b in teams]


def test_every_shipped_stack_has_two_teams_to_call_each_other(any_stack_plan):
    assert len(any_stack_plan.config.teams) >= 2


def test_a_team_calls_any_teams_predictor_on_its_serving_port(any_stack_plan):
    cluster = cluster_of(any_stack_plan)
    for caller_ns, model_ns in team_pairs(any_stack_plan):
        caller = pod(caller_ns, **{"jobset.sigs.k8s.io/jobset-name": "llama-ft"})  # a training pod
        model = predictor(model_ns)
        assert cluster.direction_allows(caller, "Egress", model, ISVC_PORT, "TCP"), (caller_ns, model_ns, "egress")
        assert cluster.direction_allows(model, "Ingress", caller, ISVC_PORT, "TCP"), (caller_ns, model_ns, "ingress")
        assert cluster.allowed(caller, model, ISVC_PORT)
        # another team's predictor calls it too (a model chaining to another model)
        assert cluster.allowed(predictor(caller_ns, "ranker"), model, ISVC_PORT)


def test_nothing_else_of_another_team_is_reachable(any_stack_plan):
    cluster = cluster_of(any_stack_plan)
    for caller_ns, model_ns in team_pairs(any_stack_plan):
        if caller_ns == model_ns:
            continue  # the namespace's own pods talk freely (distributed training)
        caller = pod(caller_ns, app="client")
        model = predictor(model_ns)
        for port in (22, 9090, 8081, 443):  # ssh, metrics, the agent port; 443 (egress open, ingress not)
            assert not cluster.allowed(caller, model, port), (caller_ns, model_ns, port)
        assert not cluster.allowed(caller, model, ISVC_PORT, "UDP")
        # pods of the other team that are not predictors, even on the serving port
        for labels in ({"app": "trainer"},
                       {ISVC_LABEL: "sentiment", "component": "transformer"},
                       {ISVC_LABEL: "sentiment", "component": "explainer"},
                       {"component": "predictor"}):  # not an InferenceService's
            other = pod(model_ns, **labels)
            assert not cluster.direction_allows(caller, "Egress", other, ISVC_PORT, "TCP"), (model_ns, labels)


def test_predictors_outside_team_namespaces_are_not_reachable(any_stack_plan):
    cluster = cluster_of(any_stack_plan)
    caller = pod(any_stack_plan.config.teams[0].namespace, app="client")
    for ns in ("default", "kube-system", "kserve"):
        assert not cluster.direction_allows(caller, "Egress", predictor(ns), ISVC_PORT, "TCP"), ns


def test_dns_and_the_namespace_itself_stay_open(any_stack_plan):
    cluster = cluster_of(any_stack_plan)
    dns = pod("kube-system", **{"k8s-app": "kube-dns"})
    for team in any_stack_plan.config.teams:
        caller = pod(team.namespace, app="client")
        assert cluster.allowed(caller, dns, 53, "UDP") and cluster.allowed(caller, dns, 53, "TCP")
        assert not cluster.allowed(caller, dns, 8080)
        assert cluster.allowed(caller, pod(team.namespace, app="peer"), 29500)  # torchrun rendezvous


# --- the evaluator itself ------------------------------------------------------------------------


def _policy(ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": ns}, "spec": spec}


def test_evaluator_follows_the_networkpolicy_semantics():
    a, b = pod("a", app="x"), pod("b", app="y", role="db")
    c = Cluster({"a": {"tier": "front"}, "b": {"tier": "back"}})
    assert c.allowed(a, b, 5432)  # no policy: not isolated
    c.policies = [_policy("a", {"podSelector": {}, "policyTypes": ["Egress"]})]
    assert not c.allowed(a, b, 5432) and c.allowed(b, a, 5432)  # a isolated for egress only
    c.policies.append(_policy("a", {"podSelector": {}, "egress": [{
        "to": [{"namespaceSelector": {"matchLabels": {"tier": "back"}},
                "podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["db"]}]}}],
        "ports": [{"protocol": "TCP", "port": 5000, "endPort": 5500}]}], "policyTypes": ["Egress"]}))
    assert c.allowed(a, b, 5432) and not c.allowed(a, b, 6000) and not c.allowed(a, b, 5432, "UDP")
    assert not c.allowed(a, pod("b", app="y"), 5432)  # not role=db
    # podSelector alone: the policy's own namespace
    c.policies = [_policy("a", {"podSelector": {}, "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "y"}}}]}],
                                "policyTypes": ["Egress"]})]
    assert not c.allowed(a, b, 1) and c.allowed(a, pod("a", app="y"), 1)
    # ingress isolation on the receiving side; an ipBlock with an exception
    c.policies = [_policy("b", {"podSelector": {"matchLabels": {"role": "db"}},
                                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": [f"{a.ip}/32"]}}]}]})]
    assert not c.allowed(a, b, 1) and c.allowed(pod("a"), b, 1) and c.allowed(a, pod("b"), 1)
    assert policy_types({"podSelector": {}}) == ["Ingress"]


@pytest.mark.parametrize("selector, labels, expected", [
    ({}, {}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "2"}, True),
])
def test_label_selectors(selector, labels, expected):
    assert selects(selector, labels) is expected
