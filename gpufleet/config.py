"""gpufleet's typed stack configuration, for a team's own Pulumi program (README, "Use gpufleet
as a library").

One import for everything a program needs to declare a stack's config in Python: the root
:class:`StackConfig` and its section models (pydantic, ``extra="forbid"``, frozen; the same
models a stack file is validated against, ``gpufleet.modules.schema``), plus

- :func:`from_file`: a stack file (``Pulumi.<stack>.yaml``) read and validated as the CLI
  reads it;
- :func:`template`: the stack gpufleet ships for an environment (what ``gpufleet init``
  starts from), as typed config to change with ``model_copy(update=...)``;
- :func:`check`: every rule a stack file gets, on a config built in Python.

Constructing a model validates it; ``model_copy(update=...)`` does not (pydantic skips
validation there), which is why :func:`gpufleet.build` runs :func:`check` on every
``StackConfig`` it is given before it declares a resource. Failures are one
:class:`ConfigError` line: where, the key path, the value given, what is allowed.

This module does not import Pulumi.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gpufleet.modules import config as _config
from gpufleet.modules.config_errors import NS, REGION_KEY, ConfigError
from gpufleet.modules.environments import ENVIRONMENTS, Environment
from gpufleet.modules.schema.cost import (AlertConfig, Busy, CostConfig, PoolSchedule, PrometheusConfig,
                                          ScheduleConfig)
from gpufleet.modules.schema.foundation import (CiRunner, ClusterConfig, CostTags, EndpointConfig, NetworkConfig,
                                                SharedStack)
from gpufleet.modules.schema.ml import AutoscalerConfig, KueueConfig, MlConfig
from gpufleet.modules.schema.pools import GpuPool, SystemPool, Taint
from gpufleet.modules.schema.stack import PoolsConfig, StackConfig
from gpufleet.modules.schema.storage import (BucketGrant, BucketsConfig, CheckpointsConfig, EfsConfig,
                                             ScratchConfig, StorageConfig)
from gpufleet.modules.schema.teams import Team

__all__ = [
    # the root and how to get one
    "StackConfig", "ConfigError", "check", "from_file", "template", "stack_file_config", "Environment", "ENVIRONMENTS",
    # foundation
    "CostTags", "NetworkConfig", "ClusterConfig", "EndpointConfig", "CiRunner", "SharedStack",
    # pools and teams
    "PoolsConfig", "SystemPool", "GpuPool", "Taint", "Team",
    # storage
    "StorageConfig", "EfsConfig", "ScratchConfig", "CheckpointsConfig", "BucketsConfig", "BucketGrant",
    # ML stack
    "MlConfig", "AutoscalerConfig", "KueueConfig",
    # cost
    "CostConfig", "Busy", "ScheduleConfig", "PoolSchedule", "PrometheusConfig", "AlertConfig",
]

#: How messages name a config built in Python (no file to point at).
PYTHON_SOURCE = "<python>"


def check(cfg: StackConfig, source: str = PYTHON_SOURCE) -> StackConfig:
    """``cfg`` checked by every rule a stack file gets, in the same order and with the same
    one-line :class:`ConfigError` naming ``source`` and the key path as a stack file spells it
    (``gpufleet:cost.budget_usd``): the model's field and cross-section rules (which
    ``model_copy(update=...)`` skipped), then the checks layer's derived figures
    (``modules.config.check``: cost estimate within the budget, environment ceilings, quotas,
    system-pool fit). Returns the checked config (equal to ``cfg``)."""
    if not isinstance(cfg, StackConfig):
        raise TypeError(f"gpufleet.config.check: a StackConfig, not {type(cfg).__name__}")
    # exactly what a stack file with these values gets: modules.config.validate (model, then checks layer)
    return _config.validate(stack_file_config(cfg), source)


def stack_file_config(cfg: StackConfig) -> dict[str, Any]:
    """``cfg`` as a stack file's ``config:`` mapping (``aws:region``, ``gpufleet:<section>``),
    the keys a program set (defaults left out, as in a hand-written file): what
    ``yaml.safe_dump({"config": ...})`` turns into a ``Pulumi.<stack>.yaml`` that
    ``gpufleet plan`` and ``gpufleet check`` judge."""
    data = cfg.model_dump(mode="json", by_alias=True, exclude_unset=True)
    region = data.pop("region")
    return {REGION_KEY: region, **{f"{NS}{key}": value for key, value in data.items()}}


def from_file(path: str | os.PathLike[str], *, source: str | None = None) -> StackConfig:
    """The validated config of a stack file (``Pulumi.<stack>.yaml``): the same checks as
    ``gpufleet plan``, including that the file's stack name says the environment it declares.
    ``source``: how messages name the file (default: the path as given)."""
    cfg, _raw = _config.from_file(Path(path), source or os.fspath(path))
    return cfg


def template(environment: Environment) -> StackConfig:
    """The stack gpufleet ships for ``environment`` (``dev``, ``staging`` or ``prod``): the
    template ``gpufleet init`` starts from. Its ARNs, e-mails and allowlists are the shipped
    examples: replace them (``model_copy(update=...)``) before ``pulumi up``."""
    from gpufleet import project

    if environment not in ENVIRONMENTS:
        raise ConfigError("gpufleet.config.template", "environment", environment,
                          f"one of {', '.join(ENVIRONMENTS)}")
    path = Path(project.TEMPLATES_DIR) / f"Pulumi.{environment}.yaml"
    return from_file(path, source=f"gpufleet template {path.name}")
