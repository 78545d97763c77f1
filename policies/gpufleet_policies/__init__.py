"""gpufleet's CrossGuard policy pack: cost guards and security rules for the EKS GPU platform.

One module per domain, each with a ``POLICIES`` list; :data:`POLICIES` is the whole pack.
``policies/__main__.py`` serves it to ``pulumi preview --policy-pack policies``;
:mod:`gpufleet.policies.offline` applies the very same policy objects to the offline plan
(``gpufleet plan``).
"""

from __future__ import annotations

from pulumi_policy import Policy

from . import cluster, cost, kueue, network, nodes, security, storage, tags

PACK_NAME = "gpufleet"
POLICIES: list[Policy] = [
    *nodes.POLICIES,
    *cost.POLICIES,
    *tags.POLICIES,
    *network.POLICIES,
    *cluster.POLICIES,
    *security.POLICIES,
    *storage.POLICIES,
    *kueue.POLICIES,
]


def policy(name: str) -> Policy:
    """The pack's policy called ``name``."""
    return next(p for p in POLICIES if p.name == name)
