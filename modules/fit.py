"""Does the system pool hold the add-ons? (pure; no Helm, no network)

While the GPU pools are at zero every platform pod runs on the system pool's ``min``
nodes: the Deployments of the charts, the program's own Deployments, the EKS add-ons
(CoreDNS, the CSI controllers) and one pod per node of each DaemonSet (VPC CNI,
kube-proxy, Pod Identity agent, the CSI node plugins, NFD's worker). This module adds up
their requests from ``modules/data/system_pods.json`` (what each chart requests by
default, as rendered) and :mod:`modules.sizing` (what the platform sets), and compares
the sum with the allocatable of ``min`` system nodes (:func:`modules.node_model.pool_shape`:
nodeadm's reserve formula at the pool's ``maxPods``): cpu, memory and pod slots, and the
largest pod with one node's share of the DaemonSets.

The table is data so the Pulumi program never needs a chart renderer;
``tests/test_fit.py`` renders every release of every shipped stack and keeps the table
equal to what the rendered pods request.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Mapping

from . import catalog, sizing
from .k8s_quantity import mebibytes, milli_value
from .nodespec import system_spec
from .schema.storage import scratch_pools

if TYPE_CHECKING:  # pragma: no cover
    from .node_model import NodeShape
    from .schema.stack import StackConfig


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    cpu_millis: int
    memory_mib: int
    memory_limit_mib: int | None
    #: where the figure comes from: "chart", "platform", "prometheus" or "none" (no request)
    origin: str
    #: why a container has no request (origin "none")
    reason: str = ""


@dataclass(frozen=True)
class Workload:
    id: str
    kind: str
    #: pods of a Deployment; a DaemonSet runs one per system node
    replicas: int
    containers: tuple[Container, ...]

    @property
    def daemonset(self) -> bool:
        return self.kind == "DaemonSet"

    @property
    def cpu_millis(self) -> int:
        return sum(c.cpu_millis for c in self.containers)

    @property
    def memory_mib(self) -> int:
        return sum(c.memory_mib for c in self.containers)

    def pods(self, nodes: int) -> int:
        return nodes if self.daemonset else self.replicas


@dataclass(frozen=True)
class Fit:
    """The system pool's ``min`` nodes against what the add-ons request."""

    nodes: int
    node: "NodeShape"
    workloads: tuple[Workload, ...]

    @property
    def allocatable(self) -> dict[str, int]:
        return {"cpu": self.node.cpu_millicores * self.nodes, "memory": self.node.memory_mib * self.nodes,
                "pods": self.node.pods * self.nodes}

    @property
    def requested(self) -> dict[str, int]:
        return {"cpu": sum(w.cpu_millis * w.pods(self.nodes) for w in self.workloads),
                "memory": sum(w.memory_mib * w.pods(self.nodes) for w in self.workloads),
                "pods": sum(w.pods(self.nodes) for w in self.workloads)}

    @property
    def margin(self) -> dict[str, int]:
        return {k: self.allocatable[k] - self.requested[k] for k in ("cpu", "memory", "pods")}

    @property
    def per_node_daemonsets(self) -> dict[str, int]:
        ds = [w for w in self.workloads if w.daemonset]
        return {"cpu": sum(w.cpu_millis for w in ds), "memory": sum(w.memory_mib for w in ds), "pods": len(ds)}

    @property
    def largest_pod(self) -> Workload | None:
        pods = [w for w in self.workloads if not w.daemonset]
        return max(pods, key=lambda w: (w.memory_mib, w.cpu_millis), default=None)

    @property
    def unrequested(self) -> list[str]:
        """``workload/container`` of every container without a request, with the reason."""
        return [f"{w.id}/{c.name}: {c.reason}" for w in self.workloads for c in w.containers if c.origin == "none"]

    def shortfall(self) -> str | None:
        """What does not fit, in one line (None: everything fits)."""
        units = {"cpu": "m CPU", "memory": " MiB", "pods": " pods"}
        short = [f"{-m:,}{units[k]}" for k, m in self.margin.items() if m < 0]
        if short:
            req, alloc = self.requested, self.allocatable
            return (f"the add-ons request {req['cpu']:,}m CPU, {req['memory']:,} MiB and {req['pods']} pods; "
                    f"{self.nodes} × {self.node.instance} offer {alloc['cpu']:,}m, {alloc['memory']:,} MiB and "
                    f"{alloc['pods']} pods (short {', '.join(short)})")
        big, ds = self.largest_pod, self.per_node_daemonsets
        if big is not None and (big.memory_mib + ds["memory"] > self.node.memory_mib
                                or big.cpu_millis + ds["cpu"] > self.node.cpu_millicores):
            return (f"the largest add-on pod ({big.id}: {big.cpu_millis}m, {big.memory_mib} MiB) and one node's "
                    f"DaemonSets ({ds['cpu']}m, {ds['memory']} MiB) do not fit one {self.node.instance} "
                    f"({self.node.cpu_millicores}m, {self.node.memory_mib} MiB)")
        return None


@cache
def table() -> tuple[dict[str, Any], ...]:
    return tuple(catalog.load("system_pods.json")["workloads"])


def features(cfg: "StackConfig") -> set[str]:
    """The ``when`` words of the table that hold for this stack."""
    out = {cfg.cost.tool, cfg.ml.training}
    if cfg.ml.kserve:
        out.add("kserve")
    if cfg.environment == "prod":
        out.add("prod")
    if scratch_pools(cfg):
        out.add("scratch")
    return out


def _container(workload_id: str, spec: Mapping[str, Any], cfg: "StackConfig") -> Container:
    req = spec["requests"]
    if req is None:
        return Container(spec["name"], spec["image"], 0, 0, None, "none", spec.get("no_requests", ""))
    if req in ("platform", "prometheus"):
        res = sizing.prometheus(cfg.pools.system) if req == "prometheus" else \
            sizing.platform(f"{workload_id}/{spec['name']}")
        return Container(spec["name"], spec["image"], res.cpu_millis, res.memory_mib, res.memory_limit_mib, req)
    limit = req.get("memory_limit")
    return Container(spec["name"], spec["image"], milli_value(req["cpu"]), mebibytes(req["memory"]),
                     mebibytes(limit) if limit else None, "chart")


def _replicas(value: Any, cfg: "StackConfig") -> int:
    if isinstance(value, Mapping):
        return int(value.get(cfg.environment, value["otherwise"]))
    return int(value or 1)


def system_workloads(cfg: "StackConfig") -> tuple[Workload, ...]:
    """Every workload the stack runs on the system pool while the GPU pools are at zero."""
    have = features(cfg)
    out = []
    for w in table():
        if not set(w.get("when", ())) <= have:
            continue
        out.append(Workload(w["id"], w["kind"], _replicas(w.get("replicas"), cfg),
                            tuple(_container(w["id"], c, cfg) for c in w["containers"])))
    return tuple(out)


def system_images(cfg: "StackConfig") -> dict[str, str]:
    """image -> the first workload/container that runs it on the system pool."""
    out: dict[str, str] = {}
    for w in system_workloads(cfg):
        for c in w.containers:
            out.setdefault(c.image, f"{w.id}/{c.name}")
    return out


def image_architectures() -> dict[str, tuple[str, ...]]:
    return {k: tuple(v["architectures"]) for k, v in catalog.load("image_architectures.json")["images"].items()}


def images_without(arch: str, cfg: "StackConfig") -> list[str]:
    """Images the stack runs on the system pool that are not published for ``arch``."""
    archs = image_architectures()
    return [img for img in system_images(cfg) if arch not in archs.get(img, ())]


def system_fit(cfg: "StackConfig") -> Fit:
    """The add-ons against the system pool's ``min`` nodes."""
    spec = system_spec(cfg.pools.system)
    return Fit(nodes=cfg.pools.system.min, node=spec.shape, workloads=system_workloads(cfg))
