"""The library path: gpufleet's platform inside a team's own Pulumi program (README, "Use
gpufleet as a library"; the example is ``examples/own-program/``).

::

    import gpufleet
    from gpufleet.config import StackConfig

    platform = gpufleet.build()                      # this stack's gpufleet:* config, as the shipped program
    platform = gpufleet.build("Pulumi.dev.yaml")     # a stack file
    platform = gpufleet.build(StackConfig(...))      # typed objects built in Python
    platform.export()                                # the declared stack outputs (modules/outputs.py)

:func:`build` declares exactly what the shipped ``__main__.py`` declares (the same logical
names, so the same URNs under the same project and stack) and returns a :class:`Platform`:
the checked config, the stack outputs, and the parts a program wires its own resources to
(the AWS and Kubernetes providers, the cluster, network, node role and pools, the tagger).

Whatever the config's origin, it gets every check a stack file gets, **before any resource
is declared**: the model's rules and derived figures (:func:`gpufleet.config.check`: cost
estimate against the budget, environment ceilings, system-pool fit), then the rules on the
stack's name (it says the environment, and every physical name built from it must be
valid). A failure is one :class:`PlatformConfigError` line, which is both a
:class:`~gpufleet.config.ConfigError` and a ``pulumi.RunError`` (Pulumi prints the line, no
traceback).

:func:`foundation` declares the foundation only (providers, network, cluster, node role,
core add-ons, node pools), for programs that compose the layers themselves
(:mod:`gpufleet.components`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpufleet import config as typed_config
from gpufleet.modules import config as stack_config
from gpufleet.modules import physical_names
from gpufleet.modules import platform as _platform
from gpufleet.modules.cluster import Cluster
from gpufleet.modules.config_errors import ConfigError, PlatformConfigError
from gpufleet.modules.context import PlatformContext
from gpufleet.modules.iam import ServiceRole
from gpufleet.modules.network import Network
from gpufleet.modules.nodepool import NodePool
from gpufleet.modules.outputs import StackOutputs
from gpufleet.modules.schema.stack import StackConfig
from gpufleet.modules.tags import Tagger

# PlatformConfigError (a config build() refuses, one line: a ConfigError and a pulumi.RunError)
# lives next to ConfigError, since the shipped program's config.load() raises it too; re-exported.
__all__ = ["ConfigInput", "Platform", "PlatformConfigError", "build", "foundation", "resolve_config"]

#: What :func:`build` takes as config: typed objects, a stack file, or None (the stack's own config).
ConfigInput = Union[StackConfig, str, os.PathLike, None]


@dataclass(frozen=True)
class Platform:
    """A declared gpufleet platform: what :func:`build` returns."""

    #: the config it was built from, checked
    config: StackConfig
    #: the stack outputs (``modules/outputs.py``, each with its doc); :meth:`export` exports them
    outputs: StackOutputs
    #: the foundation's components and providers, as the layers received them
    context: PlatformContext
    #: how error messages named the config (a stack file's path, ``<python>``, ...)
    source: str

    def export(self) -> None:
        """``pulumi.export`` every declared output (what the shipped ``__main__.py`` does)."""
        self.outputs.export()

    @property
    def stack(self) -> str:
        return self.context.stack

    @property
    def cluster_name(self) -> str:
        """The physical EKS cluster name (``gpufleet-<stack>``)."""
        return self.context.cluster_name

    @property
    def aws_provider(self) -> aws.Provider:
        """The platform's AWS provider: its region, the cost-allocation tags as default tags."""
        return self.context.aws_provider

    @property
    def k8s_provider(self) -> k8s.Provider:
        """The cluster's Kubernetes provider (created after the deployer's access entry)."""
        return self.context.k8s_provider

    @property
    def cluster(self) -> Cluster:
        return self.context.cluster

    @property
    def network(self) -> Network:
        return self.context.network

    @property
    def node_role(self) -> ServiceRole:
        return self.context.node_role

    @property
    def system_pool(self) -> NodePool:
        return self.context.system_pool

    @property
    def gpu_pools(self) -> dict[str, NodePool]:
        return self.context.gpu_pools

    @property
    def tagger(self) -> Tagger:
        """The stack's tags (``tagger(name, extra)``) for the program's own taggable AWS resources."""
        return self.context.tagger

    @property
    def kubeconfig(self) -> pulumi.Output[str]:
        return self.outputs.kubeconfig


def resolve_config(config: ConfigInput = None, *, source: str | None = None) -> tuple[StackConfig, str]:
    """(checked config, how messages name it) for the current stack, before any resource:
    what :func:`build` and :func:`foundation` run first. Raises :class:`PlatformConfigError`."""
    stack = pulumi.get_stack()
    try:
        if config is None:
            # read from Pulumi config, cached per stack, as the shipped program reads it: the stack
            # file named where Pulumi finds it (the project's stackConfigDir); a bad key is load()'s
            # one-line PlatformConfigError
            shown = source or stack_config.program_source(stack)
            cfg = stack_config.load(shown)
        elif isinstance(config, StackConfig):
            shown = source or typed_config.PYTHON_SOURCE
            cfg = typed_config.check(config, shown)
        elif isinstance(config, (str, os.PathLike)):
            shown = source or os.fspath(config)
            cfg = typed_config.from_file(Path(config), source=shown)
        else:
            raise TypeError(f"gpufleet.build: config must be a StackConfig, a stack file path or None, "
                            f"not {type(config).__name__}")
        stack_config.check_environment(stack, cfg, shown)
        physical_names.check_stack(stack, cfg.region, shown, cfg)
    except PlatformConfigError:
        raise
    except ConfigError as exc:
        raise PlatformConfigError.of(exc) from None
    return cfg, shown


def build(config: ConfigInput = None, *, source: str | None = None) -> Platform:
    """Declare the whole platform for the current stack from ``config``: a :class:`StackConfig`,
    a path to a stack file, or None (the stack's ``gpufleet:*`` config, like the shipped
    program). ``source``: how error messages name the config (default: the file's path, or
    ``<python>``). Every check runs before any resource is declared."""
    cfg, shown = resolve_config(config, source=source)
    ctx, outputs = _platform.compose(cfg)
    return Platform(config=cfg, outputs=outputs, context=ctx, source=shown)


def foundation(config: ConfigInput = None, *, source: str | None = None) -> PlatformContext:
    """Declare the foundation only (providers, network, cluster, node role, core add-ons, node
    pools) from a checked ``config``; the context :mod:`gpufleet.components`' layers
    (``compose_storage``, ``compose_ml``, ``compose_cost``) take."""
    cfg, _shown = resolve_config(config, source=source)
    return _platform.foundation(cfg)
