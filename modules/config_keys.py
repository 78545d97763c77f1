"""Keys outside ``gpufleet:``: a stack file may hold only the keys Pulumi would give this
program (``gpufleet:``, the AWS and Kubernetes providers' own keys, a few ``pulumi:`` keys);
anything else is an error, a near-miss of a known key names the key it resembles.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import re
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel

from .schema.stack import StackConfig


from .config_errors import NS, PROJECT, REGION_KEY, ConfigError, _inner, _one_line, _qualify, _Shown, excerpt

#: Config keys of the ``pulumi:`` namespace the Pulumi engine reads.
PULUMI_KEYS = ("disable-default-providers", "autonaming")


# ---------------------------------------------------------------- keys outside gpufleet:

@lru_cache(maxsize=1)
def _provider_key_table() -> dict[str, frozenset[str] | None]:
    """Namespace -> the config keys its reader knows: the Pulumi engine's, and those of the
    installed provider SDKs, read from their generated source without importing them
    (None when an SDK is not installed: its keys cannot be judged)."""
    def source(package: str, relative: str) -> str | None:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        try:
            return (Path(next(iter(spec.submodule_search_locations))) / relative).read_text(encoding="utf-8")
        except OSError:
            return None

    table: dict[str, frozenset[str] | None] = {"pulumi": frozenset(PULUMI_KEYS)}
    aws = source("pulumi_aws", "config/vars.py")
    table["aws"] = frozenset(re.findall(r"__config__\.get\w*\('(\w+)'\)", aws)) | {"region"} if aws else None
    k8s = source("pulumi_kubernetes", "provider.py")
    table["kubernetes"] = (frozenset(re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k)
                                     for k in re.findall(r'__props__\.__dict__\["(\w+)"\]', k8s)) if k8s else None)
    return table


def _key_problems(raw_config: Mapping[str, Any], source: str) -> list[ConfigError]:
    bad: list[tuple[Any, str | None]] = []
    for key in raw_config:
        if not isinstance(key, str):
            bad.append((key, None))
            continue
        ns, sep, name = key.partition(":")
        if sep and ns == PROJECT and name != "region":
            continue  # gpufleet:<section>: the model decides
        table = _provider_key_table()
        if sep and ns in table:
            known = table[ns]
            if known is None or name in known:  # None: the provider's SDK is not installed
                continue
            bad.append((key, ns))
        else:
            bad.append((key, None))
    problems = []
    for i, (key, provider) in enumerate(bad):
        # a key of a namespace gpufleet knows is shown whole (a key path); any other key only as
        # its excerpt: it may be file content that is no key at all (a token)
        known_ns = provider is not None or str(key).partition(":")[0] == PROJECT
        shown = _one_line(key if known_ns else excerpt(str(key)), 200)
        if i:  # only the first is reported: no suggestions to compute for the others
            problems.append(ConfigError(source, shown, None, ""))
            continue
        text = _one_line(shown, 100)
        if provider == "pulumi":
            expected = f"a key the Pulumi engine reads: {', '.join('pulumi:' + k for k in PULUMI_KEYS)}"
        elif provider:
            expected = f"a configuration key of the {provider} provider (its SDK's config keys)"
        else:
            expected = ("a key in a namespace this stack's program reads: gpufleet:<section>, "
                        "aws:<AWS provider key>, kubernetes:<Kubernetes provider key>")
        near = _nearest(str(key)[:200])
        problems.append(ConfigError(source, shown, _Shown(f"unknown key '{text}'"),
                                    expected + (f" (did you mean '{near}'?)" if near else "")))
    return problems


@lru_cache(maxsize=1)
def _top_keys() -> tuple[str, ...]:
    keys = [NS + (f.alias or n) for n, f in StackConfig.model_fields.items() if n != "region"] + [REGION_KEY]
    for ns, names in _provider_key_table().items():
        keys += [f"{ns}:{k}" for k in sorted(names or ()) if f"{ns}:{k}" != REGION_KEY]
    return tuple(keys)


@lru_cache(maxsize=1)
def _leaf_paths() -> dict[str, str]:
    """Every key name of the model -> its first full path (``budget_usd`` -> ``gpufleet:cost.budget_usd``)."""
    out: dict[str, str] = {}
    todo: list[tuple[type[BaseModel], str]] = [(StackConfig, "")]
    seen: set[type] = set()
    while todo:
        model, prefix = todo.pop(0)
        if model in seen:
            continue
        seen.add(model)
        for n, f in model.model_fields.items():
            name = f.alias or n
            path = _qualify(f"{prefix}.{name}" if prefix else name)
            out.setdefault(name, path)
            inner = _inner(f.annotation)
            if inner is not None:
                todo.append((inner, path[len(NS):] if path.startswith(NS) else name))
    return out


def _nearest(key: str) -> str | None:
    """The known key ``key`` resembles: a top-level key, else a key of the model by its last name."""
    found = difflib.get_close_matches(key, _top_keys(), 1, 0.8)
    if found:
        return found[0]
    name = re.split(r"[:.]", key)[-1]
    leaves = _leaf_paths()
    found = difflib.get_close_matches(name, list(leaves), 1, 0.7)
    if found:
        return leaves[found[0]]
    found = difflib.get_close_matches(key, _top_keys(), 1, 0.6)
    return found[0] if found else None


def _did_you_mean(key: str, choices: typing.Iterable[str]) -> str:
    found = difflib.get_close_matches(key[:200], list(choices), 1, 0.6)
    return f" (did you mean '{found[0]}'?)" if found else ""


def _non_finite(raw_config: Mapping[str, Any], source: str) -> list[ConfigError]:
    """``.nan``, ``.inf``: no setting takes them (and every bound check passes a NaN)."""
    out: list[ConfigError] = []
    seen: set[int] = set()

    def walk(value: Any, path: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            shown = ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
            out.append(ConfigError(source, path, _Shown(shown), "a finite number"))
        elif isinstance(value, (dict, list)) and id(value) not in seen:
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                walk(v, f"{path}[{k}]" if isinstance(value, list) else f"{path}.{k}")

    for key, value in raw_config.items():
        if isinstance(key, str) and (key.startswith(NS) or key == REGION_KEY):
            walk(value, key)
    return out


