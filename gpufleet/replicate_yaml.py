"""A stack file edited round trip (``ruamel.yaml``): its comments, key order, quoting and
layout stay, so a written stack's diff against its source is the changed lines only
(``gpufleet replicate`` and ``gpufleet init``: :mod:`gpufleet.replicate`). A changed value
takes the style of the one it replaces (:func:`styled`)."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import ScalarString


def _yaml() -> YAML:
    """Round-trip YAML in the shipped stacks' layout (2-space maps, ``- `` items indented 2)."""
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a line
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def load_document(text: str) -> CommentedMap:
    """A stack file's text as a round-trip document (comments, order and quoting kept). The
    text has passed :func:`modules.config.read_stack_file` already (bounded, no duplicate keys,
    no tags)."""
    return _yaml().load(text)


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
