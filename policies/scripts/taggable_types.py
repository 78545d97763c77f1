"""Regenerate ``gpufleet_policies/data/taggable_types.json``: every pulumi-aws resource type
that takes a ``tags`` input, read from the installed pulumi-aws SDK's source.

    .venv/bin/python policies/scripts/taggable_types.py

The cost-allocation tag policy checks exactly these types (a resource type without a
``tags`` input cannot carry cost-allocation tags; AWS bills it to its parent's tags or not at all).
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pulumi_aws

from gpufleet.modules import clock

OUT = Path(__file__).resolve().parents[1] / "gpufleet_policies" / "data" / "taggable_types.json"
INIT = re.compile(r"def _internal_init\(")
TOKEN = re.compile(r"super\(\w+, __self__\).__init__\(\s*'(aws:[^']+)'")
TAGS = '__props__.__dict__["tags"] = tags'


def taggable_types(root: Path) -> list[str]:
    found: set[str] = set()
    for path in root.rglob("*.py"):
        if path.name.startswith("_"):
            continue
        text = path.read_text()
        for match in TOKEN.finditer(text):
            start = max((m.start() for m in INIT.finditer(text, 0, match.start())), default=None)
            if start is not None and TAGS in text[start:match.start()]:
                found.add(match.group(1))
    return sorted(found)


def main() -> None:
    types = taggable_types(Path(pulumi_aws.__file__).parent)
    OUT.write_text(json.dumps({
        "source": f"pulumi-aws {metadata.version('pulumi_aws')} Python SDK: resources whose constructor takes `tags`",
        "date": clock.today().isoformat(),
        "types": types,
    }, indent=1) + "\n")
    print(f"{len(types)} taggable resource types -> {OUT}")


if __name__ == "__main__":
    main()
