"""A plan document's resources as the replacement guard (:mod:`gpufleet.diff`) reads them.

Resources are matched by URN without the stack segment (:func:`key`; a plan saved before
gpufleet emitted the URNs Pulumi assigns still matches). Their wire inputs are walked for
the paths that differ (:func:`leaf_changes`, :func:`value_changes`), and values are shown
without the mock engine's made-up ids (:class:`Placeholders`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: The marker Pulumi puts in a secret value on the wire.
SECRET_SIG = "4dabf18193072939515e22adb298388d"

LEGACY_ROOT = "pulumi:pulumi:Stack$"

#: An absent value (a property set on one side only), told apart from ``None``.
MISSING = object()


# ---------------------------------------------------------------- URN keys

def key(urn: str, legacy: bool = False) -> str:
    """A URN without its stack segment: ``project::parent types$type::name``.

    ``legacy``: the parent types cut to the last one, as in plans written before gpufleet
    emitted the URNs Pulumi assigns (its mock engine kept only the parent's last type and
    put ``pulumi:pulumi:Stack$`` before top-level types): a plan of either shape then
    matches a plan of the other, resource by resource."""
    parts = urn.split("::", 3)
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
        return urn
    project, qualified, name = parts[1:]
    if legacy:
        chain = qualified.removeprefix(LEGACY_ROOT).split("$")
        qualified = "$".join(chain[-2:])
    return f"{project}::{qualified}::{name}"


def is_legacy(doc: dict[str, Any]) -> bool:
    """A plan with the mock engine's old URNs (``...::pulumi:pulumi:Stack$<type>::...``)."""
    return any(isinstance(r.get("urn"), str) and f"::{LEGACY_ROOT}" in r["urn"] for r in doc.get("resources", []))


def provider_key(ref: str | None, legacy: bool = False) -> str | None:
    """``urn::id`` (how a resource names its provider) to the provider's key."""
    return key(ref.rsplit("::", 1)[0], legacy) if ref else None


def type_of(k: str) -> str:
    return k.split("::")[1].split("$")[-1] if k.count("::") >= 2 else ""


@dataclass
class Resource:
    """One resource of a plan document under its key."""

    key: str
    doc: dict[str, Any]
    legacy: bool = False

    @property
    def inputs(self) -> dict[str, Any]:
        return self.doc.get("inputs", {})

    @property
    def options(self) -> dict[str, Any]:
        return self.doc.get("options", {}) or {}

    @property
    def provider(self) -> str | None:
        """The key of the provider that manages it (None: the default provider)."""
        return provider_key(self.options.get("provider"), self.legacy)

    def deps(self, typ: str) -> set[str]:
        """The keys of the resources of type ``typ`` it depends on."""
        keys = (key(u, self.legacy) for u in self.options.get("depends_on", []))
        return {k for k in keys if type_of(k) == typ}


# ---------------------------------------------------------------- values

def get(inputs: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of the wire inputs, or :data:`MISSING`."""
    node: Any = inputs
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def _walked(base: Any, head: Any) -> bool:
    """Two objects compared key by key (a secret is compared whole)."""
    return isinstance(base, dict) and isinstance(head, dict) and SECRET_SIG not in base and SECRET_SIG not in head


def leaf_changes(base: Any, head: Any, prefix: str = "") -> list[str]:
    """Dotted paths that differ (objects are walked, lists and scalars compared whole)."""
    if _walked(base, head):
        out: list[str] = []
        for k in sorted(set(base) | set(head), key=str):
            out += leaf_changes(base.get(k, MISSING), head.get(k, MISSING), f"{prefix}{k}.")
        return out
    return [prefix[:-1]] if base != head else []


def value_changes(base: Any, head: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """What differs, as ``(path, old, new)``, for people to read: objects are walked, and so
    are lists of the same length (``spec.resourceGroups[0].flavors[1].name``); other lists
    and scalars are compared whole. A path covers the same values as :func:`leaf_changes`'."""
    if _walked(base, head):
        out: list[tuple[str, Any, Any]] = []
        for k in sorted(set(base) | set(head), key=str):
            out += value_changes(base.get(k, MISSING), head.get(k, MISSING), f"{prefix}{k}.")
        return out
    if isinstance(base, list) and isinstance(head, list) and len(base) == len(head) and prefix:
        out = []
        for i, (b, h) in enumerate(zip(base, head)):
            out += value_changes(b, h, f"{prefix[:-1]}[{i}].")
        return out
    return [(prefix[:-1], base, head)] if base != head else []


def covered(path: str, prefixes: Iterable[str]) -> bool:
    """``path`` is one of ``prefixes`` or inside one (an object key or a list item)."""
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


class Placeholders:
    """Shows values without the mock engine's made-up ids: an id, key id or ARN the mock
    engine computed for a resource of the plans becomes ``<id of NAME>`` (``<arn of NAME>``);
    a secret becomes ``[secret]``; an absent value ``None``."""

    def __init__(self, resources: Iterable[dict[str, Any]]) -> None:
        from .engine import MOCK_ARN, placeholders

        self.arn = MOCK_ARN
        self.names: set[str] = set()
        self.labels: dict[str, str] = {}
        for r in resources:
            name, typ = r.get("name"), r.get("type")
            if isinstance(name, str) and isinstance(typ, str):
                self.names.add(name)
                self.labels.update(placeholders(typ, name))

    def __call__(self, value: Any) -> Any:
        if value is MISSING:
            return None
        if isinstance(value, dict):
            if SECRET_SIG in value:
                return "[secret]"
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str):
            if value in self.labels:
                return self.labels[value]
            m = self.arn.match(value)
            if m and m["name"] in self.names:
                return f"<arn of {m['name']}>"
        return value
