"""The error a Pulumi program raises for a config it refuses (``config.load()`` under
``pulumi up``, ``gpufleet.build()``). In its own module because it derives from
``pulumi.RunError``: :mod:`.config_errors` (which the CLI imports) hands it out on first use,
so reporting a stack file never imports Pulumi."""

from __future__ import annotations

import pulumi

from .config_errors import ConfigError


class PlatformConfigError(ConfigError, pulumi.RunError):
    """One line (``str()``), raised before any resource is declared: a :class:`ConfigError`
    (source, key path, given, expected) that Pulumi reports without a traceback, being a
    ``pulumi.RunError``."""

    @classmethod
    def of(cls, exc: ConfigError) -> "PlatformConfigError":
        return cls(exc.source, exc.key_path, exc.given, exc.expected, exc.more)
