"""Kueue's admission cycles: the ClusterQueues' pending workloads and who is admitted when.

- **Queueing** (``BestEffortFIFO``, kubernetes-sigs/kueue ``pkg/queue``): each ClusterQueue
  orders its pending workloads by priority, then queue time (creation, or the eviction
  time after an eviction: ``requeuingStrategy.timestamp: Eviction``); a workload that does
  not fit is set aside and the next one is tried. Inadmissible workloads are tried again
  when quota is released (a workload finishes or is evicted).
- **Flavor assignment** (``pkg/scheduler/flavorassigner``, default ``flavorFungibility``:
  ``whenCanBorrow: MayStopSearch``, ``whenCanPreempt: TryNextFlavor``): the first flavor, in
  the queue's order, whose quota fits (borrowing allowed); if none fits, preemption on the
  first flavor where the workload could fit at all (``potentialAvailable``).
- A cycle here orders every queue's heads by priority, then time; Kueue's scheduler also
  takes heads that need not borrow before those that do (not modelled).

Equal shapes (same queue, priority and requests) are queued together; a shape that failed
is not tried again until quota is released on one of its pools or a queue there starts or
stops borrowing (admissions only take quota; a new borrower is a new preemption candidate),
and a workload that asks at least as much as one that failed since (for the same reasons)
is skipped: both only save work, the outcome is the same.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Any, Callable

from .quota import Quotas
from .shapes import ShapeInfo
from .trace import WAITING


class Admission:
    def __init__(self, quotas: Quotas, queues: int, admit: Callable[[Any, Any, Any], None],
                 evict: Callable[[Any], None]):
        self.quotas = quotas
        self._admit, self._evict = admit, evict
        #: per queue: shape -> heap of (queue time, index, job)
        self.pending: list[dict[ShapeInfo, list]] = [{} for _ in range(queues)]
        self.new: list = []
        #: quota was released: every pending shape may fit again
        self.released = False

    def enqueue(self, job: Any) -> None:
        job.state = WAITING
        shapes = self.pending[job.info.qi]
        heap = shapes.get(job.info)
        if heap is None:
            heap = shapes[job.info] = []
        heappush(heap, (job.queue_ts, job.index, job))
        self.new.append(job)

    def cycle(self) -> None:
        """Admit what fits now; again while evictions (preemption) release quota at this instant."""
        for _ in range(100):
            if self.released:
                self.released = False
                self.new = []
                self._all()
            elif self.new:
                new, self.new = self.new, []
                new.sort(key=lambda j: (-j.info.wprio, j.queue_ts, j.index))
                for job in new:
                    if job.state != WAITING:
                        continue
                    heap = self.pending[job.info.qi][job.info]
                    if heap[0][2] is job and self._try(job, {}):
                        self._pop(job)
            else:
                return

    def _all(self) -> None:
        version = self.quotas.opened
        heads = []
        for qi, shapes in enumerate(self.pending):
            for info, h in shapes.items():
                if info.failed_at != tuple([version[p] for p in info.pools]):
                    heads.append((-info.wprio, h[0][0], h[0][1], qi, info))
        heapify(heads)
        certs: dict = {}
        while heads:
            _, _, _, qi, info = heappop(heads)
            heap = self.pending[qi].get(info)
            if not heap:
                continue
            if self._try(heap[0][2], certs):
                self._pop(heap[0][2])
                heap = self.pending[qi].get(info)
                if heap:
                    heappush(heads, (-info.wprio, heap[0][0], heap[0][1], qi, info))

    def _pop(self, job: Any) -> None:
        shapes = self.pending[job.info.qi]
        heap = shapes[job.info]
        heappop(heap)
        if not heap:
            del shapes[job.info]

    def _try(self, job: Any, certs: dict) -> bool:
        """Admit ``job`` if Kueue would now (evicting what its preemption takes)."""
        info = job.info
        quotas = self.quotas
        version = quotas.opened
        key = tuple([version[p] for p in info.pools])
        if info.failed_at == key:
            return False
        row = quotas.qf[info.qi]
        if info.potential is None:
            info.potential = tuple(quotas.potential(row[o.pool], o.total) for o in info.options)
            info.group = (info.qi, info.wprio, info.potential, info.pools)
        for cert in certs.get(info.group, ()):
            if cert[0] == key and all(info.options[i].total[r] >= x for i, r, x in cert[1]):
                info.failed_at = key
                return False
        first = -1
        why: list[tuple[int, int, float]] = []
        i = 0
        for opt in info.options:
            qf = row[opt.pool]
            r = quotas.short(qf, opt.total)
            if r < 0:
                self._admit(job, opt, qf)
                return True
            why.append((i, r, opt.total[r]))
            if first < 0 and info.potential[i]:
                first = i
            i += 1
        if first >= 0:
            opt = info.options[first]
            qf = row[opt.pool]
            targets = quotas.targets(qf, opt.total, info.wprio)
            if targets:
                for w in targets:
                    self._evict(w)
                if quotas.fits(qf, opt.total):
                    self._admit(job, opt, qf)
                    return True
            if targets is None and quotas.block is not None:
                why += [(first, r, x) for r, x in quotas.block]
            else:
                why = []
        info.failed_at = tuple([version[p] for p in info.pools])
        if why and info.failed_at == key:
            certs.setdefault(info.group, []).append((key, why))
        return False
