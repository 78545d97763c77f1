"""The checks layer: rules that need derived figures (issue #11, section 3).

A stack is read in two layers. :mod:`modules.schema` parses and types it with pure field
rules and the cross-field rules that need nothing but the config and the catalog
(``StackConfig.model_validate``). This package then runs the rules that need figures
derived from the typed config by the cost model, the quota math, the node and workload
rules and the system-pool fit, one file per concern:

- :mod:`.quotas` – every team share above 0 gives at least one GPU (``modules.ml.quotas``);
- :mod:`.ml` – Kueue flavor labels, time to ready vs Kueue's and the autoscaler's timeouts,
  reserved CPU/memory vs a node's allocatable;
- :mod:`.budget` – every pool priced, the expected monthly cost within the budget
  (``modules.cost.model``);
- :mod:`.ceilings` – the environment's ceilings, the max node spend among them;
- :mod:`.system_fit` – the add-ons' images and requests on the system pool (``modules.fit``);

then the service limits on what the program would send (:data:`LIMITS`, after the checks
above, so a stack that breaks one of those gets the same message as before):

- :mod:`.aws_limits` – managed node groups per cluster, the tags on each pool's Auto Scaling
  group (``modules.nodespec.autoscaler_tags``), Pod Identity associations per cluster;
- :mod:`.k8s_limits` – the Prometheus ConfigMap that holds every team's alert rule
  (``modules.cost.rules``) within Kubernetes' 1 MiB.

The schema imports none of them (nor the modules they read), so the two layers import each
other in one direction only and each can be tested alone. :func:`run` runs every check in
the fixed order of :data:`ORDER`, then :data:`LIMITS`, and stops at the first failure with :class:`CheckFailed`:
the key path (the config's spelling, below the stack's root), the value given and what is
allowed, the same parts :func:`modules.schema.base.fail` gives a field rule's error.
:mod:`modules.config` turns it into the same one-line ``ConfigError`` (``validate`` for a
stack file or Pulumi config, ``check`` for a config built in Python).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticCustomError

from . import aws_limits, budget, ceilings, k8s_limits, ml, quotas, system_fit

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.stack import StackConfig

#: The checks in the order they run (and the order the validator ran them in before).
ORDER = (quotas, ml, budget, ceilings, system_fit)
#: The service limits (``modules/data/service_limits.json``), run after :data:`ORDER`.
LIMITS = (aws_limits, k8s_limits)


class CheckFailed(Exception):
    """A check that failed: ``path`` below the stack's root (``cost.budget_usd``), the value
    given and what is allowed."""

    def __init__(self, path: str, given: Any, expected: str):
        self.path, self.given, self.expected = path, given, expected
        super().__init__(f"{path}: got {given!r}; expected {expected}")


def run(cfg: "StackConfig") -> None:
    """Run every check on a typed config; raise :class:`CheckFailed` at the first failure."""
    for section in ORDER + LIMITS:
        try:
            section.check(cfg)
        except PydanticCustomError as exc:  # schema.base.fail: the same parts as a field rule's error
            ctx = exc.context or {}
            raise CheckFailed(ctx.get("subpath", ""), ctx.get("given"), ctx.get("detail", exc.message())) from None
