"""Print the stack configuration reference (Markdown) from the pydantic models.

The README embeds this output between markers; ``tests/test_docs.py`` fails when the two
drift apart. Regenerate with ``python scripts/config_reference.py --write``.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpufleet.modules.config import NS, REGION_KEY  # noqa: E402
from gpufleet.modules.schema.stack import StackConfig  # noqa: E402

BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"


def _type_name(annotation) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map {_type_name(args[0])} → {_type_name(args[1])}"
    if origin is typing.Annotated:
        return _type_name(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation)).replace("IPv4Network", "CIDR")


def _models(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    value = field.default if field.default is not PydanticUndefined else field.default_factory()
    if isinstance(value, BaseModel):
        return "(see below)"
    return f"`{value}`" if value not in (None, [], {}) else "—"


def rows(model: type[BaseModel], prefix: str, out: list[str]) -> None:
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = (REGION_KEY if name == "region" else f"{NS}{key}") if model is StackConfig else f"{prefix}.{key}"
        doc = (field.description or "").replace("\n", " ").replace("|", "\\|")
        out.append(f"| `{path}` | {_type_name(field.annotation)} | {_default(field)} | {doc} |")
        for sub in _models(field.annotation):
            is_list = typing.get_origin(field.annotation) is list
            rows(sub, f"{path}[]" if is_list else path, out)


def reference() -> str:
    out = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    rows(StackConfig, "", out)
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = reference()
    if "--write" in argv:
        readme = ROOT / "README.md"
        doc = readme.read_text()
        head, _, rest = doc.partition(BEGIN)
        _, _, tail = rest.partition(END)
        readme.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
