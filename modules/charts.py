"""Every Helm chart the platform installs: repository and version pinned here, only here.

Each chart names the file of its default values (``modules/data/reference/helm-values``),
against which :class:`modules.helm_addon.HelmAddon` checks every value key it sets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartRef:
    #: chart name for an HTTPS repository, or the full ``oci://`` reference
    chart: str
    version: str
    #: HTTPS chart repository; None for OCI charts
    repo: str | None
    #: default values of this chart version (None: the chart has no values the platform sets)
    values_file: str | None

    @property
    def name(self) -> str:
        return self.chart.rsplit("/", 1)[-1]


CHARTS: dict[str, ChartRef] = {
    "gpu-operator": ChartRef("gpu-operator", "v26.7.0", "https://helm.ngc.nvidia.com/nvidia", "gpu-operator-v26.7.0.json"),
    "aws-efa-k8s-device-plugin": ChartRef(
        "aws-efa-k8s-device-plugin", "v0.5.30", "https://aws.github.io/eks-charts", "aws-efa-k8s-device-plugin-v0.5.30.json"),
    "cluster-autoscaler": ChartRef(
        "cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler", "cluster-autoscaler-9.59.0.json"),
    "kueue": ChartRef("oci://registry.k8s.io/kueue/charts/kueue", "0.19.2", None, "kueue-0.19.2.json"),
    "kubeflow-trainer": ChartRef(
        "oci://ghcr.io/kubeflow/charts/kubeflow-trainer", "2.3.0", None, "kubeflow-trainer-2.3.0.json"),
    "cert-manager": ChartRef("cert-manager", "v1.21.1", "https://charts.jetstack.io", "cert-manager-v1.21.1.json"),
    "kserve-crd": ChartRef("oci://ghcr.io/kserve/charts/kserve-crd", "v0.20.0", None, None),
    "kserve-resources": ChartRef(
        "oci://ghcr.io/kserve/charts/kserve-resources", "v0.20.0", None, "kserve-resources-v0.20.0.json"),
    "kserve-runtime-configs": ChartRef(
        "oci://ghcr.io/kserve/charts/kserve-runtime-configs", "v0.20.0", None, "kserve-runtime-configs-v0.20.0.json"),
    "metrics-server": ChartRef(
        "metrics-server", "3.13.1", "https://kubernetes-sigs.github.io/metrics-server/", "metrics-server-3.13.1.json"),
    "cost-analyzer": ChartRef(
        "cost-analyzer", "2.4.2", "https://kubecost.github.io/cost-analyzer/", "cost-analyzer-2.4.2.json"),
    "opencost": ChartRef("opencost", "2.5.17", "https://opencost.github.io/opencost-helm-chart", "opencost-2.5.17.json"),
    "local-static-provisioner": ChartRef(
        "local-static-provisioner", "2.9.0", "https://kubernetes-sigs.github.io/sig-storage-local-static-provisioner",
        "local-static-provisioner-2.9.0.json"),
}
