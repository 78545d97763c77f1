"""Nodes of the GPU pools over time: placement, the autoscaler, spot, node-hours.

- **Placement** (kube-scheduler, ``NodeResourcesFit``): a pod fits a ready node when every
  request is at most what the node has free (allocatable less the DaemonSet reserve, less
  the pods already there); among the nodes that fit, the default ``LeastAllocated`` score on
  cpu and memory picks the emptiest (ties: the oldest node). A gang is placed whole or not at
  all (the simulator places all pods of a job at once).
- **Scale-up** (kubernetes/autoscaler ``cluster-autoscaler/FAQ.md`` "How does scale-up
  work?", ``estimator/binpacking_estimator.go``): pending pods of admitted jobs, except those
  below ``--expendable-pods-priority-cutoff``, are packed first-fit onto the free room of the
  pool's ready nodes, then of the nodes still booting ("upcoming"), then onto new template
  nodes; the pool grows by the new nodes needed, up to its max (0 while the schedule has
  stopped it). A new node is usable after the pool's time to ready
  (:func:`modules.workload_rules.ready_minutes`: launch, join, GPU stack, EFA, MIG
  reconfiguration, image pull; overridable).
- **Scale-down** (FAQ "How does scale-down work?"; flags ``--scale-down-unneeded-time`` and
  ``--scale-down-delay-after-add`` from the plan): a ready node without pods for the unneeded
  time is removed, never below the pool's min, not during the pause after any scale-up, and
  not while a pending pod of the pool fits it (the scheduler would place it there; the
  simulator places gangs whole, kube-scheduler pod by pod). Nodes are not drained to
  consolidate pods (jobs are not moved).
- **Spot** (AWS Spot Instance Advisor; EC2 Auto Scaling "replace interrupted Spot
  Instances"): each spot node is interrupted after an exponential time at the configured
  rate per node-hour; its pods are killed and the Auto Scaling group launches a replacement
  (desired capacity unchanged).

Node-hours are paid from launch to removal: booting, busy (at least one pod) and idle.
"""

from __future__ import annotations

from .platform import PoolSpec

EPS = 1e-6


class Node:
    __slots__ = ("id", "pool", "free", "created", "ready_at", "ready", "alive", "pods", "token", "busy_since",
                 "busy_s", "removed_at", "jobs")

    def __init__(self, node_id: int, pool: "PoolState", created: float, ready_at: float):
        self.id, self.pool, self.created, self.ready_at = node_id, pool, created, ready_at
        self.free = list(pool.spec.capacity)
        self.ready = False
        self.alive = True
        self.pods = 0
        self.token = 0
        self.busy_since = -1.0
        self.busy_s = 0.0
        self.removed_at = -1.0
        #: jobs with pods here (an ordered set)
        self.jobs: dict = {}


class PoolState:
    """One pool's nodes and what they cost, while the simulation runs."""

    def __init__(self, spec: PoolSpec):
        self.spec = spec
        self.nodes: list[Node] = []  # alive, booting or ready, oldest first
        self.unplaced: list = []  # admitted jobs whose pods are pending, in admission order
        self.max_now = spec.max
        self.min_now = spec.min
        self.dirty = False
        self.launched = 0
        self.peak = 0
        self.boot_s = self.busy_s = self.idle_s = 0.0
        #: idle node-seconds the pool's min (or warm size) holds: at each instant, idle nodes up
        #: to min less busy nodes (the static estimate counts min nodes all month)
        self.kept_idle_s = 0.0
        self.n_busy = self.n_idle = 0
        self._since = 0.0
        self.interruptions = 0
        self.alloc_gpu_s = 0.0
        self.asked_gpu_s = 0.0
        self.lost_gpu_s = 0.0
        self.history: list[Node] = []

    # ------------------------------------------------------------ placement

    def place(self, sparse: tuple[tuple[int, float], ...], pods: int) -> list[Node] | None:
        """Nodes for ``pods`` pods of ``sparse`` requests (all or none); reserves them."""
        ready = [n for n in self.nodes if n.ready]
        if not ready:
            return None
        chosen: list[Node] = []
        cpu_i = len(self.spec.resources) - 2
        cap_cpu, cap_mem = self.spec.capacity[cpu_i] or 1.0, self.spec.capacity[cpu_i + 1] or 1.0
        for _ in range(pods):
            best = None
            best_score = -1.0
            for n in ready:
                free = n.free
                for i, x in sparse:
                    if free[i] < x - EPS:
                        break
                else:
                    score = free[cpu_i] / cap_cpu + free[cpu_i + 1] / cap_mem
                    if score > best_score + 1e-12:
                        best, best_score = n, score
            if best is None:
                for n in chosen:
                    for i, x in sparse:
                        n.free[i] += x
                return None
            for i, x in sparse:
                best.free[i] -= x
            chosen.append(best)
        return chosen

    def release(self, nodes: list[Node], sparse: tuple[tuple[int, float], ...]) -> None:
        for n in nodes:
            for i, x in sparse:
                n.free[i] += x

    # ------------------------------------------------------------ the autoscaler

    def nodes_needed(self, jobs: list) -> int:
        """New nodes the autoscaler adds for the pending pods of ``jobs`` (binpacking)."""
        room = self.max_now - len(self.nodes)
        if room <= 0:
            return 0
        cap = self.spec.capacity
        bins = [list(n.free) for n in self.nodes if n.ready] + [list(cap) for n in self.nodes if not n.ready]
        new = 0
        for job in jobs:
            if job.info.expendable:
                continue
            sparse, pods = job.req.sparse, job.info.shape.pods
            placed: list[list[float]] = []
            for _ in range(pods):
                target = None
                for b in bins:
                    if all(b[i] >= x - EPS for i, x in sparse):
                        target = b
                        break
                if target is None and new < room:
                    target = list(cap)
                    bins.append(target)
                    new += 1
                if target is None:
                    break
                for i, x in sparse:
                    target[i] -= x
                placed.append(target)
            if len(placed) < pods:  # no room for the whole gang: give its share back
                for b in placed:
                    for i, x in sparse:
                        b[i] += x
        return new

    # ------------------------------------------------------------ node-hours

    def close(self, node: Node, now: float) -> None:
        """Account a node's life up to ``now`` (removal or the end of the simulation)."""
        if node.ready:
            self.boot_s += node.ready_at - node.created
            if node.busy_since >= 0:
                node.busy_s += now - node.busy_since
                node.busy_since = now
            self.busy_s += node.busy_s
            self.idle_s += (now - node.ready_at) - node.busy_s
        else:
            self.boot_s += now - node.created
        node.removed_at = now

    def tick(self, now: float, busy: int = 0, idle: int = 0) -> None:
        """Integrate the kept idle time up to ``now``, then count ``busy``/``idle`` more nodes."""
        kept = self.min_now - self.n_busy
        if kept > 0 and self.n_idle > 0:
            self.kept_idle_s += (now - self._since) * min(kept, self.n_idle)
        self._since = now
        self.n_busy += busy
        self.n_idle += idle

    @property
    def node_s(self) -> float:
        return self.boot_s + self.busy_s + self.idle_s

    def violations(self) -> list[str]:
        out = []
        for n in self.nodes:
            for i, f in enumerate(n.free):
                if f < -EPS:
                    out.append(f"{self.spec.name} node {n.id}: {self.spec.resources[i]} over capacity by {-f:g}")
                if f > self.spec.capacity[i] + EPS:
                    out.append(f"{self.spec.name} node {n.id}: {self.spec.resources[i]} free above capacity")
            if not n.ready and n.pods:
                out.append(f"{self.spec.name} node {n.id}: pods on a node that is not ready")
            expected = list(self.spec.capacity)
            for job in n.jobs:
                for i, x in job.req.sparse:
                    expected[i] -= x * job.nodes.count(n)
            if any(abs(a - b) > EPS for a, b in zip(expected, n.free)):
                out.append(f"{self.spec.name} node {n.id}: free {n.free} is not capacity less its pods {expected}")
        if len(self.nodes) > self.spec.max:
            out.append(f"{self.spec.name}: {len(self.nodes)} nodes > max {self.spec.max}")
        return out
