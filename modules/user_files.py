"""The one reader of user files: stack files, the fleet file, plan JSON.

:func:`read_text_file` (bounded size, a regular file, UTF-8), then :func:`read_yaml_file`
(one document, no duplicate keys, no YAML tags, bounded nesting and alias expansion; the
libyaml parser when installed, the pure-Python one otherwise, with the same checks) or
:func:`read_json_file`. Every failure is one :class:`~modules.config_errors.ConfigError`.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from .config_errors import ConfigError, _Shown
from .json_depth import json_too_deep
from .parse_problems import kind_of_problem, name_note, name_text, path_text, tag_note, tag_text

#: What a user file may make the tool do.
MAX_YAML_BYTES = 1 << 20       # a stack or fleet file (the shipped ones are about 4 KB)
MAX_JSON_BYTES = 4 << 20       # a plan from `gpufleet plan --json` (prod's is about 350 KB)
MAX_DEPTH = 64                 # nesting levels of a YAML or JSON document
MAX_INT_DIGITS = 100           # digits of an integer in YAML
#: values (scalars, lists, mappings) of a YAML document, aliases expanded: bounds the work of
#: every later step (prod's stack has about 250)
MAX_VALUES = 10_000


# ---------------------------------------------------------------- reading user files

def shown_path(path: Path | str) -> str:
    """How messages name a file the tool found itself: relative to the current directory when
    inside it (``stacks/Pulumi.dev.yaml`` from the project's root), else the path as it was
    found (never relative to where gpufleet is installed)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
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
    return UserText(decode_text(data, source, noun), source)


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

#: Why a stack file may not use YAML merge keys (``<<``): the readers of a stack file disagree
#: on them. ``<<: [{max: 400}, {max: 2}]`` is 400 in YAML 1.1 and ruamel (the first mapping
#: wins; ``replicate``, ``init`` and ``--set`` edit stack files with ruamel) but 2 in PyYAML
#: (``plan``, ``check``, ``cost``...), and Pulumi (Go yaml.v3) has its own reading, so a merge
#: could plan one size and deploy another. Refused with the line in every reader.
MERGE_KEYS_RULE = ("each key written out: merge keys are not allowed in a stack file (YAML readers disagree on "
                   "which merged value wins: PyYAML, ruamel and Pulumi could each read another size)")


class UserText(str):
    """The text of a user file, which remembers how messages name that file (``source``), so a
    later reader of the same text (ruamel, :mod:`gpufleet.replicate_yaml`) names it too."""

    source: str

    def __new__(cls, text: str, source: str = "") -> "UserText":
        obj = super().__new__(cls, text)
        obj.source = source
        return obj


def merge_key_error(source: str, line: int, column: int, where: str) -> ConfigError:
    """The one-line refusal of a merge key at ``line``/``column`` (1-based) of a stack file."""
    return ConfigError(source, f"line {line}", _Shown(f"a YAML merge key (<<) at {where or 'the top level'} "
                                                      f"(column {column})"), MERGE_KEYS_RULE)


def merge_keys_allowed(noun: str) -> bool:
    """Merge keys are refused in stack files only (other user files have one reader)."""
    return not noun.startswith("stack file")


_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp", "value", "merge")}
_PLAIN = "plain YAML values (strings, numbers, true/false, null, lists, mappings) without tags"


def parse_yaml(text: str, source: str, noun: str, *, key_root: str | None = None, loader: str | None = None,
               merge_keys: bool | None = None) -> Any:
    """One YAML document: composed and checked by :func:`_compose`, then built by PyYAML's
    safe constructor (plain values only). ``merge_keys``: accept ``<<`` (default: everywhere but
    in a stack file, :data:`MERGE_KEYS_RULE`)."""
    if merge_keys is None:
        merge_keys = merge_keys_allowed(noun)
    text = str(text)  # libyaml's parser takes a str itself, not a subclass (UserText)
    try:
        parser = _LOADERS[loader or YAML_LOADER](text)  # the pure-Python reader checks the characters here
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source, noun) from None
    try:
        node = _compose(parser, source, noun, key_root, merge_keys)
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
    if json_too_deep(text, MAX_DEPTH):
        raise _too_deep(source, "(file)", noun)
    return doc


def _too_deep(source: str, where: str, noun: str) -> ConfigError:
    return ConfigError(source, where, _Shown(f"values nested more than {MAX_DEPTH} levels deep"),
                       f"a {noun} nested at most {MAX_DEPTH} levels")


def _compose(parser: Any, source: str, noun: str, key_root: str | None, merge_keys: bool = True) -> yaml.Node | None:
    """Build the node graph of the one document from the parser's events, without recursion,
    refusing as soon as it is seen: more than MAX_VALUES values, aliases counted as the
    values they stand for (a "billion laughs" stops at its first aliases, before anything is
    expanded); nesting deeper than MAX_DEPTH; an alias inside its own anchor; a key given
    twice in a mapping (at any level: Pulumi refuses them too); a key that is a list or
    mapping; a merge key (``<<``) unless ``merge_keys``; YAML tags other than the plain ones;
    huge integers. The work is bounded by
    MAX_VALUES whatever the text, and the same with either parser."""
    events = yaml.events

    def fail(mark: Any, given: str, expected: str) -> ConfigError:
        return ConfigError(source, f"line {mark.line + 1}", _Shown(given), expected)

    def check_tag(tag: str, kind: str, mark: Any) -> None:
        if tag != _TAG + kind and (kind != "scalar" or tag not in _SCALAR_TAGS):
            raise fail(mark, f"the YAML tag {tag_text(tag)}{tag_note(tag, mark.column + 1)}", _PLAIN)

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
            name = name_text(event.anchor)
            if event.anchor not in anchors:
                raise fail(event.start_mark, f"the alias *{name} before any anchor &{name}"
                           f"{name_note(event.anchor, event.start_mark.column + 1)}", "an alias after its anchor")
            node = anchors[event.anchor]
            if id(node) in open_nodes:
                raise fail(event.start_mark, "an alias to a value that contains it (the anchor at line "
                                             f"{node.start_mark.line + 1})", "a value that does not contain itself")
            size = sizes.get(id(node), 1)
            added += size - 1
            if values + added > MAX_VALUES:  # a "billion laughs" stops here, before anything is expanded
                raise fail(event.start_mark, f"aliases that expand it to more than {MAX_VALUES:,} values (this "
                                             f"*{name}: {size:,} values, anchored at line {node.start_mark.line + 1})"
                                             f"{name_note(event.anchor, event.start_mark.column + 1)}",
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
                    if not merge_keys:
                        raise merge_key_error(source, event.start_mark.line + 1, event.start_mark.column + 1,
                                              path_text(parent[1], key_root))
                    parent[3] = node  # `<<: *base`: keys written here override the merged ones
                elif not isinstance(node, yaml.ScalarNode):
                    raise fail(event.start_mark, "a list or mapping used as a key", "a plain key (a name)")
                else:
                    key = node.value if node.tag == _TAG + "str" else parser.construct_object(node)
                    if key in parent[4]:
                        where = path_text(parent[1] + [key], key_root)
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


_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]")


def _yaml_error(exc: yaml.YAMLError, text: str, source: str, noun: str) -> ConfigError:
    if isinstance(exc, yaml.reader.ReaderError):
        bad = _NON_PRINTABLE.search(text)
        line = text.count("\n", 0, bad.start()) + 1 if bad else 1
        char = f"U+{ord(bad.group()):04X}" if bad else "a character"
        return ConfigError(source, f"line {line}", _Shown(f"the control character {char}"),
                           "printable text (valid YAML)")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    # the kind of problem only: never ``str(exc)``, whose marks print a snippet of the line
    problem = kind_of_problem(getattr(exc, "problem", None) or getattr(exc, "context", None)
                               or "a document it cannot read")
    where = f"line {mark.line + 1}" if mark is not None else "(file)"
    if "nesting depth" in problem:
        return _too_deep(source, where, noun)
    column = f" (column {mark.column + 1})" if mark is not None else ""
    return ConfigError(source, where, _Shown(f"invalid YAML: {problem}{column}"), "valid YAML")
