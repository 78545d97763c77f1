"""How a stack file's problems are told: one :class:`ConfigError` per problem, a line
that names the file, the key path, the value given (shown without materialising it: a
bounded rendering, safe for alias bombs) and what is allowed, in the user's terms rather
than the validator's.
"""

from __future__ import annotations

import difflib
import ipaddress
import types
import typing
from typing import TYPE_CHECKING, Any, Callable, Mapping

import annotated_types
from pydantic import BaseModel, ValidationError

from .schema.stack import StackConfig
from .shown_values import (_CONTROL, _MISSING, EXCERPT, Shown, Verbatim, _one_line, _show, _Shown,  # noqa: F401
                           excerpt)


PROJECT = "gpufleet"
NS = f"{PROJECT}:"
REGION_KEY = "aws:region"


class ConfigError(Exception):
    """A stack file that does not validate. ``str()`` is the one-line message for users."""

    def __init__(self, source: str, key_path: str, given: Any, expected: str, more: int = 0):
        self.source, self.key_path, self.given, self.expected, self.more = source, key_path, given, expected, more
        super().__init__(str(self))

    def __str__(self) -> str:
        tail = f" (and {self.more} more problem{'s' if self.more > 1 else ''})" if self.more else ""
        return (f"{_one_line(self.source, 300)}: {_one_line(self.key_path, 200)}: got {_show(self.given)}; "
                f"expected {_one_line(self.expected, 1000)}{tail}")


if TYPE_CHECKING:  # pragma: no cover
    from .program_errors import PlatformConfigError  # noqa: F401


def __getattr__(name: str) -> Any:
    """``PlatformConfigError`` (:mod:`.program_errors`) is imported on first use: it derives
    from ``pulumi.RunError``, and importing this module (the CLI does) must not import Pulumi."""
    if name == "PlatformConfigError":
        from .program_errors import PlatformConfigError

        return PlatformConfigError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------- error rendering

def error_from_validation(exc: ValidationError, source: str, root: type[BaseModel],
                          qualify: Callable[[str], str] | None = None) -> ConfigError:
    """The first error of a pydantic validation of ``root`` (others counted), in user terms."""
    errors = exc.errors()
    return _to_config_error(errors[0], source, len(errors) - 1, root, qualify or (lambda p: p or "(file)"))


def _error_path(err: Mapping[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    return _join(list(err["loc"]), ctx.get("subpath", "") if err["type"] == "gpufleet" else "")


def _to_config_error(err: Mapping[str, Any], source: str, more: int, root: type[BaseModel] = StackConfig,
                     qualify: Callable[[str], str] | None = None) -> ConfigError:
    qualify = qualify or _qualify
    loc = list(err["loc"])
    ctx = err.get("ctx") or {}
    given = err.get("input", _MISSING)
    kind = err["type"]
    if kind == "gpufleet":
        return ConfigError(source, qualify(_error_path(err)), ctx.get("given"), ctx["detail"], more)
    path = qualify(_join(loc, ""))
    if kind == "missing":
        return ConfigError(source, path, _MISSING, "this required key to be set", more)
    if kind == "extra_forbidden":
        names = _allowed_names(loc[:-1], root, qualify)
        key = qualify(str(loc[0])) if len(loc) == 1 else str(loc[-1])
        # compared without the namespace every root key shares (`gpufleet:x` is not close to `gpufleet:ml`)
        bare = {n.partition(":")[2] if len(loc) == 1 else n: n for n in names}
        near = difflib.get_close_matches(str(loc[-1])[:200], list(bare), 1, 0.6)
        hint = f" (did you mean '{bare[near[0]]}'?)" if near else ""
        return ConfigError(source, path, _Shown(f"unknown key '{_one_line(key, 100)}'"),
                           f"a key allowed here: {', '.join(names) or '(none)'}{hint}", more)
    return ConfigError(source, path, given, _expected(kind, err, ctx, loc, given, root, qualify), more)


def _expected(kind: str, err: Mapping[str, Any], ctx: Mapping[str, Any], loc: list[Any], given: Any,
              root: type[BaseModel], qualify: Callable[[str], str]) -> str:
    """What a generic pydantic error means, in the terms of a YAML file."""
    ann, info = _annotation_at(root, loc)
    if kind in ("model_type", "model_attributes_type"):
        names = _allowed_names(loc, root, qualify)
        return f"a mapping with keys from: {', '.join(names)}" if names else "a mapping"
    if kind == "dict_type":
        return f"a mapping of names to {_plural(_dict_value(ann))}"
    if kind in ("list_type", "tuple_type", "set_type", "frozen_set_type"):
        what = f"a list of {_plural(_item(ann))}"
        if isinstance(given, (str, int, float)) and not isinstance(given, bool):
            return f"{what} (write [{given}] for a single item)"
        return what
    if kind == "string_type":
        return "a string" + (" (put numbers in quotes)" if isinstance(given, (int, float)) and not isinstance(given, bool) else "")
    if kind in ("int_type", "int_parsing", "int_parsing_size"):
        return _bounds(ctx, info, int) if info and _constraints(info) else "an integer"
    if kind == "int_from_float":
        return "a whole number (an integer)"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return "a finite number"
    if kind in ("bool_type", "bool_parsing"):
        return "true or false"
    if kind in ("ip_v4_network", "ip_any_network", "ip_v6_network"):
        try:
            network = ipaddress.ip_network(str(given), strict=False)
        except ValueError:
            return "an IPv4 network in CIDR notation, e.g. 10.0.0.0/16"
        return f"a network address without host bits, e.g. {network}"
    if kind in ("ip_v4_address", "ip_any_address"):
        return "an IPv4 address, e.g. 10.0.0.1"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _bounds(ctx, info, _base(ann))
    if kind in ("too_short", "too_long"):
        return _lengths(ctx, info, "a mapping" if ctx.get("field_type") == "Dictionary" else "a list", "item")
    if kind in ("string_too_short", "string_too_long"):
        if ctx.get("min_length") == 1 and kind == "string_too_short":
            return "a non-empty string"
        return _lengths(ctx, info, "a string", "character")
    if kind == "string_pattern_mismatch":
        return f"a string matching the pattern {ctx.get('pattern')}"
    if kind in ("literal_error", "enum"):
        return str(ctx.get("expected", ""))
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Input should be ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


def _constraints(info: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in getattr(info, "metadata", []) or []:
        for name in ("gt", "ge", "lt", "le", "min_length", "max_length"):
            if getattr(m, name, None) is not None and isinstance(m, annotated_types.BaseMetadata | annotated_types.Interval):
                out[name] = getattr(m, name)
    return out


def _num(x: Any) -> str:
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    return f"{x:,}" if isinstance(x, int) and abs(x) >= 100_000 else str(x)


def _bounds(ctx: Mapping[str, Any], info: Any, base: Any) -> str:
    limits = {**_constraints(info), **{k: ctx[k] for k in ("gt", "ge", "lt", "le") if k in ctx}}
    noun = "an integer" if base is int else "a number"
    lo = ("at least", limits["ge"]) if "ge" in limits else (("greater than", limits["gt"]) if "gt" in limits else None)
    hi = ("at most", limits["le"]) if "le" in limits else (("less than", limits["lt"]) if "lt" in limits else None)
    if lo and hi and lo[0] == "at least" and hi[0] == "at most":
        return f"{noun} from {_num(lo[1])} to {_num(hi[1])}"
    parts = [f"{bound[0]} {_num(bound[1])}" for bound in (lo, hi) if bound]
    return f"{noun} {' and '.join(parts)}" if parts else noun


def _lengths(ctx: Mapping[str, Any], info: Any, what: str, unit: str) -> str:
    limits = {**_constraints(info), **{k: ctx[k] for k in ("min_length", "max_length") if k in ctx}}
    lo, hi = limits.get("min_length"), limits.get("max_length")

    def n(x: int) -> str:
        return f"{x} {unit}{'s' if x != 1 else ''}"

    if lo and hi:
        return f"{what} of {lo} to {n(hi)}"
    if lo:
        return f"{what} of at least {n(lo)}"
    return f"{what} of at most {n(hi)}" if hi is not None else what


def _base(annotation: Any) -> Any:
    """``X`` of ``Annotated[X, ...]`` / ``X | None``."""
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin is typing.Annotated:
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        else:
            return annotation


def _item(annotation: Any) -> Any:
    args = typing.get_args(_base(annotation))
    return args[0] if args else None


def _dict_value(annotation: Any) -> Any:
    args = typing.get_args(_base(annotation))
    return args[1] if len(args) == 2 else None


def _plural(annotation: Any) -> str:
    base = _base(annotation)
    if typing.get_origin(base) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(base))
    if isinstance(base, type) and issubclass(base, BaseModel):
        return "mappings"
    return {int: "integers", float: "numbers", str: "strings", bool: "true/false values",
            ipaddress.IPv4Network: "IPv4 networks (CIDR)"}.get(base, "values")


def _annotation_at(root: type[BaseModel], loc: list[Any]) -> tuple[Any, Any]:
    """(annotation, FieldInfo or None) of the value at ``loc``; FieldInfo only when ``loc``
    ends at a field (not inside a list or mapping of it)."""
    ann: Any = root
    info = None
    for el in loc:
        base = _base(ann)
        if el == "[key]":
            args = typing.get_args(base)
            ann, info = (args[0] if args else None), None
            continue
        if isinstance(base, type) and issubclass(base, BaseModel) and isinstance(el, str):
            field = base.model_fields.get(el) or next((f for f in base.model_fields.values() if f.alias == el), None)
            if field is None:
                return None, None
            ann, info = field.annotation, field
            continue
        origin = typing.get_origin(base)
        args = typing.get_args(base)
        if origin in (list, tuple, set, frozenset) and args:
            ann = args[0]
        elif origin is dict and len(args) == 2:
            ann = args[1]  # a dict value; a key error ends with "[key]"
        else:
            return None, None
        info = None
    return ann, info


def _join(loc: list[Any], subpath: str) -> str:
    path = ""
    for i, el in enumerate(loc):
        if isinstance(el, str) and el.startswith("[") and el.endswith("]"):
            continue  # pydantic's marker for "the key of a mapping": the element before is that key
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


def _allowed_names(loc: list[Any], root: type[BaseModel], qualify: Callable[[str], str]) -> list[str]:
    """The keys of the model at ``loc`` (qualified at the root of a stack)."""
    model: Any = root
    for el in loc:
        if isinstance(el, int) or model is None:
            model = _inner(model)
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(el) or next(
            (f for f in model.model_fields.values() if f.alias == el), None)
        model = _inner(field.annotation) if field else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    names = [f.alias or n for n, f in model.model_fields.items()]
    if model is root:
        names = [qualify(n) for n in names]
    return names


def _inner(annotation: Any) -> Any:
    """The model inside ``list[Model]``, ``Model | None``, or the model itself."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner(arg)
        if found is not None:
            return found
    return None

