"""Where a Kubernetes version stands on the EKS calendar on a given day, and what follows.

The rule, from the EKS user guide ("Understand the Kubernetes version lifecycle on EKS",
docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html, awsdocs/amazon-eks-user-guide
``latest/ug/versioning/kubernetes-versions.adoc``): a minor version is in *standard* support for
14 months after EKS releases it, then in *extended* support for 12 more months at a higher price
per cluster-hour (``modules/data/eks_versions.json``); after that EKS upgrades the cluster itself
to the oldest version still in extended support. New clusters may be created on any version in
standard or extended support. A control-plane upgrade moves one minor version at a time.

What gpufleet does with it (one place, used by the config rules, the cost model, ``plan`` and
``check``, the policy pack, ``init`` and ``replicate``):

- a version EKS does not offer on the day (not in the calendar, not yet released, past extended
  support) is refused;
- a version in extended support plans and deploys (a running cluster survives the end of standard
  support): the estimate bills the extended price, ``plan``/``check`` warn with the day standard
  support ended and the version to move to, and the pack's advisory policy warns;
- from :data:`WARN_DAYS` days before the end of standard support, ``check`` warns with the days left;
- a new stack starts on the newest version in standard support.

Every date comes from :mod:`.clock` unless the caller passes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from . import catalog, clock

#: days before the end of standard support from which ``check`` and ``plan`` warn
WARN_DAYS = 90

Phase = Literal["unknown", "upcoming", "standard", "extended", "ended"]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


@dataclass(frozen=True)
class Support:
    """A version's place on the calendar on ``on``."""

    version: str
    on: date
    phase: Phase
    info: catalog.EksVersion | None

    @property
    def offered(self) -> bool:
        """Can a cluster run (and be created on) this version on that day?"""
        return self.phase in ("standard", "extended")

    @property
    def days_left(self) -> int | None:
        """Days of standard support left (0 on its last day); None outside standard support."""
        if self.phase != "standard" or self.info is None:
            return None
        return (self.info.end_of_standard_support - self.on).days

    @property
    def move_to(self) -> str | None:
        """The version to upgrade to: the next minor version EKS offers on that day (upgrades go
        one minor version at a time), else the newest offered."""
        offered = offered_versions(self.on)
        later = [v for v in offered if _key(v) > _key(self.version)]
        return later[0] if later else None

    def warning(self) -> str | None:
        """One line for ``plan`` and ``check`` (None when nothing is worth saying)."""
        info, step = self.info, self.move_to
        upgrade = f"upgrade to {step}" if step else "upgrade when EKS offers a newer version"
        if self.phase == "extended" and info is not None:
            return (f"Kubernetes {self.version} left EKS standard support on {info.end_of_standard_support}: "
                    f"the control plane bills the extended-support price until {upgrade} "
                    f"(EKS upgrades it itself after {info.end_of_extended_support})")
        days = self.days_left
        if days is not None and days <= WARN_DAYS and info is not None:
            return (f"Kubernetes {self.version} leaves EKS standard support in {days} day(s), on "
                    f"{info.end_of_standard_support} (then extended-support billing): {upgrade}")
        return None


def support(version: str, on: date | None = None) -> Support:
    """Where ``version`` stands on ``on`` (default: the clock's today)."""
    on = on or clock.today()
    info = catalog.eks_versions().get(str(version))
    if info is None:
        phase: Phase = "unknown"
    elif on < info.released:
        phase = "upcoming"
    elif on <= info.end_of_standard_support:
        phase = "standard"
    elif on <= info.end_of_extended_support:
        phase = "extended"
    else:
        phase = "ended"
    return Support(str(version), on, phase, info)


def offered_versions(on: date | None = None) -> list[str]:
    """The versions EKS offers on ``on`` (standard or extended support), oldest first."""
    on = on or clock.today()
    return sorted((v for v in catalog.eks_versions() if support(v, on).offered), key=_key)


def standard_versions(on: date | None = None) -> list[str]:
    """The versions in standard support on ``on``, oldest first."""
    on = on or clock.today()
    return sorted((v for v in catalog.eks_versions() if support(v, on).phase == "standard"), key=_key)


def default_version(on: date | None = None) -> str | None:
    """What a new stack starts on: the newest version in standard support, else the newest offered
    (the calendar in ``modules/data/eks_versions.json`` is then out of date); None if none is."""
    return (standard_versions(on) or offered_versions(on) or [None])[-1]


def refusal(version: str, on: date | None = None) -> str | None:
    """What the config rule says of a version EKS does not offer on the day (None: offered)."""
    s = support(version, on)
    offered = ", ".join(offered_versions(s.on)) or "none (modules/data/eks_versions.json is out of date)"
    if s.phase == "unknown":
        return f"a Kubernetes version EKS offers on {s.on}: {offered}"
    if s.phase == "upcoming" and s.info is not None:
        return f"a Kubernetes version EKS offers on {s.on} ({s.version} arrives on {s.info.released}): {offered}"
    if s.phase == "ended" and s.info is not None:
        return (f"a Kubernetes version EKS still offers on {s.on} (extended support for {s.version} ended "
                f"{s.info.end_of_extended_support}, and EKS upgrades such clusters itself): {offered}")
    return None
