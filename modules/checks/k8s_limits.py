"""Kubernetes objects whose size grows with the teams (from ``modules/schema/teams.py`` and
``modules/schema/cost.py``).

With ``cost.tool: opencost`` the platform runs its own Prometheus (``modules/cost/prometheus.py``),
whose ConfigMap ``gpufleet-prometheus-config`` holds ``prometheus.yml`` and ``rules.yml``: the GPU
recording rules and one ``GpuJobOverTeamLimit`` alert per team (:func:`modules.cost.rules.rule_groups`).
The API server refuses a ConfigMap whose values add up to more than 1 MiB
(``modules/data/service_limits.json``), so the number of teams a stack can hold is what keeps
that ConfigMap within it: :func:`prometheus_configmap_bytes` builds ``rules.yml`` as the component
does and adds :data:`PROMETHEUS_YML_BYTES` for ``prometheus.yml`` (scrape jobs; it does not grow
with the config, and ``tests/test_aws_limits.py`` renders it against that allowance).

The other ConfigMaps built from the teams stay far below the limit: the admission policies'
job limits hold a few digits per team (only values count), and Kubecost keeps no rules file.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .. import catalog
from ..cost.rules import rule_groups
from ..schema.base import fail

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig

MAX_CONFIGMAP_BYTES: int = catalog.load("service_limits.json")["limits"]["configmap_data_bytes"]["value"]
#: what ``prometheus.yml`` may take of the ConfigMap (the shipped one is about 2 KB)
PROMETHEUS_YML_BYTES = 4096
CONFIGMAP = "gpufleet-prometheus-config"


def rules_yml(cfg: "StackConfig") -> str:
    """``rules.yml`` of the Prometheus ConfigMap, as ``SmallPrometheus`` writes it."""
    return json.dumps(rule_groups(cfg), indent=1)


def prometheus_configmap_bytes(cfg: "StackConfig") -> int:
    """The bytes the API server counts for the Prometheus ConfigMap (its values), at most."""
    return len(rules_yml(cfg).encode()) + PROMETHEUS_YML_BYTES


def check(cfg: "StackConfig") -> None:
    if cfg.cost.tool != "opencost":
        return
    size = prometheus_configmap_bytes(cfg)
    if size > MAX_CONFIGMAP_BYTES:
        fail("teams", len(cfg.teams),
             f"fewer teams with cost.tool: opencost, or cost.tool: kubecost: every team's GpuJobOverTeamLimit alert "
             f"goes into the Prometheus ConfigMap {CONFIGMAP}, which these {len(cfg.teams)} teams make about "
             f"{size:,} bytes, and Kubernetes refuses a ConfigMap over {MAX_CONFIGMAP_BYTES:,} bytes")
