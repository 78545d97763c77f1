"""``HelmAddon``: the one shape every chart add-on takes.

A namespace, a pinned ``helm.v3.Release`` (chart and version from :mod:`modules.charts`)
with values built from typed config and checked against the chart's own defaults, and
optionally a Pod Identity role for the chart's service account. Add-on components
(GPU Operator, Kueue, KServe, ...) build their values and extra objects and delegate the
install to this class; none repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .charts import ChartRef
from .k8s_schema import chart_defaults, unknown_value_keys
from .pod_identity import PodIdentityRole, PodIdentitySpec
from .tags import Tagger


class UnknownChartValue(ValueError):
    """A value key the pinned chart does not have: Helm would ignore it silently."""


def check_values(chart: ChartRef, values: Mapping[str, Any]) -> None:
    if chart.values_file is None:
        if values:
            raise UnknownChartValue(f"chart {chart.name} {chart.version}: the platform sets no values for it")
        return
    unknown = unknown_value_keys(values, chart_defaults(chart.values_file))
    if unknown:
        raise UnknownChartValue(
            f"chart {chart.name} {chart.version} has no value key {', '.join(unknown)} "
            f"(defaults: modules/data/reference/helm-values/{chart.values_file})")


@dataclass(frozen=True)
class HelmAddonArgs:
    chart: ChartRef
    namespace: str
    values: Mapping[str, Any] = field(default_factory=dict)
    #: create the namespace (False when another add-on already owns it)
    create_namespace: bool = True
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    #: with ``cluster_name``: an IAM role bound to the chart's service account
    pod_identity: PodIdentitySpec | None = None
    cluster_name: pulumi.Input[str] | None = None
    tagger: Tagger | None = None
    depends_on: Sequence[pulumi.Resource] = ()
    skip_crds: bool = False
    timeout_seconds: int = 600


class HelmAddon(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    namespace: k8s.core.v1.Namespace | None
    pod_identity: PodIdentityRole | None

    def __init__(self, name: str, args: HelmAddonArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_values(args.chart, args.values)
        super().__init__("gpufleet:addons:HelmAddon", name, None, opts)
        deps: list[pulumi.Resource] = list(args.depends_on)
        self.namespace = None
        if args.create_namespace:
            self.namespace = k8s.core.v1.Namespace(
                f"{name}-ns",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=args.namespace,
                    labels={"app.kubernetes.io/managed-by": "pulumi", **args.namespace_labels},
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            deps.append(self.namespace)
        self.pod_identity = None
        if args.pod_identity is not None:
            if args.cluster_name is None or args.tagger is None:
                raise ValueError(f"{name}: pod_identity needs cluster_name and tagger")
            self.pod_identity = PodIdentityRole(
                f"{name}-identity", cluster_name=args.cluster_name, spec=args.pod_identity,
                tagger=args.tagger, opts=pulumi.ResourceOptions(parent=self))
            deps.append(self.pod_identity)
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=name,
            chart=args.chart.chart,
            version=args.chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=args.chart.repo) if args.chart.repo else None,
            namespace=args.namespace,
            values=dict(args.values),
            skip_crds=args.skip_crds,
            atomic=True,
            cleanup_on_fail=True,
            timeout=args.timeout_seconds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=deps),
        )
        self.register_outputs({"status": self.release.status})
