"""The event loop: jobs arrive, Kueue admits them, pods land on nodes, nodes come and go.

A job's life (rules in :mod:`.quota`, :mod:`.cluster`, :mod:`.shapes`):

1. **Submitted**: if no flavor of its team's queue can ever hold it, it *never runs*, with
   the rules' reasons. Otherwise it waits in its ClusterQueue (``BestEffortFIFO``: by
   priority, then queue time; a workload that does not fit does not block the others).
2. **Admitted** to the first flavor, in the queue's order, whose quota has room (borrowing
   from the Cohort if allowed), else by preemption (:meth:`.quota.Quotas.targets`) on the first
   flavor where it could fit at all. Admission reserves quota; its pods become pending.
3. **Pods ready**: placed all at once on ready nodes of the flavor's pool; the autoscaler
   adds nodes for pending pods. If its pods are not all running ``waitForPodsReady.timeout``
   after admission, Kueue evicts it (quota released), requeues it after the backoff, and
   deactivates it after ``backoffLimitCount`` such evictions. No ``recoveryTimeout`` is set
   by the platform: a job whose pods were running and lost their node keeps its quota and
   waits for a new node.
4. **Running** ``run − done`` seconds. A spot interruption or the schedule's stop kills its
   pods: the work since the last checkpoint is lost and the pods wait for a node again. A
   preemption also releases its quota and puts it back in the queue once its pods have
   terminated (30 s, the default grace period). A batch job still running ``max_job_hours``
   after admission is killed (``activeDeadlineSeconds``: Kubernetes resets it when Kueue
   suspends and resumes a Job).
5. **Completed**, or at the end of the simulation *unfinished*.

Simplifications (documented in the README): a preemptor is admitted as its victims are
evicted (Kueue waits for their pods to go); a cycle orders the queues' heads by priority and
time (Kueue also puts heads that need not borrow first); jobs are not moved to consolidate
nodes; Job ``backoffLimit`` and JobSet restarts are not counted.

Timers are only set when they may fire: a pods-ready timeout for a job whose pods did not
start at once, a deadline for a job pending or running past it.
"""

from __future__ import annotations

import math
import random
from heapq import heappop, heappush
from typing import Any

from . import limits
from .admission import Admission
from .cluster import Node, PoolState
from .nodes import NodeEvents
from .platform import Platform
from .quota import Quotas, backoff_seconds
from .shapes import ShapeInfo, analyse
from .trace import ADMITTED, BACKOFF, DEACTIVATED, DEADLINE, DONE, NEVER, RUNNING, Job, Trace

#: event kinds of the job side (the node side's are 0..3, :mod:`.nodes`)
FINISH, PODS_READY, REQUEUE, KILL_DEADLINE = range(4, 8)
#: seconds a preempted workload's pods take to terminate before it is queued again
#: (``terminationGracePeriodSeconds`` default, k8s.io/api core/v1 PodSpec)
TERMINATION_GRACE_S = 30.0


class Result:
    def __init__(self, plat: Platform, trace: Trace, jobs: list[Job], pools: list[PoolState], end: float, seed: int,
                 infos: dict[Any, ShapeInfo], audited: int):
        self.plat, self.trace, self.jobs, self.pools, self.end, self.seed = plat, trace, jobs, pools, end, seed
        self.infos, self.audited = infos, audited


class Engine(NodeEvents):
    def __init__(self, plat: Platform, trace: Trace, *, seed: int = 0, horizon_s: float | None = None,
                 audit: bool = False, max_events: int | None = None):
        self.plat, self.trace, self.seed, self.audit = plat, trace, seed, audit
        #: the event loop's budget (:func:`.limits.max_events`): no input keeps it running for ever
        self.max_events = limits.max_events(len(trace.jobs)) if max_events is None else max_events
        self.fixed_horizon = horizon_s is not None
        slack = limits.DAY_S * limits.SLACK_DAYS
        self.horizon = horizon_s if horizon_s is not None else trace.span + slack
        if not self.horizon <= limits.MAX_HORIZON_DAYS * limits.DAY_S:  # the calendar holds it (nan too)
            raise limits.TooLarge(f"simulate {plat.stack}: got a simulation of {self.horizon / 86400:,.0f} days; "
                                  f"expected at most {limits.MAX_HORIZON_DAYS:,} days")
        self.rng = random.Random(seed)
        self.rate_s = plat.assumptions.spot_rate / 3600
        self.quotas = Quotas(plat)
        self.pools = [PoolState(p) for p in plat.pools]
        self.heap: list = []
        self.seq = 0
        self.now = 0.0
        self.node_ids = 0
        self.active = 0
        self.last_effect = 0.0
        self.last_scale_up = -math.inf
        self.quiet = False
        self.fresh: list[Job] = []
        self.kueue = Admission(self.quotas, len(plat.queues), self._admit, self._evict)
        self.audited = 0
        by_team = {q.team: q for q in plat.queues.values()}
        self.infos: dict[Any, ShapeInfo] = {}
        for job in trace.jobs:
            info = self.infos.get(job.shape.key)
            if info is None:
                info = self.infos[job.shape.key] = analyse(job.shape, plat, by_team)
            job.reset(info)
        self.handlers = (self._node_ready, self._scale_down, self._spot, self._schedule,
                         self._finish, self._pods_ready_timeout, self._requeue, self._deadline)
        self._schedule_events: list[tuple[float, bool]] = []
        self._start_pools()

    # ------------------------------------------------------------ setup

    def _push(self, t: float, kind: int, obj: Any, token: int) -> None:
        self.seq += 1
        heappush(self.heap, (t, self.seq, kind, obj, token))

    # ------------------------------------------------------------ the loop

    def run(self) -> Result:
        jobs = self.trace.jobs
        heap, n, i = self.heap, len(jobs), 0
        inf = math.inf
        handlers = self.handlers
        end = 0.0
        while True:
            ts = jobs[i].submit if i < n else inf
            te = heap[0][0] if heap else inf
            now = ts if ts < te else te
            if now == inf:
                break
            if now > self.horizon:
                end = self.horizon
                break
            if self.seq > self.max_events:
                self._too_many()
            self.now = end = now
            changed = False
            while heap and heap[0][0] <= now:
                _, _, kind, obj, token = heappop(heap)
                if handlers[kind](obj, token) is not False:  # False: a stale event, nothing changed
                    changed = True
            while i < n and jobs[i].submit <= now:
                self._submit(jobs[i])
                i += 1
                changed = True
            if changed:
                self._cycle()
            if not self.quiet and self.active == 0 and i >= n and not self.fixed_horizon:
                self.quiet = True  # no work left: let the nodes go, stop the schedule and spot
        if self.fixed_horizon:
            end = self.horizon
        elif end < self.horizon:  # ran out of events: stop at the last thing that happened
            end = self.last_effect
        self._close(end)
        return Result(self.plat, self.trace, jobs, self.pools, end, self.seed, self.infos, self.audited)

    def _too_many(self) -> None:
        raise limits.TooLarge(
            f"simulate {self.plat.stack}: got more than {self.max_events:,} events by day {self.now / 86400:,.1f} "
            f"({len(self.trace.jobs):,} jobs, spot rate {self.plat.assumptions.spot_rate:g} per node-hour); expected "
            f"at most {limits.EVENTS_BASE:,} events and {limits.EVENTS_PER_JOB} per job: a lower --spot-rate, "
            "a shorter --horizon-days or a smaller trace")

    def _cycle(self) -> None:
        self.kueue.cycle()
        for ps in self.pools:
            if ps.dirty:
                ps.dirty = False
                if ps.unplaced:
                    self._place(ps)
                if ps.unplaced and len(ps.nodes) < ps.max_now:
                    for _ in range(ps.nodes_needed(ps.unplaced)):
                        self._launch(ps)
                        self.last_scale_up = self.now
        if self.fresh:  # timers only for what did not start at once, or will not finish in time
            timeout = self.plat.pods_ready_timeout_s
            for job in self.fresh:
                if job.admitted_at != self.now or job.state not in (ADMITTED, RUNNING):
                    continue
                if timeout and job.state == ADMITTED and not job.ready:
                    self._push(self.now + timeout, PODS_READY, job, job.epoch)
                self._arm_deadline(job)
            self.fresh = []
        if self.audit:
            self.audited += 1
            problems = self.quotas.violations() + [p for ps in self.pools for p in ps.violations()]
            if problems:
                raise AssertionError(f"t={self.now:g}: " + "; ".join(problems[:5]))

    # ------------------------------------------------------------ Kueue

    def _submit(self, job: Job) -> None:
        info = job.info
        if info.never is not None:
            job.state, job.reason, job.end = NEVER, info.never, self.now
            self.last_effect = self.now
            return
        self.active += 1
        self.kueue.enqueue(job)

    def _admit(self, job: Job, opt: Any, qf: Any) -> None:
        now = self.now
        job.state, job.req, job.admitted_at, job.ready = ADMITTED, opt, now, False
        job.epoch += 1
        self.quotas.admit(qf, job)
        ps = self.pools[opt.pool]
        ps.unplaced.append(job)
        ps.dirty = True
        self.fresh.append(job)

    def _release_quota(self, job: Job) -> None:
        self.quotas.release(self.quotas.qf[job.info.qi][job.req.pool], job)
        self.kueue.released = True

    def _evict(self, job: Job) -> None:
        """Kueue preempts ``job``: pods killed, quota released; it is back in its queue once
        its pods have terminated (the pod's default grace period)."""
        if job.state == RUNNING:
            self._stop(job, "preemption")
        else:
            self.pools[job.req.pool].unplaced.remove(job)
        self._release_quota(job)
        job.preemptions += 1
        job.epoch += 1
        job.state = BACKOFF
        job.queue_ts = self.now
        self._push(self.now + TERMINATION_GRACE_S, REQUEUE, job, job.epoch)

    def _terminal(self, job: Job, state: int, reason: str | None = None) -> None:
        job.state, job.reason, job.end = state, reason, self.now
        self.active -= 1
        self.last_effect = self.now

    def _pods_ready_timeout(self, job: Job, epoch: int) -> bool | None:
        if job.epoch != epoch or job.state != ADMITTED or job.ready:
            return False
        self.pools[job.req.pool].unplaced.remove(job)
        self._release_quota(job)
        job.timeouts += 1
        job.epoch += 1
        limit = self.plat.backoff_limit
        if limit is not None and job.timeouts > limit:
            why = f"Kueue deactivated it: its pods were not running {self.plat.pods_ready_timeout_s / 60:g} min after " \
                  f"admission {job.timeouts} times (waitForPodsReady, backoffLimitCount {limit})"
            if job.info.soft:
                why += "; " + "; ".join(job.info.soft)
            self._terminal(job, DEACTIVATED, why)
            return
        job.state = BACKOFF
        job.queue_ts = self.now
        delay = backoff_seconds(job.timeouts, self.plat.backoff_base_s, self.plat.backoff_max_s)
        self._push(self.now + delay, REQUEUE, job, job.epoch)

    def _requeue(self, job: Job, epoch: int) -> bool | None:
        if job.epoch != epoch or job.state != BACKOFF:
            return False
        self.kueue.enqueue(job)
        return None

    def _deadline(self, job: Job, epoch: int) -> bool | None:
        if job.epoch != epoch or job.state not in (ADMITTED, RUNNING):
            return False
        if job.state == RUNNING:
            self._stop(job, "deadline")
        else:
            self.pools[job.req.pool].unplaced.remove(job)
        self._release_quota(job)
        hours = job.info.queue.max_job_s / 3600
        self._terminal(job, DEADLINE, f"killed {hours:g} h after admission (the team's max_job_hours, "
                                      f"activeDeadlineSeconds) with {(job.run - job.done) / 3600:.1f} h of work left")

    # ------------------------------------------------------------ pods on nodes

    def _place(self, ps: PoolState) -> None:
        still = []
        for job in ps.unplaced:
            nodes = ps.place(job.req.sparse, job.info.shape.pods)
            if nodes is None:
                still.append(job)
            else:
                self._start(job, nodes)
        ps.unplaced = still

    def _start(self, job: Job, nodes: list[Node]) -> None:
        now = self.now
        for n in nodes:
            if n.pods == 0:
                n.busy_since = now
                n.token += 1
                n.pool.tick(now, busy=1, idle=-1)
            n.pods += 1
            n.jobs[job] = None
        job.state, job.nodes, job.ready = RUNNING, nodes, True
        job.runs += 1
        if job.started_at < 0:
            job.started_at = now
        job.run_start = now
        self._push(now + (job.run - job.done), FINISH, job, job.runs)

    def _stop(self, job: Job, cause: str) -> None:
        """``job``'s pods end (``cause``: finish, spot, schedule, preemption, deadline)."""
        now = self.now
        opt = job.req
        ps = self.pools[opt.pool]
        progress = now - job.run_start
        phys = opt.phys
        job.held += phys * progress
        ps.alloc_gpu_s += phys * progress
        ps.asked_gpu_s += job.info.asked_gpus * progress
        ps.release(job.nodes, opt.sparse)
        for n in job.nodes:
            n.pods -= 1
            n.jobs.pop(job, None)
            if n.pods == 0:
                n.busy_s += now - n.busy_since
                n.busy_since = -1.0
                ps.tick(now, busy=-1, idle=1)
                if n.alive:
                    self._mark_empty(n)
        job.nodes = None
        ps.dirty = True
        if cause == "finish":
            job.useful += phys * (job.run - job.done)
            job.done = job.run
            return
        if cause == "deadline":
            job.lost_deadline += phys * progress
            return
        ck = job.checkpoint
        reached = job.done + progress
        if ck is None:  # a service loses nothing
            saved = reached
        elif ck > 0:
            saved = max(job.done, math.floor(reached / ck + 1e-9) * ck)
        else:
            saved = job.done
        lost = phys * (reached - saved)
        job.useful += phys * (saved - job.done)
        job.done = saved
        setattr(job, f"lost_{cause}", getattr(job, f"lost_{cause}") + lost)
        ps.lost_gpu_s += lost

    def _finish(self, job: Job, runs: int) -> bool | None:
        if job.runs != runs or job.state != RUNNING:
            return False
        self._stop(job, "finish")
        self._release_quota(job)
        self._terminal(job, DONE)

    def _arm_deadline(self, job: Job) -> None:
        """activeDeadlineSeconds, counted from admission: an event only when it may matter
        (pods pending, or running past it), once per admission."""
        limit = job.info.queue.max_job_s
        if job.shape.service or not math.isfinite(limit) or job.armed == job.epoch:
            return
        if job.state == RUNNING and job.run_start + job.run - job.done <= job.admitted_at + limit:
            return
        job.armed = job.epoch
        self._push(job.admitted_at + limit, KILL_DEADLINE, job, job.epoch)

    def _interrupt(self, job: Job, cause: str) -> None:
        """Its pods are killed (node gone); it keeps its quota and waits for nodes."""
        self._stop(job, cause)
        job.state = ADMITTED
        self._arm_deadline(job)
        job.interruptions += 1
        ps = self.pools[job.req.pool]
        ps.unplaced.append(job)

    # ------------------------------------------------------------ the end

    def _close(self, end: float) -> None:
        self.now = end
        for job in self.trace.jobs:
            if job.state == RUNNING:
                dt = end - job.run_start
                job.held += job.req.phys * dt
                job.in_progress += job.req.phys * dt
                ps = self.pools[job.req.pool]
                ps.alloc_gpu_s += job.req.phys * dt
                ps.asked_gpu_s += job.info.asked_gpus * dt
        for ps in self.pools:
            ps.tick(end)
            for node in ps.nodes:
                ps.close(node, end)

def simulate(plat: Platform, trace: Trace, *, seed: int = 0, horizon_s: float | None = None,
             audit: bool = False, max_events: int | None = None) -> Result:
    return Engine(plat, trace, seed=seed, horizon_s=horizon_s, audit=audit, max_events=max_events).run()
