"""The node side of the event loop: pools at start, nodes launched, ready, removed, spot
interruptions and the scale-down schedule's actions (rules in :mod:`.cluster` and
:mod:`.calendar`). A mixin of :class:`modules.simulate.engine.Engine`, which owns the state
it uses (``pools``, ``now``, ``rng``, the event heap) and the job side (``_interrupt``)."""

from __future__ import annotations

from typing import Any

from .cluster import Node, PoolState

#: event kinds handled here (the engine's job events are 4..7)
NODE_READY, SCALE_DOWN, SPOT, SCHEDULE = range(4)


class NodeEvents:
    """Needs from the engine: ``plat``, ``pools``, ``now``, ``horizon``, ``rng``, ``rate_s``,
    ``quiet``, ``node_ids``, ``last_effect``, ``last_scale_up``, ``_push`` and ``_interrupt``."""

    pools: list[PoolState]
    now: float
    _schedule_events: list[tuple[float, bool]]

    def _start_pools(self) -> None:
        from .calendar import transitions

        sched = self.plat.schedule
        up = True
        if sched is not None and any(p.spec.warm is not None for p in self.pools):
            up, self._schedule_events = transitions(sched.stop, sched.start, sched.time_zone, self.plat.start,
                                                    self.horizon)
        for ps in self.pools:
            if ps.spec.warm is not None:
                ps.max_now, ps.min_now = (ps.spec.max, ps.spec.warm) if up else (0, 0)
            for _ in range(ps.min_now):
                node = self._launch(ps, ready_at=0.0)
                node.ready = True
                ps.tick(0.0, idle=1)
                self._mark_empty(node)
        if self._schedule_events:
            self._push(self._schedule_events[0][0], SCHEDULE, None, 0)

    def _launch(self, ps: PoolState, ready_at: float | None = None) -> Node:
        now = self.now
        self.node_ids += 1
        node = Node(self.node_ids, ps, now, now + ps.spec.ready_s if ready_at is None else ready_at)
        ps.nodes.append(node)
        ps.launched += 1
        ps.peak = max(ps.peak, len(ps.nodes))
        if ready_at is None:
            self._push(node.ready_at, NODE_READY, node, 0)
        if ps.spec.spot and self.rate_s > 0:
            self._push(now + self.rng.expovariate(self.rate_s), SPOT, node, 0)
        return node

    def _node_ready(self, node: Node, _: int) -> bool | None:
        if not node.alive:
            return False
        node.ready = True
        node.pool.tick(self.now, idle=1)
        node.pool.dirty = True
        self._mark_empty(node)
        self.last_effect = self.now
        return None

    def _mark_empty(self, node: Node) -> None:
        node.token += 1
        t = max(self.now + self.plat.unneeded_s, node.created + self.plat.after_add_s)
        self._push(t, SCALE_DOWN, node, node.token)

    def _scale_down(self, node: Node, token: int) -> bool | None:
        """An empty node goes unless the pool is at its min, the autoscaler is in its pause
        after a scale-up (``--scale-down-delay-after-add``, cluster-wide), or a pending pod of
        the pool fits it (the scheduler would put it there: the node is needed)."""
        ps = node.pool
        if not (node.alive and node.ready and token == node.token and node.pods == 0 and len(ps.nodes) > ps.min_now):
            return False
        resume = self.last_scale_up + self.plat.after_add_s
        if self.now < resume:
            self._push(resume, SCALE_DOWN, node, token)
            return False
        free = node.free
        for job in ps.unplaced:
            if all(free[i] >= x - 1e-9 for i, x in job.req.sparse):
                self._push(self.now + self.plat.unneeded_s, SCALE_DOWN, node, token)
                return False
        self._remove(node)
        return None

    def _remove(self, node: Node, cause: str = "spot") -> None:
        ps = node.pool
        for job in list(node.jobs):
            self._interrupt(job, cause)
        node.alive = False
        if node.ready:
            ps.tick(self.now, idle=-1)
        ps.nodes.remove(node)
        ps.close(node, self.now)
        ps.history.append(node)
        ps.dirty = True
        self.last_effect = self.now

    def _spot(self, node: Node, _: int) -> bool | None:
        if not node.alive or self.quiet:
            return False
        ps = node.pool
        ps.interruptions += 1
        self._remove(node, "spot")
        if len(ps.nodes) < ps.max_now:  # the Auto Scaling group keeps its desired capacity
            self._launch(ps)

    def _schedule(self, _: Any, index: int) -> None:
        t, up = self._schedule_events[index]
        for ps in self.pools:
            if ps.spec.warm is None:
                continue
            if up:
                ps.tick(self.now)
                ps.max_now, ps.min_now = ps.spec.max, ps.spec.warm
                for _ in range(ps.spec.warm - len(ps.nodes)):
                    self._launch(ps)
                ps.dirty = True
            else:
                ps.tick(self.now)
                ps.max_now = ps.min_now = 0
                for node in list(ps.nodes):
                    self._remove(node, "schedule")
        if index + 1 < len(self._schedule_events) and not self.quiet:
            self._push(self._schedule_events[index + 1][0], SCHEDULE, None, index + 1)

