"""A stack file edited round trip (``ruamel.yaml``): its comments, key order, quoting and
layout stay, so a written stack's diff against its source is the changed lines only
(``gpufleet replicate`` and ``gpufleet init``: :mod:`gpufleet.replicate`). A changed value
takes the style of the one it replaces (:func:`styled`)."""

from __future__ import annotations

import io
import warnings
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError, YAMLFutureWarning, YAMLWarning
from ruamel.yaml.comments import CommentedMap, CommentedSeq, merge_attrib
from ruamel.yaml.nodes import MappingNode, SequenceNode
from ruamel.yaml.scalarstring import ScalarString

from gpufleet.modules.parse_problems import kind_of_problem, path_text


MERGE_TAG = "tag:yaml.org,2002:merge"


def _yaml() -> YAML:
    """Round-trip YAML in the shipped stacks' layout (2-space maps, ``- `` items indented 2)."""
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a line
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def load_document(text: str, source: str | None = None) -> CommentedMap:
    """A stack file's text as a round-trip document (comments, order and quoting kept). The
    text is bounded, UTF-8 and a regular file's (:func:`modules.config.read_text_file`, whose
    text remembers the file: ``source`` defaults to it).

    A YAML merge key (``<<``) is refused here too, with its line, as PyYAML's reader refuses it
    (:data:`modules.user_files.MERGE_KEYS_RULE`): ruamel reads ``<<: [{max: 400}, {max: 2}]``
    as 400 where PyYAML reads 2, so a stack file never gets two readings in two commands."""
    source = source or getattr(text, "source", None) or "stack file"
    try:
        with warnings.catch_warnings():  # ruamel warns with a snippet of the file (a reused anchor)
            warnings.simplefilter("ignore", YAMLWarning)
            warnings.simplefilter("ignore", YAMLFutureWarning)
            doc = _yaml().load(text)
    except YAMLError as exc:  # one line, the kind of problem only (never ruamel's snippet of the line)
        raise _parse_error(exc, source) from None
    if _has_merge(doc, set()):
        raise _merge_error(text, source)
    return doc


def _parse_error(exc: YAMLError, source: str) -> Exception:
    from gpufleet.modules.config_errors import ConfigError, Shown

    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = kind_of_problem(getattr(exc, "problem", None) or getattr(exc, "context", None)
                               or type(exc).__name__)
    where = f"line {mark.line + 1}" if mark is not None else "(file)"
    column = f" (column {mark.column + 1})" if mark is not None else ""
    return ConfigError(source, where, Shown(f"invalid YAML: {problem}{column}"), "valid YAML")


def _has_merge(node: Any, seen: set[int]) -> bool:
    if id(node) in seen:  # an alias: already walked
        return False
    seen.add(id(node))
    if isinstance(node, CommentedMap):
        if getattr(node, merge_attrib, None):
            return True
        return any(_has_merge(v, seen) for v in node.values())
    if isinstance(node, CommentedSeq):
        return any(_has_merge(v, seen) for v in node)
    return False


def _merge_error(text: str, source: str) -> Exception:
    """The refusal of the first merge key of ``text`` (found on ruamel's node graph, for its line)."""
    from gpufleet.modules.user_files import merge_key_error

    # depth first, in the file's order: the first merge key, where PyYAML's reader stops too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", YAMLWarning)
        root = _yaml().compose(text)
    stack: list[tuple[Any, list[Any], bool]] = [(root, [], False)]  # (node, path, is a key)
    while stack:
        node, path, is_key = stack.pop()
        if is_key:
            if node.tag == MERGE_TAG:  # `<<` elsewhere (a value, a list item) is the string "<<"
                where = path_text(path, "config")  # each key at most an excerpt
                return merge_key_error(source, node.start_mark.line + 1, node.start_mark.column + 1, where)
        elif isinstance(node, MappingNode):
            for key, value in reversed(node.value):
                stack += [(value, [*path, key.value], False), (key, path, True)]
        elif isinstance(node, SequenceNode):
            stack.extend((v, [*path, i], False) for i, v in reversed(list(enumerate(node.value))))
    from gpufleet.modules.config_errors import ConfigError  # pragma: no cover - a merge the loader saw has a key
    return ConfigError(source, "(file)", "a YAML merge key (<<)", "no merge keys")  # pragma: no cover


def dump_document(doc: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def styled(old: Any, new: Any) -> Any:
    """``new`` in ``old``'s style: a string's quoting, a list's flow (``[a, b]``) or block
    style; a new list of plain values in flow style, as the shipped stacks write them."""
    if isinstance(old, ScalarString) and isinstance(new, str) and not isinstance(new, ScalarString):
        return type(old)(new)
    value = _round_trip(new)
    if isinstance(old, CommentedSeq) and isinstance(value, CommentedSeq):  # a list keeps its flow/block style
        if old.fa.flow_style():
            value.fa.set_flow_style()
        else:
            value.fa.set_block_style()
    return value


def _round_trip(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, CommentedMap):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _round_trip(v)
        return out
    if isinstance(value, list) and not isinstance(value, CommentedSeq):
        seq = CommentedSeq(_round_trip(v) for v in value)
        if value and all(isinstance(v, (str, int, float, bool)) or v is None for v in value):
            seq.fa.set_flow_style()
        return seq
    return value
