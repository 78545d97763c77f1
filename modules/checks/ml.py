"""GPU pools against the ML stack's timeouts and reservations (from ``modules/schema/ml.py``).

- **Flavor labels**: a pool's labels plus those the platform sets (``modules.nodespec``)
  fit in a Kueue ResourceFlavor, which holds at most ``MAX_FLAVOR_LABELS`` node labels.
- **Time to ready** (``modules.workload_rules``, from ``modules/data/node_ready_minutes.json``):
  a pool at zero must be ready before Kueue requeues the job that asked for it
  (``ml.kueue.pods_ready_timeout_minutes``) and register before the cluster-autoscaler gives
  up on the node (``ml.autoscaler.max_node_provision_minutes``).
- **Allocatable** (``modules.ml.quotas.node_allocatable``): the per-node CPU and memory kept
  out of the quotas leave something of a node of every pool.

The pool names ``serving_pool`` and ``flavor_order`` name are field rules (``modules.schema.ml``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import workload_rules as rules
from ..ml.quotas import node_allocatable
from ..nodespec import flavor_labels, gpu_labels
from ..schema.base import fail
from ..schema.ml import MAX_FLAVOR_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.pools import GpuPool
    from ..schema.stack import StackConfig


def check(cfg: "StackConfig") -> None:
    kueue = cfg.ml.kueue
    for i, pool in enumerate(cfg.pools.gpu):
        labels = flavor_labels(gpu_labels(pool))
        if len(labels) > MAX_FLAVOR_LABELS:
            fail(f"pools.gpu[{i}].labels", pool.labels,
                 f"at most {MAX_FLAVOR_LABELS - (len(labels) - len(pool.labels))} custom labels on this pool "
                 f"(its Kueue ResourceFlavor holds at most {MAX_FLAVOR_LABELS} node labels, "
                 f"{len(labels) - len(pool.labels)} of which the platform sets)")
        _timing_rules(cfg, pool)
        alloc_cpu, alloc_mem = node_allocatable(pool)
        if kueue.node_reserved_cpu_millis >= alloc_cpu:
            fail("ml.kueue.node_reserved_cpu_millis", kueue.node_reserved_cpu_millis,
                 f"less than a node of pool {pool.name} has allocatable ({alloc_cpu} millicores)")
        if kueue.node_reserved_memory_mib >= alloc_mem:
            fail("ml.kueue.node_reserved_memory_mib", kueue.node_reserved_memory_mib,
                 f"less than a node of pool {pool.name} has allocatable ({alloc_mem} MiB)")


def _timing_rules(cfg: "StackConfig", pool: "GpuPool") -> None:
    """A pool at zero must be ready before Kueue requeues the job that asked for it, and
    register before the autoscaler gives up on the node."""
    ready = rules.ready_minutes(pool)
    timeout = cfg.ml.kueue.pods_ready_timeout_minutes
    if timeout is not None and timeout <= ready:
        fail("ml.kueue.pods_ready_timeout_minutes", timeout,
             f"more than the ~{ready:g} minutes a node of pool {pool.name} needs to be ready "
             f"(suggested: {rules.pods_ready_timeout_minutes(cfg.pools.gpu)}); "
             "else Kueue evicts jobs still waiting for their node")
    provision = rules.provision_minutes(pool)
    if cfg.ml.autoscaler.max_node_provision_minutes <= provision:
        fail("ml.autoscaler.max_node_provision_minutes", cfg.ml.autoscaler.max_node_provision_minutes,
             f"more than the ~{provision:g} minutes a node of pool {pool.name} needs to launch and register")
