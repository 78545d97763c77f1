"""Which environment a stack is, and what that environment may spend: rules the stack
cannot change.

- **The environment comes from the stack's name**: ``dev``, ``staging`` or ``prod``, alone
  or as the first or last dash-separated word (``prod-west``, ``research-dev``). The stack
  file's ``gpufleet:environment`` must agree; the policy pack reads the stack name from the
  resources' URNs and CI's approval gate (``scripts/ci_runners.py``) uses this same function,
  so a ``Pulumi.dev.yaml`` declaring ``environment: prod`` gets neither prod's allowances
  nor a deploy without prod's reviewers.
- **Ceilings per environment** (``modules/data/environment_ceilings.json``, owned like the
  policy pack, ``policies/``, by the platform team: ``@gpufleet/platform`` in
  ``.github/CODEOWNERS``; never by a stack): the most a stack may budget for, the spot
  discount the guards assume (the worst case they accept, whatever the stack hopes), the
  system pool's instance families and size, the endpoint allowlist's breadth. A stack's
  own ``cost.budget_usd`` can only be lower.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from . import catalog

ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")
Environment = Literal["dev", "staging", "prod"]
_WORDS = re.compile(r"[-_.]")
NAME_RULE = ("a stack name that says its environment: dev, staging or prod, alone or as its first or last "
             "dash-separated word (prod-west, research-dev)")


def environment_of(stack: str) -> str | None:
    """The environment a stack's name says, or None when it says none (or two)."""
    words = [w for w in _WORDS.split(stack.lower()) if w]
    if not words:
        return None
    found = {w for w in (words[0], words[-1]) if w in ENVIRONMENTS}
    return found.pop() if len(found) == 1 else None


@dataclass(frozen=True)
class Ceilings:
    environment: str
    #: the most a stack's nodes may cost at max size for a month (USD); a budget above it is refused
    max_monthly_usd: float
    #: the spot discount (off on-demand) the guards assume when they price spot capacity
    spot_discount_assumed: float
    #: the highest spot discount a stack may assume for its own estimates
    max_spot_discount: float
    #: instance families the system pool may use, and its largest size
    system_families: tuple[str, ...]
    system_max_vcpu: int
    system_max_nodes: int
    #: the public endpoint allowlist: no prefix shorter than this, and at most this many addresses
    min_public_prefix: int
    max_public_addresses: int


@cache
def ceilings(environment: str) -> Ceilings:
    doc = catalog.load("environment_ceilings.json")["environments"][environment]
    return Ceilings(environment=environment, **{k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()})
