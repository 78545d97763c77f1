"""Kueue's quota accounting over time: usage, cohort borrowing, preemption, requeue backoff.

The static rule (will it ever fit the quota?) is :func:`modules.workload_rules.kueue_flavor`;
this module follows usage as workloads are admitted and finish, with Kueue's own formulas:

- **Available quota** (kubernetes-sigs/kueue ``pkg/cache/resource_node.go``, ``available``,
  ``potentialAvailable``, ``addUsage``/``removeUsage``): a ClusterQueue keeps
  ``nominal − lendingLimit`` to itself (its *guaranteed* quota; 0 without a lending
  limit); the rest of its nominal quota sits in the Cohort with the Cohort's own quota.
  What the queue may still take is its free guaranteed quota plus what the Cohort has free,
  the latter capped by ``borrowingLimit`` (what the queue stores in the Cohort, less what it
  uses there, plus the limit). The Cohort's usage is the queues' usage beyond their
  guarantees.
- **Preemption** (``pkg/scheduler/preemption/preemption.go``) with the stack's
  ``withinClusterQueue: LowerPriority`` and ``reclaimWithinCohort: Any``: the resources that
  need preemption are those the request exceeds; candidates are admitted workloads using
  them, of lower priority in the preemptor's queue, or of any priority in another queue of
  the Cohort that is borrowing them; ordered other queues first, lower priority first, most
  recently admitted first. When the preemptor's queue is under its nominal quota it reclaims
  from the Cohort without borrowing; otherwise (or if that fails) it preempts only in its
  own queue, borrowing allowed. Targets are removed in order until the request fits, then
  the earlier ones are put back while it still fits (``minimalPreemptions``,
  ``fillBackWorkloads``).
- **Requeue backoff** (``apis/config/v1beta2/configuration_types.go``, ``RequeuingStrategy``):
  after the n-th ``waitForPodsReady`` eviction a workload waits ``backoffBaseSeconds ×
  2^(n−1)`` (at most ``backoffMaxSeconds``; Kueue's random jitter left out) and is deactivated
  once n exceeds ``backoffLimitCount``.
"""

from __future__ import annotations

from typing import Iterable

from .platform import Platform

EPS = 1e-6


class QueueFlavor:
    """One ClusterQueue on one flavor (pool): quotas and usage, per resource of the pool."""

    __slots__ = ("queue", "pool", "nominal", "guaranteed", "borrowing", "usage", "admitted", "by_priority", "cv", "av", "borrows")

    def __init__(self, queue: int, pool: int, nominal: tuple[float, ...], lending: tuple[float, ...] | None,
                 borrowing: tuple[float, ...] | None):
        self.queue, self.pool, self.nominal, self.borrowing = queue, pool, nominal, borrowing
        self.guaranteed = tuple(max(0.0, n - l) for n, l in zip(nominal, lending)) if lending else (0.0,) * len(nominal)
        self.usage = [0.0] * len(nominal)
        self.borrows = False
        #: admitted workloads (an ordered set)
        self.admitted: dict = {}
        #: Kueue priority -> usage of the admitted workloads with it
        self.by_priority: dict[int, list[float]] = {}
        #: available quota per resource, cached for the pool's version ``cv``
        self.cv = -1
        self.av: list[float] = []


class Quotas:
    """Usage of every ClusterQueue and of the Cohort, per pool and resource."""

    def __init__(self, plat: Platform):
        self.qf: list[dict[int, QueueFlavor]] = []
        self.by_pool: dict[int, list[QueueFlavor]] = {p.index: [] for p in plat.pools}
        for q in sorted(plat.queues.values(), key=lambda q: q.index):
            row = {}
            for fl in q.flavors:
                qf = QueueFlavor(q.index, fl.pool, fl.nominal, fl.lending, fl.borrowing)
                row[fl.pool] = qf
                self.by_pool[fl.pool].append(qf)
            self.qf.append(row)
        self.subtree: dict[int, list[float]] = {}
        self.cusage: dict[int, list[float]] = {}
        for p in plat.pools:
            k = len(p.resources)
            total = list(plat.cohort.get(p.index, (0.0,) * k))
            for qf in self.by_pool[p.index]:
                for r in range(k):
                    total[r] += qf.nominal[r] - qf.guaranteed[r]
            self.subtree[p.index] = total
            self.cusage[p.index] = [0.0] * k
        #: per pool, bumped on every change of usage there (what a failed admission depends on)
        self.version = [0] * (max((p.index for p in plat.pools), default=-1) + 1)
        #: per pool, bumped when quota is released or a queue starts or stops borrowing there:
        #: the only changes after which a workload that did not fit may fit (admissions only
        #: take quota; a new borrower is a new preemption candidate)
        self.opened = [0] * len(self.version)
        #: after :meth:`targets` returned None cheaply: (resource, amount) pairs that explain it
        self.block: list[tuple[int, float]] | None = None

    # ------------------------------------------------------------ Kueue's formulas

    def available(self, qf: QueueFlavor, r: int) -> float:
        u = qf.usage[r]
        g = qf.guaranteed[r]
        local = g - u if g > u else 0.0
        parent = self.subtree[qf.pool][r] - self.cusage[qf.pool][r]
        if qf.borrowing is not None:
            used = u - g if u > g else 0.0
            cap = (qf.nominal[r] - g) - used + qf.borrowing[r]
            if cap < parent:
                parent = cap
        return local + parent

    def potential(self, qf: QueueFlavor, total: tuple[float, ...]) -> bool:
        """The request fits with nobody else using anything (Kueue's ``potentialAvailable``)."""
        sub = self.subtree[qf.pool]
        for r, v in enumerate(total):
            if v <= 0:
                continue
            pot = qf.guaranteed[r] + sub[r]
            if qf.borrowing is not None:
                pot = min(pot, qf.nominal[r] + qf.borrowing[r])
            if v > pot + EPS:
                return False
        return True

    def avail(self, qf: QueueFlavor) -> list[float]:
        """:meth:`available` for every resource (cached until usage on the pool changes)."""
        v = self.version[qf.pool]
        if qf.cv == v:
            return qf.av
        sub, cu, b = self.subtree[qf.pool], self.cusage[qf.pool], qf.borrowing
        out = []
        for r, u in enumerate(qf.usage):
            g = qf.guaranteed[r]
            parent = sub[r] - cu[r]
            if b is not None:
                cap = qf.nominal[r] - g - (u - g if u > g else 0.0) + b[r]
                if cap < parent:
                    parent = cap
            out.append((g - u if g > u else 0.0) + parent)
        qf.av, qf.cv = out, v
        return out

    def short(self, qf: QueueFlavor, total: tuple[float, ...]) -> int:
        """The first resource ``total`` does not fit in (-1: it fits)."""
        av = self.avail(qf)
        r = 0
        for v in total:
            if v > 0 and v > av[r] + EPS:
                return r
            r += 1
        return -1

    def fits(self, qf: QueueFlavor, total: tuple[float, ...], allow_borrowing: bool = True) -> bool:
        av = self.avail(qf)
        for r, v in enumerate(total):
            if v > av[r] + EPS and v > 0:
                return False
            if not allow_borrowing and v > 0 and qf.usage[r] + v > qf.nominal[r] + EPS:
                return False
        return True

    def add(self, qf: QueueFlavor, total: tuple[float, ...], sign: float = 1.0) -> None:
        pool = qf.pool
        self.version[pool] += 1
        cu = self.cusage[pool]
        usage, nominal = qf.usage, qf.nominal
        r = 0
        borrows = False
        for v in total:
            if v:
                g, u = qf.guaranteed[r], usage[r]
                before = u - g if u > g else 0.0
                u += sign * v
                usage[r] = u
                cu[r] += (u - g if u > g else 0.0) - before
            if usage[r] > nominal[r] + EPS:
                borrows = True
            r += 1
        if sign < 0 or borrows != qf.borrows:
            qf.borrows = borrows
            self.opened[pool] += 1

    def remove(self, qf: QueueFlavor, total: tuple[float, ...]) -> None:
        self.add(qf, total, -1.0)

    def admit(self, qf: QueueFlavor, job) -> None:
        """Reserve ``job.req.total`` for ``job`` (priority ``job.info.wprio``)."""
        total = job.req.total
        self.add(qf, total)
        qf.admitted[job] = None
        use = qf.by_priority.get(job.info.wprio)
        if use is None:
            use = qf.by_priority[job.info.wprio] = [0.0] * len(total)
        for r, v in enumerate(total):
            use[r] += v

    def release(self, qf: QueueFlavor, job) -> None:
        total = job.req.total
        self.remove(qf, total)
        del qf.admitted[job]
        use = qf.by_priority[job.info.wprio]
        for r, v in enumerate(total):
            use[r] -= v

    def borrowing_in(self, qf: QueueFlavor, resources: Iterable[int]) -> bool:
        return any(qf.usage[r] > qf.nominal[r] + EPS for r in resources)

    # ------------------------------------------------------------ preemption

    def targets(self, qf: QueueFlavor, total: tuple[float, ...], priority: int) -> list | None:
        """Workloads Kueue preempts so ``total`` fits ``qf`` (None: no preemption helps).
        Each workload has ``.info.wprio``, ``.admitted_at``, ``.index`` and ``.req`` (its
        :class:`~modules.simulate.shapes.Option`, with ``.total``)."""
        avail = self.avail(qf)
        need = [r for r, v in enumerate(total) if v > 0 and v > avail[r] + EPS]
        if not need:
            return []
        # necessary conditions first (cheap): enough usage to free, in every resource short
        self.block = None
        lower = [u for p, u in qf.by_priority.items() if p < priority]
        borrowers = [o for o in self.by_pool[qf.pool] if o.borrows and o is not qf and o.admitted]
        own_short, cohort_short = -1, (-1 if not borrowers else None)
        for r in need:
            bound = avail[r]
            for u in lower:
                bound += u[r]
            if own_short < 0 and total[r] > bound + EPS:
                own_short = r
            if cohort_short is None:
                for o in borrowers:
                    bound += o.usage[r]
                if qf.usage[r] >= qf.nominal[r] - EPS or total[r] > bound + EPS:
                    cohort_short = r
        if own_short >= 0 and cohort_short is not None:
            # why, as (resource, amount) pairs: a request at least as large there fails too
            self.block = [(own_short, total[own_short])] + ([(cohort_short, total[cohort_short])]
                                                            if cohort_short >= 0 else [])
            return None
        own_ok, cohort_ok = own_short < 0, cohort_short is None
        borrowers = [o for o in self.by_pool[qf.pool] if o is not qf and o.admitted and self.borrowing_in(o, need)]

        def uses(w) -> bool:
            return any(w.req.total[r] > 0 for r in need)

        def order(ws: list) -> list:
            return sorted(ws, key=lambda w: (w.info.wprio, -w.admitted_at, -w.index))

        own = order([w for w in qf.admitted if w.info.wprio < priority and uses(w)])
        others = order([w for o in borrowers for w in o.admitted if uses(w)]) if cohort_ok else []
        if not own and not others:
            return None
        found: list = []
        if others:
            found = self._minimal(qf, total, [*others, *own], need, allow_borrowing=False)
        if not found and own and own_ok:
            found = self._minimal(qf, total, own, need, allow_borrowing=True)
        return found or None

    def _minimal(self, qf: QueueFlavor, total: tuple[float, ...], candidates: list, need: list[int],
                 allow_borrowing: bool) -> list:
        removed: list = []
        result: list = []
        opened = self.opened[qf.pool]  # a simulation: nothing is released for real
        for w in candidates:
            wq = self.qf[w.info.qi][qf.pool]
            if wq is not qf and not self.borrowing_in(wq, need):
                continue
            self.remove(wq, w.req.total)
            removed.append(w)
            if self.fits(qf, total, allow_borrowing):
                result = list(removed)
                for x in reversed(removed[:-1]):  # fill back what is not needed
                    xq = self.qf[x.info.qi][qf.pool]
                    self.add(xq, x.req.total)
                    if self.fits(qf, total, allow_borrowing):
                        result.remove(x)
                        removed.remove(x)
                    else:
                        self.remove(xq, x.req.total)
                break
        for w in removed:
            self.add(self.qf[w.info.qi][qf.pool], w.req.total)
        for o in self.by_pool[qf.pool]:
            o.borrows = any(u > n + EPS for u, n in zip(o.usage, o.nominal))
        self.opened[qf.pool] = opened
        return result

    # ------------------------------------------------------------ invariants

    def violations(self) -> list[str]:
        """Queues above nominal + borrowingLimit, a Cohort above its quota, a stale cache."""
        out = []
        for pool, qfs in self.by_pool.items():
            for qf in qfs:
                if any(abs(a - self.available(qf, r)) > EPS for r, a in enumerate(self.avail(qf))):
                    out.append(f"queue {qf.queue} pool {pool}: cached availability is stale")
                for r, u in enumerate(qf.usage):
                    if u < -EPS:
                        out.append(f"queue {qf.queue} pool {pool}: negative usage {u}")
                    if qf.borrowing is not None and u > qf.nominal[r] + qf.borrowing[r] + EPS:
                        out.append(f"queue {qf.queue} pool {pool}: usage {u} > nominal {qf.nominal[r]} + "
                                   f"borrowing limit {qf.borrowing[r]}")
            for r, u in enumerate(self.cusage[pool]):
                if u > self.subtree[pool][r] + EPS:
                    out.append(f"cohort pool {pool}: usage {u} > quota {self.subtree[pool][r]}")
        return out


def backoff_seconds(evictions: int, base: float, cap: float) -> float:
    """Kueue's requeue delay after the ``evictions``-th pods-ready timeout (no jitter)."""
    return min(base * 2 ** (evictions - 1), cap)
