"""The one place that reads stack configuration, and the one reader of user files.

``load()`` is what the Pulumi program calls: it reads the stack's ``gpufleet:*`` keys
(and ``aws:region``) from Pulumi config, validates them and returns the typed model, once
per stack. ``from_file()`` does the same from a ``stacks/Pulumi.<stack>.yaml`` file, for the
CLI, which must reject a bad stack before it declares any resource.

Validation has two layers, and :func:`validate` is the one function that runs both (every
path from a stack's dict to a :class:`StackConfig` goes through it): the field rules of
:class:`modules.schema.stack.StackConfig` (parse and type), then the checks that need
derived figures, :func:`modules.checks.run` (spend vs budget and ceilings, quotas vs
capacity, timeouts vs provisioning, the system pool's fit). :func:`check` runs the second
layer on a config built in Python.

Every file the CLI reads from a user (stack files, the fleet file, plan JSON) goes through
:func:`read_text_file` (bounded size, a regular file, UTF-8), then :func:`read_yaml_file`
(one document, no duplicate keys, no YAML tags, bounded nesting and alias expansion; the
libyaml parser when installed, the pure-Python one otherwise, with the same checks) or
:func:`read_json_file`.

Every failure becomes one :class:`ConfigError` whose message names the file, the key
path, the value given and what is allowed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from . import checks
from .schema.stack import StackConfig

from .config_errors import (NS, PROJECT, REGION_KEY, ConfigError, Shown, Verbatim, _MISSING, _error_path,  # noqa: F401
                            _one_line, _qualify, _Shown, _to_config_error, error_from_validation, excerpt)
from .config_keys import PULUMI_KEYS, _did_you_mean, _key_problems, _non_finite  # noqa: F401
from .user_files import (_LOADERS, MAX_DEPTH, MAX_INT_DIGITS, MAX_JSON_BYTES, MAX_VALUES,  # noqa: F401
                         MAX_YAML_BYTES, YAML_LOADER, check_file, decode_text, parse_yaml, read_json_file,
                         read_text_file, read_yaml_file, shown_path)

#: The stack files' folder of this repository's project (``stackConfigDir`` in its Pulumi.yaml).
#: The CLI reads the user's project instead (:mod:`gpufleet.project`), never this package's folder;
#: so does :func:`load` (:func:`program_source`), which names this folder only outside any project.
STACKS_DIR = "stacks"
#: The top-level keys of a Pulumi stack file (Pulumi's ``workspace.ProjectStack``).
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")


# ---------------------------------------------------------------- stack files

def stack_file(stack: str, root: Path | None = None, *, stacks_dir: Path | None = None) -> Path:
    """``<stacks_dir>/Pulumi.<stack>.yaml`` (default ``<root>/stacks``, ``root`` the current
    directory). A ``stack`` that is a path (a directory, or with a slash) is not a stack name:
    a ConfigError naming that path."""
    directory = stacks_dir if stacks_dir is not None else (root or Path.cwd()) / STACKS_DIR
    file = Path(directory) / f"Pulumi.{stack}.yaml"
    given = Path(stack)
    if "/" in stack or os.sep in stack or "\0" in stack or (stack != "" and given.is_dir()
                                                             and not file.is_file()):
        read_text_file(given, "stack file (a stack name, or a path to a Pulumi.<stack>.yaml file)")
    return file


def read_stack_file(path: Path, shown: str | None = None) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file, with values parsed from YAML."""
    source = shown or str(path)
    doc = read_yaml_file(path, "stack file", shown=source, key_root="config")
    if doc is None:  # an empty file
        doc = {}
    if isinstance(doc, dict):
        for key in doc:
            if key not in STACK_FILE_KEYS:
                # every top-level key of a stack file is a short word: an unknown one shows its excerpt
                # only (the file may be a token's, e.g. through a symlink)
                short = _one_line(excerpt(str(key)), 100)
                raise ConfigError(source, short, _Shown(f"unknown top-level key '{short}'"),
                                  f"a top-level key of a Pulumi stack file: {', '.join(STACK_FILE_KEYS)}"
                                  f"{_did_you_mean(str(key), STACK_FILE_KEYS)}")
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        given = doc.get("config", _MISSING) if isinstance(doc, dict) else doc
        raise ConfigError(source, "config", given, "a mapping under the top-level key 'config'")
    return doc["config"]


def from_file(path: Path, display: str | None = None) -> tuple[StackConfig, dict[str, Any]]:
    """Validated config and the raw Pulumi config of a stack file (``Pulumi.<stack>.yaml``:
    the stack's name must say the environment the file declares)."""
    raw = read_stack_file(path, display)
    source = display or str(path)
    name = Path(path).name
    stack = name.removeprefix("Pulumi.").rsplit(".", 1)[0] if name.startswith("Pulumi.") else None
    if stack is not None:  # the name first: what it becomes (physical names) and what it says
        from . import physical_names

        region = raw.get(REGION_KEY)
        physical_names.check_stack(stack, region if isinstance(region, str) else None, source)
        declared = raw.get(f"{NS}environment")
        check_environment(stack, declared if isinstance(declared, str) else None, source)
    cfg = validate(raw, source)
    if stack is not None:
        check_environment(stack, cfg, source)
    return cfg, raw


def check_environment(stack: str, cfg: StackConfig | str | None, source: str) -> None:
    """The stack's name decides its environment (``modules.environments``): a file that
    declares another gets neither that environment's allowances nor its approvals."""
    from .environments import NAME_RULE, environment_of

    env = environment_of(stack)
    if env is None:
        raise ConfigError(source, "stack name", Verbatim(stack), NAME_RULE)  # a file name, not its content
    declared = cfg if isinstance(cfg, str) or cfg is None else cfg.environment
    if declared is not None and env != declared:
        raise ConfigError(source, f"{NS}environment", declared,
                          f"'{env}', the environment the stack name '{stack}' says (the name decides: rename the "
                          f"stack to change its environment)")


def sections(raw_config: Mapping[str, Any]) -> dict[str, Any]:
    """Turn Pulumi config (``{"gpufleet:network": {...}, "aws:region": ...}``) into model input."""
    data = {k[len(NS):]: v for k, v in raw_config.items() if isinstance(k, str) and k.startswith(NS)}
    if REGION_KEY in raw_config:
        data["region"] = raw_config[REGION_KEY]
    return data


def program_config(raw_config: Mapping[str, Any]) -> dict[str, str]:
    """The keys the program reads (``gpufleet:*``, ``aws:region``), as Pulumi passes config: strings."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw_config.items()
            if isinstance(k, str) and (k.startswith(NS) or k == REGION_KEY)}


def validate(raw_config: Mapping[str, Any], source: str) -> StackConfig:
    """Validate raw Pulumi config; raise :class:`ConfigError` naming ``source`` on failure.

    Keys outside the namespaces Pulumi would give this program (``gpufleet:``, the AWS and
    Kubernetes providers' own keys, ``pulumi:``) are errors, and so are non-finite numbers;
    then the model's field rules, then (on a config that types) the checks layer
    (:mod:`modules.checks`). The first problem is reported, the others counted."""
    problems = _key_problems(raw_config, source) + _non_finite(raw_config, source)
    errors: list[Any] = []
    failed: ConfigError | None = None
    try:
        config = StackConfig.model_validate(sections(raw_config))
    except ValidationError as exc:
        errors = exc.errors()
    else:
        failed = _failed_check(config, source)
    if not problems and not errors and failed is None:
        return config
    reported = {p.key_path for p in problems}
    others = [e for e in errors if _qualify(_error_path(e)) not in reported]
    failed = failed if failed is not None and failed.key_path not in reported else None
    if problems:
        first = problems[0]
    elif others:
        first = _to_config_error(others[0], source, 0)
    else:
        assert failed is not None
        first = failed
    first.more = len(problems) + len(others) + (failed is not None) - 1
    raise ConfigError(first.source, first.key_path, first.given, first.expected, first.more)


def check(cfg: StackConfig, source: str = "<python>") -> StackConfig:
    """Run the checks layer (:mod:`modules.checks`) on a config already typed, e.g. one a
    program builds in Python rather than reads from a stack file; return it, or raise the
    one-line :class:`ConfigError` naming ``source`` that a stack file would get."""
    failed = _failed_check(cfg, source)
    if failed is not None:
        raise failed
    return cfg


def _failed_check(cfg: StackConfig, source: str) -> ConfigError | None:
    """The first failing check of ``cfg`` as a ConfigError (the key path qualified as in a stack file)."""
    try:
        checks.run(cfg)
    except checks.CheckFailed as exc:
        return ConfigError(source, _qualify(exc.path), exc.given, exc.expected)
    return None


_loaded: dict[str, StackConfig] = {}


def program_source(stack: str, start: Path | None = None) -> str:
    """How a running program's messages name ``stack``'s file: where Pulumi reads it. Pulumi
    runs the program in its project (the directory of ``Pulumi.yaml``, or below it when
    ``main`` says so), and the stack file is in the project's ``stackConfigDir`` or, without
    one, next to ``Pulumi.yaml``: the project found from ``start`` (default: the current
    directory) as the CLI finds it (:func:`gpufleet.project.find`), the file shown relative to
    the project. ``<STACKS_DIR>/Pulumi.<stack>.yaml`` only outside any project."""
    from gpufleet import project  # the one reader of Pulumi.yaml (no Pulumi, no CLI command, imported)

    try:
        found = project.find_optional(start)
    except (ConfigError, OSError):  # a Pulumi.yaml Pulumi itself would have refused
        found = None
    if found is None:
        return f"{STACKS_DIR}/Pulumi.{stack}.yaml"
    return found.shown(found.stack_file(stack))


def load(source: str | None = None) -> StackConfig:
    """The current stack's validated config (read from Pulumi config once per stack). A bad
    config is one :class:`PlatformConfigError` line (a :class:`ConfigError` and a
    ``pulumi.RunError``: Pulumi prints it without a traceback) naming ``source``, by default
    the stack's file in the current project (:func:`program_source`)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    from .config_errors import PlatformConfigError

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
        shown = source if source is not None else program_source(stack)
        try:
            cfg = validate(raw, shown)
            check_environment(stack, cfg, shown)
        except ConfigError as exc:
            raise PlatformConfigError.of(exc) from None
        _loaded[stack] = cfg
    return _loaded[stack]


def forget() -> None:
    """Drop cached configs (a process that renders several stacks, e.g. tests)."""
    _loaded.clear()


