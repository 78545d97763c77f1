"""Declare a custom resource from the plain dict that tests validate against its CRD schema.

``k8s.apiextensions.CustomResource`` takes ``metadata`` and ``spec`` only; a few kinds
carry other top-level fields (a Kueue ``WorkloadPriorityClass`` has ``value`` and
``description``). :class:`TopLevelCustomResource` is the same resource type with those
fields sent as they are, like the TypeScript SDK's ``CustomResource`` allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes import _utilities

_META_KEYS = ("name", "namespace", "labels", "annotations")


def _metadata(meta: Mapping[str, Any]) -> k8s.meta.v1.ObjectMetaArgs:
    unknown = set(meta) - set(_META_KEYS)
    if unknown:
        raise ValueError(f"metadata fields not supported here: {sorted(unknown)}")
    return k8s.meta.v1.ObjectMetaArgs(**{k: meta[k] for k in _META_KEYS if k in meta})


class TopLevelCustomResource(k8s.apiextensions.CustomResource):
    """A custom resource whose object has top-level fields besides ``spec``."""

    def __init__(self, resource_name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=_utilities.get_version()))
        props = {k: v for k, v in obj.items() if k != "metadata"}
        props["metadata"] = _metadata(obj["metadata"])
        pulumi.CustomResource.__init__(self, f"kubernetes:{obj['apiVersion']}:{obj['kind']}", resource_name, props, opts)


def custom_resource(name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """The resource for ``obj`` (``apiVersion``, ``kind``, ``metadata`` and ``spec`` or other fields)."""
    if set(obj) <= {"apiVersion", "kind", "metadata", "spec"}:
        return k8s.apiextensions.CustomResource(
            name, api_version=obj["apiVersion"], kind=obj["kind"], metadata=_metadata(obj["metadata"]),
            spec=obj.get("spec"), opts=opts)
    return TopLevelCustomResource(name, obj, opts)
