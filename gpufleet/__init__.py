"""gpufleet command line: offline plans, costs, policy verdicts and fleet operations; and the
platform as a library for a team's own Pulumi program (``gpufleet.build``, :mod:`gpufleet.api`).

The library names below are imported on first use (module ``__getattr__``), so
``import gpufleet`` and the CLI's start-up do not import Pulumi.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_LAZY = {
    "build": "gpufleet.api",
    "foundation": "gpufleet.api",
    "Platform": "gpufleet.api",
    "PlatformConfigError": "gpufleet.api",
    "StackConfig": "gpufleet.config",
    "ConfigError": "gpufleet.config",
}

__all__ = ["ConfigError", "Platform", "PlatformConfigError", "StackConfig", "build", "foundation"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from gpufleet.api import Platform, PlatformConfigError, build, foundation
    from gpufleet.config import ConfigError, StackConfig


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gpufleet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
