"""The one place that reads stack configuration.

``load()`` is what the Pulumi program calls: it reads the stack's ``gpufleet:*`` keys
(and ``aws:region``) from Pulumi config, validates them against
:class:`modules.schema.stack.StackConfig` and returns the typed model, once per stack.
``from_file()`` does the same from a ``stacks/Pulumi.<stack>.yaml`` file, for the CLI,
which must reject a bad stack before it declares any resource.

Every failure becomes one :class:`ConfigError` whose message names the file, the key
path, the value given and what is allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from .schema.stack import StackConfig

PROJECT = "gpufleet"
NS = f"{PROJECT}:"
REGION_KEY = "aws:region"
STACKS_DIR = "stacks"


class ConfigError(Exception):
    """A stack file that does not validate. ``str()`` is the one-line message for users."""

    def __init__(self, source: str, key_path: str, given: Any, expected: str, more: int = 0):
        self.source, self.key_path, self.given, self.expected, self.more = source, key_path, given, expected, more
        super().__init__(str(self))

    def __str__(self) -> str:
        tail = f" (and {self.more} more problem{'s' if self.more > 1 else ''})" if self.more else ""
        return f"{self.source}: {self.key_path}: got {_show(self.given)}; expected {self.expected}{tail}"


class _Shown(str):
    """A given value that is already phrased for the message (e.g. ``unknown key 'x'``)."""


def _show(value: Any) -> str:
    if isinstance(value, _Shown):
        return str(value)
    if value is _MISSING:
        return "nothing (the key is missing)"
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


_MISSING = object()


def stack_file(stack: str, root: Path | None = None) -> Path:
    return (root or Path.cwd()) / STACKS_DIR / f"Pulumi.{stack}.yaml"


def sections(raw_config: Mapping[str, Any]) -> dict[str, Any]:
    """Turn Pulumi config (``{"gpufleet:network": {...}, "aws:region": ...}``) into model input."""
    data = {k[len(NS):]: v for k, v in raw_config.items() if k.startswith(NS)}
    if REGION_KEY in raw_config:
        data["region"] = raw_config[REGION_KEY]
    return data


def validate(raw_config: Mapping[str, Any], source: str) -> StackConfig:
    """Validate raw Pulumi config; raise :class:`ConfigError` naming ``source`` on failure."""
    try:
        return StackConfig.model_validate(sections(raw_config))
    except ValidationError as exc:
        errors = exc.errors()
        raise _to_config_error(errors[0], source, len(errors) - 1) from None


def read_stack_file(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file, with values parsed from YAML."""
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", str(path), "an existing stack file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise ConfigError(str(path), where, getattr(exc, "problem", str(exc)), "valid YAML") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise ConfigError(str(path), "config", doc, "a mapping under the top-level key 'config'")
    return doc["config"]


def from_file(path: Path, display: str | None = None) -> tuple[StackConfig, dict[str, Any]]:
    """Validated config and the raw Pulumi config of a stack file."""
    raw = read_stack_file(path)
    return validate(raw, display or str(path)), raw


_loaded: dict[str, StackConfig] = {}


def load() -> StackConfig:
    """The current stack's validated config (read from Pulumi config once per stack)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    stack = pulumi.get_stack()
    if stack not in _loaded:
        keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
        raw: dict[str, Any] = {}
        for key in sorted(k for k in keys if k.startswith(NS) or k == REGION_KEY):
            ns, _, name = key.partition(":")
            value = pulumi.Config(ns).get(name)
            try:
                raw[key] = json.loads(value) if value is not None else None
            except json.JSONDecodeError:
                raw[key] = value
        try:
            _loaded[stack] = validate(raw, f"{STACKS_DIR}/Pulumi.{stack}.yaml")
        except ConfigError as exc:
            raise pulumi.RunError(str(exc)) from None
    return _loaded[stack]


def forget() -> None:
    """Drop cached configs (a process that renders several stacks, e.g. tests)."""
    _loaded.clear()


# ---------------------------------------------------------------- error rendering

def _to_config_error(err: Mapping[str, Any], source: str, more: int) -> ConfigError:
    loc = list(err["loc"])
    ctx = err.get("ctx") or {}
    given = err.get("input", _MISSING)
    kind = err["type"]
    if kind == "gpufleet":
        path = _join(loc, ctx.get("subpath", ""))
        return ConfigError(source, _qualify(path), ctx.get("given"), ctx["detail"], more)
    path = _qualify(_join(loc, ""))
    if kind == "missing":
        return ConfigError(source, path, _MISSING, "this required key to be set", more)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return ConfigError(source, path, _Shown(f"unknown key '{_qualify(str(loc[0])) if len(loc) == 1 else loc[-1]}'"), f"a key allowed here: {allowed}", more)
    msg = err["msg"]
    for prefix in ("Value error, ", "Input should be ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return ConfigError(source, path, given, msg, more)


def _join(loc: list[Any], subpath: str) -> str:
    path = ""
    for el in loc:
        if isinstance(el, str) and el.startswith("[") and el.endswith("]"):
            continue  # pydantic's marker for "the key of a mapping": the next element is that key
        path += f"[{el}]" if isinstance(el, int) else (f".{el}" if path else str(el))
    if subpath:
        path += subpath if subpath[0] in "[." or not path else f".{subpath}"
    return path


def _qualify(path: str) -> str:
    """``network.azs[0]`` -> ``gpufleet:network.azs[0]``; ``region`` -> ``aws:region``."""
    if not path:
        return "config"
    if path == "region" or path.startswith(("region.", "region[")):
        return REGION_KEY + path[len("region"):]
    return NS + path


def _allowed_keys(loc: list[Any]) -> str:
    model: Any = StackConfig
    for el in loc:
        if isinstance(el, int) or model is None:
            model = _inner(model)
            continue
        field = model.model_fields.get(el) or next(
            (f for f in model.model_fields.values() if f.alias == el), None)
        model = _inner(field.annotation) if field else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return "(none)"
    names = [f.alias or n for n, f in model.model_fields.items()]
    if model is StackConfig:
        names = [REGION_KEY if n == "region" else NS + n for n in names]
    return ", ".join(names)


def _inner(annotation: Any) -> Any:
    """The model inside ``list[Model]``, ``Model | None``, or the model itself."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner(arg)
        if found is not None:
            return found
    return None
