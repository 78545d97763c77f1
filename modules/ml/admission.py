"""``AdmissionPolicies``: ValidatingAdmissionPolicies that keep team namespaces honest.

In namespaces labelled as team tenants (see :mod:`modules.ml.teams`):

- a GPU workload (bare Pod, Job, Deployment or StatefulSet asking for ``nvidia.com/gpu``
  or ``nvidia.com/mig-*``; every TrainJob, PyTorchJob and InferenceService) without a
  ``kueue.x-k8s.io/queue-name`` label is rejected: nothing reaches a GPU around the queues;
- a batch Job without ``ttlSecondsAfterFinished``, or without an ``activeDeadlineSeconds``
  within the team's ``max_job_hours``, is rejected (the weekend-long runaway job), and so
  is a TrainJob (PyTorchJob: ``runPolicy``) without such a deadline.

Objects owned by another object (the Jobs of a JobSet, the Pods of a Job) are left to
the policy on their owner. The per-team limits are the parameters: one ConfigMap in
``kube-system`` (teams cannot edit it), namespace name -> seconds.

The policies are data first (:func:`policies`) so tests evaluate their CEL on sample
objects and check every expression against the names the API server declares in its
context (:mod:`modules.cel_env`: a matchCondition has no ``variables``, ``params`` needs
``paramKind``); :class:`AdmissionPolicies` turns them into Kubernetes objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from ..schema.teams import Team
from .teams import TENANT_LABEL, TENANT_VALUE

PARAMS_NAMESPACE = "kube-system"
PARAMS_NAME = "gpufleet-job-limits"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"

NOT_OWNED = "!has(object.metadata.ownerReferences) || size(object.metadata.ownerReferences) == 0"
_GPU_NAME = "r == 'nvidia.com/gpu' || r.startsWith('nvidia.com/mig-')"
POD_CONTAINERS = "object.spec.containers"
TEMPLATE_CONTAINERS = "object.spec.template.spec.containers"
HAS_QUEUE = f"has(object.metadata.labels) && '{QUEUE_LABEL}' in object.metadata.labels"
QUEUE_MESSAGE = (f"GPU workloads in team namespaces go through Kueue: set the label {QUEUE_LABEL}: "
                 "<your team's LocalQueue> (kubectl get localqueues -n <namespace>)")
LIMIT = "int(params.data[namespaceObject.metadata.name])"


def asks_for_gpu(containers: str) -> str:
    """A container of the list ``containers`` (an expression on ``object``) asks for a GPU.

    It is inlined in a matchCondition, which may not use ``spec.variables``: the API server
    compiles match conditions without them (see :mod:`modules.cel_env`) and refuses the
    whole policy otherwise."""
    return (f"{containers}.exists(c, has(c.resources) && ("
            f"(has(c.resources.limits) && c.resources.limits.exists(r, {_GPU_NAME})) || "
            f"(has(c.resources.requests) && c.resources.requests.exists(r, {_GPU_NAME}))))")


@dataclass(frozen=True)
class Check:
    expression: str
    message: str | None = None
    message_expression: str | None = None


@dataclass(frozen=True)
class Rule:
    group: str
    version: str
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    validations: tuple[Check, ...]
    match_conditions: tuple[tuple[str, str], ...] = ()
    variables: tuple[tuple[str, str], ...] = ()
    #: reads the per-namespace limits ConfigMap
    params: bool = False


def _deadline_checks(path: str, kind: str) -> tuple[Check, ...]:
    return (
        Check(f"has(object.spec.{path})",
              message=f"a {kind} in a team namespace needs spec.{path} (at most the team's max_job_hours)"),
        Check(f"!has(object.spec.{path}) || object.spec.{path} <= {LIMIT}",
              message_expression=(f"'spec.{path} is ' + string(object.spec.{path}) + "
                                  f"'s; this team allows at most ' + params.data[namespaceObject.metadata.name] + 's'")),
    )


def policies(training: Literal["trainer", "pytorchjob"], kserve: bool) -> list[Policy]:
    queued_kinds = [Rule("trainer.kubeflow.org", "*", ("trainjobs",)) if training == "trainer"
                    else Rule("kubeflow.org", "*", ("pytorchjobs",))]
    if kserve:
        queued_kinds.append(Rule("serving.kserve.io", "*", ("inferenceservices",)))
    out = [
        Policy("gpufleet-gpu-pods-queued", (Rule("", "v1", ("pods",)),),
               (Check(HAS_QUEUE, message=QUEUE_MESSAGE),),
               match_conditions=(("not-owned", NOT_OWNED), ("asks-for-gpu", asks_for_gpu(POD_CONTAINERS)))),
        Policy("gpufleet-gpu-workloads-queued",
               (Rule("batch", "v1", ("jobs",)), Rule("apps", "v1", ("deployments", "statefulsets"))),
               (Check(HAS_QUEUE, message=QUEUE_MESSAGE),),
               match_conditions=(("not-owned", NOT_OWNED), ("asks-for-gpu", asks_for_gpu(TEMPLATE_CONTAINERS)))),
        Policy("gpufleet-training-and-serving-queued", tuple(queued_kinds),
               (Check(HAS_QUEUE, message=QUEUE_MESSAGE),),
               match_conditions=(("not-owned", NOT_OWNED),)),
        Policy("gpufleet-job-hygiene", (Rule("batch", "v1", ("jobs",)),),
               (Check("has(object.spec.ttlSecondsAfterFinished)",
                      message="a Job in a team namespace needs spec.ttlSecondsAfterFinished (finished Jobs are cleaned up)"),
                *_deadline_checks("activeDeadlineSeconds", "Job")),
               match_conditions=(("not-owned", NOT_OWNED),), params=True),
    ]
    if training == "trainer":
        out.append(Policy("gpufleet-trainjob-deadline", (Rule("trainer.kubeflow.org", "*", ("trainjobs",)),),
                          _deadline_checks("activeDeadlineSeconds", "TrainJob"), params=True))
    else:
        out.append(Policy("gpufleet-pytorchjob-deadline", (Rule("kubeflow.org", "*", ("pytorchjobs",)),),
                          (Check("has(object.spec.runPolicy.ttlSecondsAfterFinished)",
                                 message="a PyTorchJob in a team namespace needs spec.runPolicy.ttlSecondsAfterFinished"),
                           *_deadline_checks("runPolicy.activeDeadlineSeconds", "PyTorchJob")), params=True))
    return out


def job_limits(teams: Sequence[Team]) -> dict[str, str]:
    """The parameters: team namespace -> longest allowed job, in seconds."""
    return {t.namespace: str(t.max_job_seconds) for t in teams}


def policy_spec(policy: Policy) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs:
    a = k8s.admissionregistration.v1
    return a.ValidatingAdmissionPolicySpecArgs(
        failure_policy="Fail",
        param_kind=a.ParamKindArgs(api_version="v1", kind="ConfigMap") if policy.params else None,
        match_constraints=a.MatchResourcesArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={TENANT_LABEL: TENANT_VALUE}),
            resource_rules=[a.NamedRuleWithOperationsArgs(
                api_groups=[r.group], api_versions=[r.version], resources=list(r.resources),
                operations=["CREATE", "UPDATE"]) for r in policy.rules],
        ),
        match_conditions=[a.MatchConditionArgs(name=n, expression=e) for n, e in policy.match_conditions] or None,
        variables=[a.VariableArgs(name=n, expression=e) for n, e in policy.variables] or None,
        validations=[a.ValidationArgs(expression=c.expression, message=c.message,
                                      message_expression=c.message_expression, reason="Forbidden")
                     for c in policy.validations],
    )


def binding_spec(policy: Policy, action: str) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs:
    a = k8s.admissionregistration.v1
    return a.ValidatingAdmissionPolicyBindingSpecArgs(
        policy_name=policy.name,
        validation_actions=[action],
        param_ref=a.ParamRefArgs(name=PARAMS_NAME, namespace=PARAMS_NAMESPACE,
                                 parameter_not_found_action="Deny") if policy.params else None,
    )


@dataclass(frozen=True)
class AdmissionPoliciesArgs:
    teams: Sequence[Team]
    training: Literal["trainer", "pytorchjob"]
    kserve: bool
    action: Literal["Deny", "Warn", "Audit"] = "Deny"


class AdmissionPolicies(pulumi.ComponentResource):
    params: k8s.core.v1.ConfigMap

    def __init__(self, name: str, args: AdmissionPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:ml:AdmissionPolicies", name, None, opts)
        labels = {"app.kubernetes.io/part-of": "gpufleet"}
        self.params = k8s.core.v1.ConfigMap(
            f"{name}-job-limits",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PARAMS_NAME, namespace=PARAMS_NAMESPACE, labels=labels),
            data=job_limits(args.teams),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for policy in policies(args.training, args.kserve):
            vap = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                f"{name}-{policy.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=policy.name, labels=labels),
                spec=policy_spec(policy),
                opts=pulumi.ResourceOptions(parent=self),
            )
            k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                f"{name}-{policy.name}-binding",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=policy.name, labels=labels),
                spec=binding_spec(policy, args.action),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[vap, self.params]),
            )
        self.register_outputs({})
