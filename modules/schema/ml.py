"""Config models for the GPU and ML stack: operators, queues, training, serving (issue #4).

``gpufleet:ml`` in a stack file. Every field has a default: a stack without the key gets
Kubeflow Trainer v2, KServe in Standard mode, Kueue queues per team with borrowing across
the whole cohort, and a scale-down delay that suits its environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from .base import Name, StrictModel, fail

if TYPE_CHECKING:  # pragma: no cover
    from .pools import GpuPool
    from .stack import StackConfig

#: scale-down delay (minutes) per environment when ``autoscaler.scale_down_delay_minutes`` is unset
SCALE_DOWN_DELAY_MINUTES = {"dev": 5, "staging": 10, "prod": 20}
#: The device-plugin ConfigMap key every node without its own config uses.
DEVICE_PLUGIN_DEFAULT_KEY = "default"
#: A Kueue ResourceFlavor holds at most this many node labels.
MAX_FLAVOR_LABELS = 8


class AutoscalerConfig(StrictModel):
    """cluster-autoscaler behaviour."""

    scale_down_delay_minutes: int | None = Field(default=None, ge=1, le=1440)
    """Minutes a node stays unneeded (and after a scale-up) before it is removed; default per environment."""
    max_node_provision_minutes: int = Field(default=20, ge=5, le=60)
    """Minutes a new node may take to register before the autoscaler gives up on it."""


class KueueConfig(StrictModel):
    """Kueue queues: one cohort, one ClusterQueue per team, a flavor per GPU pool."""

    cohort: Name = "gpufleet"
    """The Kueue cohort every team's ClusterQueue belongs to (they borrow from each other)."""
    borrowing_limit_percent: int | None = Field(default=None, ge=0, le=100)
    """How much of a pool a team may borrow beyond its share, in percent of the pool's capacity
    (the ClusterQueue's borrowingLimit; a team's ``ceilings`` override it); null: everything idle."""
    lending_limit_percent: int | None = Field(default=None, ge=0, le=100)
    """Percent of a team's guaranteed quota other teams may borrow (lendingLimit); null: all of it."""
    flavor_order: list[str] = Field(default_factory=list)
    """Order in which Kueue tries the flavors (pool names); default: spot pools first, then on-demand."""
    node_reserved_cpu_millis: int = Field(default=1000, ge=0, le=16000)
    """Per-node CPU (millicores) kept out of the quotas for DaemonSets (GPU Operator operands, CNI, EFA plugin)."""
    node_reserved_memory_mib: int = Field(default=2048, ge=0, le=65536)
    """Per-node memory (MiB) kept out of the quotas for DaemonSets."""
    pods_ready_timeout_minutes: int | None = Field(default=None, ge=1, le=240)
    """Kueue waits this long for all pods of an admitted job to run before it requeues it; default: the slowest pool's time to ready (launch, join, GPU stack, MIG reboot, image pull) with half again as margin, at least 10 (``modules/workload_rules.py``)."""


class MlConfig(StrictModel):
    """``gpufleet:ml``: the GPU and ML stack."""

    training: Literal["trainer", "pytorchjob"] = "trainer"
    """``trainer``: Kubeflow Trainer v2 (TrainJob); ``pytorchjob``: the v1 training operator (PyTorchJob)."""
    kserve: bool = True
    """KServe (Standard mode) with cert-manager."""
    serving_pool: str | None = None
    """The GPU pool InferenceServices land on by default; default: the first pool with purpose
    inference, else the first experiments/general pool."""
    admission: Literal["Deny", "Warn", "Audit"] = "Deny"
    """What the admission policies do with a workload that breaks a rule."""
    autoscaler: AutoscalerConfig = AutoscalerConfig()
    """cluster-autoscaler behaviour."""
    kueue: KueueConfig = KueueConfig()
    """Kueue queues and quotas."""


def check(cfg: StackConfig) -> None:
    """Cross-section rules for the ML stack (called by StackConfig's validator): the pools
    ``serving_pool`` and ``flavor_order`` name, a time-sliced pool's name. The pools against
    flavor labels, timeouts and allocatable are rules on derived figures (``modules/checks/ml.py``)."""
    ml = cfg.ml
    pools = {p.name: p for p in cfg.pools.gpu}
    names = ", ".join(pools) or "(none)"
    if ml.serving_pool is not None and ml.serving_pool not in pools:
        fail("ml.serving_pool", ml.serving_pool, f"a GPU pool of this stack: {names}")
    for i, name in enumerate(ml.kueue.flavor_order):
        if name not in pools:
            fail(f"ml.kueue.flavor_order[{i}]", name, f"a GPU pool of this stack (each pool is one Kueue flavor): {names}")
    if len(set(ml.kueue.flavor_order)) != len(ml.kueue.flavor_order):
        fail("ml.kueue.flavor_order", ml.kueue.flavor_order, "distinct pool names")
    for i, pool in enumerate(cfg.pools.gpu):
        if pool.sharing == "timeslice" and pool.name == DEVICE_PLUGIN_DEFAULT_KEY:
            fail(f"pools.gpu[{i}].name", pool.name,
                 f"any name but '{DEVICE_PLUGIN_DEFAULT_KEY}' for a time-sliced pool (the device plugin's default config key)")


def scale_down_delay(cfg: StackConfig) -> int:
    """Minutes before an unneeded node goes: the configured value, else the environment's."""
    return cfg.ml.autoscaler.scale_down_delay_minutes or SCALE_DOWN_DELAY_MINUTES[cfg.environment]


def serving_pool(cfg: StackConfig) -> GpuPool | None:
    """The pool InferenceServices select by default (None: the stack has no GPU pool)."""
    if cfg.ml.serving_pool is not None:
        return cfg.pool(cfg.ml.serving_pool)
    for purposes in (("inference",), ("experiments", "general")):
        for pool in cfg.pools.gpu:
            if pool.purpose in purposes:
                return pool
    return None
