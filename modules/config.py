"""The one place that reads stack configuration, and the one reader of user files.

``load()`` is what the Pulumi program calls: it reads the stack's ``gpufleet:*`` keys
(and ``aws:region``) from Pulumi config, validates them against
:class:`modules.schema.stack.StackConfig` and returns the typed model, once per stack.
``from_file()`` does the same from a ``stacks/Pulumi.<stack>.yaml`` file, for the CLI,
which must reject a bad stack before it declares any resource.

Every file the CLI reads from a user (stack files, the fleet file, plan JSON) goes through
:func:`read_text_file` (bounded size, a regular file, UTF-8), then :func:`read_yaml_file`
(one document, no duplicate keys, no YAML tags, bounded nesting and alias expansion; the
libyaml parser when installed, the pure-Python one otherwise, with the same checks) or
:func:`read_json_file`.

Every failure becomes one :class:`ConfigError` whose message names the file, the key
path, the value given and what is allowed.
"""

from __future__ import annotations

import difflib
import importlib.util
import ipaddress
import json
import math
import os
import re
import stat
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError

from .schema.stack import StackConfig

PROJECT = "gpufleet"
NS = f"{PROJECT}:"
REGION_KEY = "aws:region"
STACKS_DIR = "stacks"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: What a user file may make the tool do.
MAX_YAML_BYTES = 1 << 20       # a stack or fleet file (the shipped ones are about 4 KB)
MAX_JSON_BYTES = 4 << 20       # a plan from `gpufleet plan --json` (prod's is about 350 KB)
MAX_DEPTH = 64                 # nesting levels of a YAML or JSON document
MAX_INT_DIGITS = 100           # digits of an integer in YAML
#: values (scalars, lists, mappings) of a YAML document, aliases expanded: bounds the work of
#: every later step (prod's stack has about 250)
MAX_VALUES = 10_000
#: The top-level keys of a Pulumi stack file (Pulumi's ``workspace.ProjectStack``).
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
#: Config keys of the ``pulumi:`` namespace the Pulumi engine reads.
PULUMI_KEYS = ("disable-default-providers", "autonaming")


class ConfigError(Exception):
    """A stack file that does not validate. ``str()`` is the one-line message for users."""

    def __init__(self, source: str, key_path: str, given: Any, expected: str, more: int = 0):
        self.source, self.key_path, self.given, self.expected, self.more = source, key_path, given, expected, more
        super().__init__(str(self))

    def __str__(self) -> str:
        tail = f" (and {self.more} more problem{'s' if self.more > 1 else ''})" if self.more else ""
        return (f"{_one_line(self.source, 300)}: {_one_line(self.key_path, 200)}: got {_show(self.given)}; "
                f"expected {_one_line(self.expected, 1000)}{tail}")


class _Shown(str):
    """A given value that is already phrased for the message (e.g. ``unknown key 'x'``)."""


Shown = _Shown


_MISSING = object()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: Any, limit: int) -> str:
    """``text`` cut to ``limit`` characters, control characters (newlines) escaped."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _show(value: Any, limit: int = 100) -> str:
    """A value as the message shows it: JSON-like, at most ``limit`` characters, computed
    without serialising more of the value than it shows (a value may be huge or shared)."""
    if isinstance(value, _Shown):
        return _one_line(value, 300)
    if value is _MISSING:
        return "nothing (the key is missing)"
    if isinstance(value, str):
        text = repr(value[: limit + 1])
    else:
        parts: list[str] = []
        _emit(value, parts, [limit + 1])
        text = "".join(parts)
    return _one_line(text if len(text) <= limit else text[: limit - 3] + "...", limit)


def _emit(value: Any, out: list[str], budget: list[int]) -> None:
    """Append JSON-like text of ``value`` to ``out`` until ``budget[0]`` characters are used."""

    def put(text: str) -> bool:
        out.append(text)
        budget[0] -= len(text)
        return budget[0] > 0

    if budget[0] <= 0:
        return
    if isinstance(value, Mapping):
        if not put("{"):
            return
        for i, (k, v) in enumerate(value.items()):
            key = k[: budget[0]] if isinstance(k, str) else _scalar(k, budget[0])
            if not put((", " if i else "") + json.dumps(key) + ": "):
                return
            _emit(v, out, budget)
            if budget[0] <= 0:
                return
        put("}")
    elif isinstance(value, (list, tuple, set, frozenset)):
        if not put("["):
            return
        for i, v in enumerate(value):
            if i and not put(", "):
                return
            _emit(v, out, budget)
            if budget[0] <= 0:
                return
        put("]")
    else:
        put(_scalar(value, budget[0]))


def _scalar(value: Any, limit: int) -> str:
    if isinstance(value, str):
        return json.dumps(value[:limit])
    if value is None or isinstance(value, (bool, float)):
        return json.dumps(value)
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than Python converts
            return "(an integer of thousands of digits)"
    return str(value)[:limit]


# ---------------------------------------------------------------- reading user files

def shown_path(path: Path | str) -> str:
    """How messages name a file the tool found itself: relative to the project when inside
    it (``stacks/Pulumi.dev.yaml``), else the path as it was found."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except (ValueError, OSError, RuntimeError):
        return str(path)


def _size(n: int) -> str:
    return f"{n >> 20} MiB ({n:,} bytes)" if n % (1 << 20) == 0 else f"{n:,} bytes"


def check_file(path: Path | str, noun: str, *, shown: str | None = None, limit: int = MAX_YAML_BYTES) -> None:
    """A ConfigError unless ``path`` is a regular file of at most ``limit`` bytes (nothing is
    opened: a FIFO or a device cannot block or flood the tool)."""
    _stat(Path(path), shown or str(path), noun, limit)


def _stat(path: Path, source: str, noun: str, limit: int) -> None:
    def error(key_path: str, given: str, expected: str) -> ConfigError:
        return ConfigError(source, key_path, _Shown(given), expected)

    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise error("(file)", "no such file", f"an existing {noun}") from None
    except OSError as exc:
        raise error("(file)", f"a path that cannot be read ({exc.strerror or exc})", f"a readable {noun}") from None
    except ValueError:  # a NUL character in the path
        raise error("(file)", "a path with a NUL character", f"the path of a {noun}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error("(file)", "a directory", f"a {noun}, not a directory")
    if not stat.S_ISREG(st.st_mode):
        raise error("(file)", "a special file (a device, pipe or socket)", f"a regular {noun}")
    if st.st_size > limit:
        raise error("(file)", f"a file of {st.st_size:,} bytes", f"a {noun} of at most {_size(limit)}")


def read_text_file(path: Path | str, noun: str, *, shown: str | None = None, limit: int = MAX_YAML_BYTES) -> str:
    """The text of a user file (``noun``: "stack file"), or a ConfigError: missing, a
    directory or device, unreadable, larger than ``limit``, or not UTF-8."""
    source = shown or str(path)
    path = Path(path)

    def error(key_path: str, given: str, expected: str) -> ConfigError:
        return ConfigError(source, key_path, _Shown(given), expected)

    _stat(path, source, noun, limit)
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error("(file)", f"a file that cannot be read ({exc.strerror or exc})", f"a readable {noun}") from None
    if len(data) > limit:
        raise error("(file)", f"a file of more than {limit:,} bytes", f"a {noun} of at most {_size(limit)}")
    return decode_text(data, source, noun)


def decode_text(data: bytes, source: str, noun: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped), or a ConfigError naming the line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise ConfigError(source, f"line {line}", _Shown(f"a byte that is not UTF-8 (0x{data[exc.start]:02x} at column {column})"),
                          f"a {noun} in UTF-8 text") from None
    return text.removeprefix("\ufeff")


def _str_constructor(loader: Any, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


class _PythonLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader with a nesting limit, as libyaml has one (its scanner
    looks ahead over every open ``[``: without a limit, deep nesting costs quadratic time)."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError("while increasing flow level", None, "exceeded maximum nesting depth",
                                            self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_DEPTH:
            raise yaml.scanner.ScannerError("while increasing indentation", None, "exceeded maximum nesting depth",
                                            self.get_mark())
        return super().add_indent(column)


_LOADERS: dict[str, type] = {"python": _PythonLoader}
if getattr(yaml, "__with_libyaml__", False):
    class _LibyamlLoader(yaml.CSafeLoader):
        """libyaml's parser (C) with PyYAML's safe constructor: the same values, much faster."""

    _LOADERS["libyaml"] = _LibyamlLoader

for _cls in _LOADERS.values():
    # As Pulumi (Go yaml.v3) reads them into config: a date stays the string it is written as.
    _cls.add_constructor("tag:yaml.org,2002:timestamp", _str_constructor)
    _cls.add_constructor("tag:yaml.org,2002:value", _str_constructor)

#: The YAML parser in use: "libyaml" when PyYAML was built with it, else "python".
YAML_LOADER = "libyaml" if "libyaml" in _LOADERS else "python"

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp", "value", "merge")}
_PLAIN = "plain YAML values (strings, numbers, true/false, null, lists, mappings) without tags"


def parse_yaml(text: str, source: str, noun: str, *, key_root: str | None = None, loader: str | None = None) -> Any:
    """One YAML document: composed and checked by :func:`_compose`, then built by PyYAML's
    safe constructor (plain values only)."""
    try:
        parser = _LOADERS[loader or YAML_LOADER](text)  # the pure-Python reader checks the characters here
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source, noun) from None
    try:
        node = _compose(parser, source, noun, key_root)
        return None if node is None else parser.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source, noun) from None
    finally:
        parser.dispose()


def read_yaml_file(path: Path | str, noun: str, *, shown: str | None = None, key_root: str | None = None) -> Any:
    """The one YAML document of a user file; ConfigError for anything wrong with it."""
    source = shown or str(path)
    return parse_yaml(read_text_file(path, noun, shown=source), source, noun, key_root=key_root)


def read_json_file(path: Path | str, noun: str, *, shown: str | None = None) -> Any:
    """The JSON document of a user file (at most 4 MiB, nested at most 64 levels)."""
    source = shown or str(path)
    text = read_text_file(path, noun, shown=source, limit=MAX_JSON_BYTES)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, f"line {exc.lineno}", _Shown(f"invalid JSON: {exc.msg} (column {exc.colno})"),
                          "valid JSON") from None
    except RecursionError:
        raise _too_deep(source, "(file)", noun) from None
    if _json_too_deep(text):
        raise _too_deep(source, "(file)", noun)
    return doc


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def _json_too_deep(text: str) -> bool:
    """Valid JSON ``text`` nests deeper than MAX_DEPTH: its brackets (strings removed) do not
    vanish in MAX_DEPTH rounds of removing the innermost pairs (regex passes, not a walk of
    the values: a million empty lists cost no more than one)."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(MAX_DEPTH):
        if not brackets:
            return False
        brackets = _INNERMOST.sub("", brackets)
    return bool(brackets)


def _too_deep(source: str, where: str, noun: str) -> ConfigError:
    return ConfigError(source, where, _Shown(f"values nested more than {MAX_DEPTH} levels deep"),
                       f"a {noun} nested at most {MAX_DEPTH} levels")


def _tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _compose(parser: Any, source: str, noun: str, key_root: str | None) -> yaml.Node | None:
    """Build the node graph of the one document from the parser's events, without recursion,
    refusing as soon as it is seen: more than MAX_VALUES values, aliases counted as the
    values they stand for (a "billion laughs" stops at its first aliases, before anything is
    expanded); nesting deeper than MAX_DEPTH; an alias inside its own anchor; a key given
    twice in a mapping (at any level: Pulumi refuses them too); a key that is a list or
    mapping; YAML tags other than the plain ones; huge integers. The work is bounded by
    MAX_VALUES whatever the text, and the same with either parser."""
    events = yaml.events

    def fail(mark: Any, given: str, expected: str) -> ConfigError:
        return ConfigError(source, f"line {mark.line + 1}", _Shown(given), expected)

    def check_tag(tag: str, kind: str, mark: Any) -> None:
        if tag != _TAG + kind and (kind != "scalar" or tag not in _SCALAR_TAGS):
            raise fail(mark, f"the YAML tag {_tag(tag)}", _PLAIN)

    parser.get_event()  # stream start
    if parser.check_event(events.StreamEndEvent):
        return None
    parser.get_event()  # document start
    anchors: dict[str, yaml.Node] = {}
    sizes: dict[int, int] = {}   # a finished collection -> values it holds once aliases are expanded
    open_nodes: set[int] = set()
    # one frame per open collection: [node, path, size, pending key node, {key: line}]
    stack: list[list[Any]] = []
    root: yaml.Node | None = None
    values = added = 0
    while root is None or stack:
        event = parser.get_event()
        if isinstance(event, (events.SequenceEndEvent, events.MappingEndEvent)):
            frame = stack.pop()
            frame[0].end_mark = event.end_mark
            open_nodes.discard(id(frame[0]))
            sizes[id(frame[0])] = frame[2]
            if stack:
                stack[-1][2] += frame[2]
            continue
        values += 1
        node: yaml.Node
        if isinstance(event, events.AliasEvent):
            if event.anchor not in anchors:
                raise fail(event.start_mark, f"the alias *{_one_line(event.anchor, 60)} before any anchor "
                                             f"&{_one_line(event.anchor, 60)}", "an alias after its anchor")
            node = anchors[event.anchor]
            if id(node) in open_nodes:
                raise fail(event.start_mark, "an alias to a value that contains it (the anchor at line "
                                             f"{node.start_mark.line + 1})", "a value that does not contain itself")
            size = sizes.get(id(node), 1)
            added += size - 1
            if values + added > MAX_VALUES:  # a "billion laughs" stops here, before anything is expanded
                raise fail(event.start_mark, f"aliases that expand it to more than {MAX_VALUES:,} values (this "
                                             f"*{_one_line(event.anchor, 60)}: {size:,} values, anchored at line "
                                             f"{node.start_mark.line + 1})",
                           f"a {noun} of at most {MAX_VALUES:,} values, aliases (*name) expanded")
            opens = False
        elif values + added > MAX_VALUES:
            raise fail(event.start_mark, f"more than {MAX_VALUES:,} values" + (" (aliases expanded)" if added else ""),
                       f"a {noun} of at most {MAX_VALUES:,} values")
        elif isinstance(event, events.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = parser.resolve(yaml.ScalarNode, event.value, event.implicit)
            check_tag(tag, "scalar", event.start_mark)
            if tag == _TAG + "int" and len(event.value) > MAX_INT_DIGITS:
                raise fail(event.start_mark, f"an integer of {len(event.value):,} characters",
                           f"a number of at most {MAX_INT_DIGITS} digits")
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            size, opens = 1, False
        elif isinstance(event, (events.SequenceStartEvent, events.MappingStartEvent)):
            seq = isinstance(event, events.SequenceStartEvent)
            cls = yaml.SequenceNode if seq else yaml.MappingNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = parser.resolve(cls, None, event.implicit)
            check_tag(tag, "seq" if seq else "map", event.start_mark)
            if len(stack) >= MAX_DEPTH:
                raise _too_deep(source, f"line {event.start_mark.line + 1}", noun)
            node = cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
            size, opens = 0, True  # its size is added to its parent's when it ends
        else:  # pragma: no cover - the parser yields nothing else inside a document
            raise fail(event.start_mark, f"an unexpected {type(event).__name__}", "valid YAML")
        if getattr(event, "anchor", None) is not None and not isinstance(event, events.AliasEvent):
            anchors[event.anchor] = node
        path: list[Any] = []
        if node.tag == _TAG + "merge" and not (stack and isinstance(stack[-1][0], yaml.MappingNode)
                                               and stack[-1][3] is None):
            node.tag = _TAG + "str"  # `<<` anywhere but as a key is the string "<<"
        if not stack:
            root = node
        else:
            parent = stack[-1]
            parent[2] += size
            if isinstance(parent[0], yaml.SequenceNode):
                path = parent[1] + [len(parent[0].value)]
                parent[0].value.append(node)
            elif parent[3] is None:  # a key
                if node.tag == _TAG + "merge":
                    parent[3] = node  # `<<: *base`: keys written here override the merged ones
                elif not isinstance(node, yaml.ScalarNode):
                    raise fail(event.start_mark, "a list or mapping used as a key", "a plain key (a name)")
                else:
                    key = node.value if node.tag == _TAG + "str" else parser.construct_object(node)
                    if key in parent[4]:
                        where = _path_text(parent[1] + [key], key_root)
                        raise fail(event.start_mark, f"duplicate key '{where}' (first at line {parent[4][key]})",
                                   "each key once")
                    parent[4][key] = event.start_mark.line + 1
                    parent[3] = node
                continue
            else:
                key_node = parent[3]
                path = parent[1] + [key_node.value]
                parent[0].value.append((key_node, node))
                parent[3] = None
        if opens:
            stack.append([node, path, 1, None, {}])
            open_nodes.add(id(node))
    parser.get_event()  # document end
    if not parser.check_event(events.StreamEndEvent):
        event = parser.get_event()
        raise fail(event.start_mark, "a second YAML document (after ---)", f"a {noun} of one document")
    return root


def _path_text(path: list[Any], key_root: str | None = None) -> str:
    if key_root is not None and len(path) > 1 and path[0] == key_root:
        path = path[1:]
    text = ""
    for el in path:
        text += f"[{el}]" if isinstance(el, int) and not isinstance(el, bool) else (f".{el}" if text else str(el))
    return _one_line(text, 200)


_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]")


def _yaml_error(exc: yaml.YAMLError, text: str, source: str, noun: str) -> ConfigError:
    if isinstance(exc, yaml.reader.ReaderError):
        bad = _NON_PRINTABLE.search(text)
        line = text.count("\n", 0, bad.start()) + 1 if bad else 1
        char = f"U+{ord(bad.group()):04X}" if bad else "a character"
        return ConfigError(source, f"line {line}", _Shown(f"the control character {char}"),
                           "printable text (valid YAML)")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    where = f"line {mark.line + 1}" if mark is not None else "(file)"
    if "nesting depth" in problem:
        return _too_deep(source, where, noun)
    column = f" (column {mark.column + 1})" if mark is not None else ""
    return ConfigError(source, where, _Shown(f"invalid YAML: {problem}{column}"), "valid YAML")


# ---------------------------------------------------------------- stack files

def stack_file(stack: str, root: Path | None = None) -> Path:
    """``stacks/Pulumi.<stack>.yaml``. A ``stack`` that is a path (a directory, or with a
    slash) is not a stack name: a ConfigError naming that path."""
    file = (root or Path.cwd()) / STACKS_DIR / f"Pulumi.{stack}.yaml"
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
                raise ConfigError(source, _one_line(key, 200), _Shown(f"unknown top-level key '{_one_line(key, 100)}'"),
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
        raise ConfigError(source, "stack name", stack, NAME_RULE)
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
    then the model's rules. The first problem is reported, the others counted."""
    problems = _key_problems(raw_config, source) + _non_finite(raw_config, source)
    errors: list[Any] = []
    try:
        config = StackConfig.model_validate(sections(raw_config))
    except ValidationError as exc:
        errors = exc.errors()
    if not problems and not errors:
        return config
    reported = {p.key_path for p in problems}
    others = [e for e in errors if _qualify(_error_path(e)) not in reported]
    first = problems[0] if problems else _to_config_error(others[0], source, 0)
    first.more = len(problems) + len(others) - 1
    raise ConfigError(first.source, first.key_path, first.given, first.expected, first.more)


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
            source = f"{STACKS_DIR}/Pulumi.{stack}.yaml"
            _loaded[stack] = validate(raw, source)
            check_environment(stack, _loaded[stack], source)
        except ConfigError as exc:
            raise pulumi.RunError(str(exc)) from None
    return _loaded[stack]


def forget() -> None:
    """Drop cached configs (a process that renders several stacks, e.g. tests)."""
    _loaded.clear()


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
        if i:  # only the first is reported: no suggestions to compute for the others
            problems.append(ConfigError(source, _one_line(key, 200), None, ""))
            continue
        text = _one_line(key, 100)
        if provider == "pulumi":
            expected = f"a key the Pulumi engine reads: {', '.join('pulumi:' + k for k in PULUMI_KEYS)}"
        elif provider:
            expected = f"a configuration key of the {provider} provider (its SDK's config keys)"
        else:
            expected = ("a key in a namespace this stack's program reads: gpufleet:<section>, "
                        "aws:<AWS provider key>, kubernetes:<Kubernetes provider key>")
        near = _nearest(str(key)[:200])
        problems.append(ConfigError(source, _one_line(key, 200), _Shown(f"unknown key '{text}'"),
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
