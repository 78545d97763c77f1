"""Every file a cost report names is one the user can open: it exists in the checkout.

The bundled prices are ``modules/data/prices-us-east-1.json`` and
``modules/data/unit-prices-us-east-1.json``; a report names those files and the upstream
source and date they record, never the path ``scripts/import_reference.py`` copied them
from (``shared/reference/...``, outside the repository).
"""

from __future__ import annotations

import json
import re

import pytest

from gpufleet import cli
from gpufleet.modules import catalog

from .helpers import ROOT, STACKS

#: a URL (scheme or host first): names a page, not a file of the checkout
URL = re.compile(r"https?://\S+|(?<![\w./-])[a-z0-9-]+(?:\.[a-z0-9-]+)+/\S*", re.IGNORECASE)
#: ``owner/repo@commit [path]``: a file of another repository (the upstream a data file records)
UPSTREAM = re.compile(r"[\w.-]+/[\w.-]+@[0-9a-f]{7,40}(?:\s+[\w./-]+/[\w.-]+)?")
#: a relative path with a file name (``dir/.../name.ext``)
FILE_PATH = re.compile(r"(?<![\w./@-])[\w-][\w.-]*(?:/[\w.-]+)*/[\w-][\w-]*(?:\.[\w-]+)*\.[A-Za-z]\w*(?![\w/])")


def file_paths(text: str) -> set[str]:
    """The file paths ``text`` names, relative to the repository root (URLs and files of
    upstream repositories left out)."""
    text = UPSTREAM.sub(" ", URL.sub(" ", text))
    return set(FILE_PATH.findall(text))


def test_the_path_finder():
    text = ("on-demand: modules/data/prices-us-east-1.json, generated 2026-07-20 from "
            "aws/karpenter-provider-aws@1d927085dd81 pkg/providers/pricing/zz_generated.pricing_aws.go; "
            "units (aws.amazon.com/vpc/pricing, /ebs/pricing) https://github.com/a/b/blob/x/c.py "
            "I/O, T3/T3a/T4g, `shared/reference/aws/on-demand-prices-us-east-1.json`, (modules/data/eks_versions.json)")
    assert file_paths(text) == {"modules/data/prices-us-east-1.json", "modules/data/eks_versions.json",
                                "shared/reference/aws/on-demand-prices-us-east-1.json"}


def run(capsys, *argv: str) -> str:
    assert cli.main(["cost", *argv]) == 0
    return capsys.readouterr().out


REPORTS = [(stack, fmt) for stack in STACKS for fmt in ("table", "json", "markdown")]


@pytest.mark.parametrize(("stack", "fmt"), REPORTS)
def test_every_file_a_cost_report_names_exists(capsys, stack, fmt):
    out = run(capsys, stack, "--format", fmt)
    named = file_paths(out)
    if fmt != "table":  # the table names the prices' region and date; JSON and Markdown their files
        assert "modules/data/prices-us-east-1.json" in named, out
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f"gpufleet cost {stack} --format {fmt} names files not in the checkout: {missing}"


@pytest.mark.parametrize("fmt", ["json", "markdown", "table"])
def test_every_file_a_cost_comparison_names_exists(capsys, fmt):
    before, after = STACKS[0], STACKS[-1]
    out = run(capsys, after, "--compare", before, "--format", fmt)
    missing = sorted(p for p in file_paths(out) if not (ROOT / p).is_file())
    assert not missing, f"gpufleet cost {after} --compare {before} --format {fmt} names files not in the checkout: " \
                        f"{missing}"


def test_prices_source_names_the_files_and_their_upstream(capsys):
    doc = json.loads(run(capsys, STACKS[0], "--format", "json"))
    source = doc["prices"]["source"]
    instances = catalog.on_demand_prices()
    units = catalog.load("unit-prices-us-east-1.json")
    assert "shared/reference" not in source
    assert "modules/data/prices-us-east-1.json" in source and "modules/data/unit-prices-us-east-1.json" in source
    # the upstream source and date each file records
    assert instances["source"] in source and str(instances["generated"])[:10] in source
    assert units["source"] in source and units["date"] in source
    md = run(capsys, STACKS[0], "--format", "markdown")
    footer = md.strip().splitlines()[-1]
    assert footer.startswith("<sub>") and source in footer
