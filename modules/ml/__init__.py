"""The GPU and ML stack: GPU Operator, autoscaler, Kueue, training, KServe, teams (issue #4).

One component per concern, each in its own file:

- :mod:`.gpu_operator` (MIG, time-slicing, DCGM), :mod:`.efa` (EFA device plugin),
  :mod:`.autoscaler` (cluster-autoscaler, Pod Identity, priority expander),
  :mod:`.metrics_server` (``metrics.k8s.io`` for HPAs and ``kubectl top``);
- :mod:`.kueue` (flavors, cohort, ClusterQueues, LocalQueues, workload priorities) with
  the pure capacity math in :mod:`.quotas`;
- :mod:`.training` (Kubeflow Trainer v2, or the v1 operator), :mod:`.serving`
  (cert-manager, KServe Standard, its serving runtimes);
- :mod:`.teams` (namespaces, quotas, limits, network policies), :mod:`.priorities`
  (PriorityClasses), :mod:`.admission` (ValidatingAdmissionPolicies).

The components are imported inside :func:`compose`: the config checks import
:mod:`.quotas` (no Pulumi) to check team shares (:mod:`modules.checks.quotas`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..context import PlatformContext


def compose(ctx: PlatformContext) -> dict[str, Any]:
    """Declare the ML platform; returns the ``ml_platform`` stack output."""
    from ..charts import CHARTS
    from ..nodespec import gpu_spec, system_spec
    from ..schema.ml import scale_down_delay, serving_pool
    from . import kueue as kq
    from .admission import AdmissionPolicies, AdmissionPoliciesArgs
    from .autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
    from .efa import EfaDevicePlugin, EfaDevicePluginArgs
    from .gpu_operator import GpuOperator, GpuOperatorArgs
    from .metrics_server import MetricsServer, MetricsServerArgs
    from .priorities import PRIORITIES, PriorityClasses
    from .quotas import node_capacity
    from .serving import Serving, ServingArgs, inference_defaults, predictor_defaults
    from .teams import TeamNamespaces, TeamNamespacesArgs
    from .training import Training, TrainingArgs

    cfg = ctx.cfg
    ml = cfg.ml
    opts = ctx.k8s_opts
    specs = {p.name: gpu_spec(p, cfg.network.azs) for p in cfg.pools.gpu}
    # Helm waits for the add-ons' pods: they run on the system pool.
    nodes = [ctx.system_pool.node_group]

    PriorityClasses("priorities", opts=opts)
    teams = TeamNamespaces("teams", TeamNamespacesArgs(cfg=cfg, teams=cfg.teams), opts=opts)
    GpuOperator("gpu-operator", GpuOperatorArgs(
        pools=cfg.pools.gpu, specs=list(specs.values()), depends_on=nodes), opts=opts)
    efa_specs = [s for s in specs.values() if s.efa_interfaces]
    if efa_specs:
        EfaDevicePlugin("efa", EfaDevicePluginArgs(specs=efa_specs, depends_on=nodes), opts=opts)
    ClusterAutoscaler("autoscaler", ClusterAutoscalerArgs(
        cluster_name=ctx.cluster_name, cluster=ctx.cluster.eks.name, region=cfg.region,
        specs=[system_spec(cfg.pools.system), *specs.values()],
        scale_down_delay_minutes=scale_down_delay(cfg),
        max_node_provision_minutes=ml.autoscaler.max_node_provision_minutes,
        tagger=ctx.tagger, depends_on=nodes), opts=opts)
    MetricsServer("metrics-server", MetricsServerArgs(environment=cfg.environment, depends_on=nodes), opts=opts)
    training = Training("training", TrainingArgs(kind=ml.training, depends_on=nodes), opts=opts)
    queues = kq.Kueue("kueue", kq.KueueArgs(
        cfg=cfg, specs=specs, namespaces=teams.namespaces, depends_on=[*nodes, training.ready]), opts=opts)
    pool = serving_pool(cfg)
    if ml.kserve:
        node = None if pool is None else node_capacity(
            pool, ml.kueue.node_reserved_cpu_millis, ml.kueue.node_reserved_memory_mib)
        Serving("serving", ServingArgs(
            predictor_defaults=None if node is None else predictor_defaults(node), depends_on=nodes), opts=opts)
    AdmissionPolicies("admission", AdmissionPoliciesArgs(
        teams=cfg.teams, training=ml.training, kserve=ml.kserve, action=ml.admission), opts=opts)

    charts = ["gpu-operator", "cluster-autoscaler", "metrics-server", "kueue"]
    charts += ["aws-efa-k8s-device-plugin"] if efa_specs else []
    charts += ["kubeflow-trainer"] if ml.training == "trainer" else []
    charts += ["cert-manager", "kserve-crd", "kserve-resources", "kserve-runtime-configs"] if ml.kserve else []
    release_names = {"kserve-resources": "kserve"}
    return {
        "releases": {c: {"release": release_names.get(c, c), "chart": CHARTS[c].name, "version": CHARTS[c].version}
                     for c in charts},
        "training": ml.training,
        "kueue": {
            "cohort": ml.kueue.cohort,
            "flavors": kq.quotas.flavor_order(cfg),
            "queues": {t.name: {"namespace": t.namespace, "local_queue": t.queue, "cluster_queue": t.queue}
                       for t in cfg.teams if t.name in queues.cluster_queues},
        },
        "priority_classes": {p.workload_class: {"pod": p.pod_class, "workload": p.workload_class} for p in PRIORITIES},
        "serving": inference_defaults(specs[pool.name]) if ml.kserve and pool is not None else None,
    }
