"""The mock engine drops the SDK's per-registration stack walk (gpufleet/engine.py
``_skip_source_positions``): what it records is the same with and without the walk, and only
a process that plans offline skips it."""

from __future__ import annotations

import subprocess
import sys

import pulumi
from pulumi.runtime import resource as pulumi_resource

from gpufleet import engine


class _Box(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Box", name, None, None)
        pulumi.CustomResource("test:index:Thing", f"{name}-thing", {"size": 3}, pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def _records(stack_walk) -> list[tuple]:
    monitor = engine.install("proj", "dev", {"aws:region": "us-east-1"}, "us-east-1")
    pulumi_resource._get_stack_trace = stack_walk  # after install: the walk under test

    @pulumi.runtime.test
    def program():
        _Box("box")
        return pulumi.Output.from_input(1)

    program()
    return [(r.urn, r.type, r.parent, r.inputs, r.depends_on) for r in monitor.records.values()]


def test_the_records_are_the_same_with_the_sdks_stack_walk():
    assert callable(engine.SDK_STACK_WALK), "the SDK has no stack walk: drop _skip_source_positions"
    walks: list[int] = []

    def counted_sdk_walk():
        walks.append(1)
        return engine.SDK_STACK_WALK()

    try:
        with_walk = _records(counted_sdk_walk)
        without = _records(engine._no_stack_trace)
    finally:
        engine._skip_source_positions()
    assert len(walks) == 2  # one walk per registration: what the skip saves
    assert with_walk == without and len(without) == 2


def test_importing_gpufleet_leaves_the_sdk_as_it_is():
    probe = ("import pulumi.runtime.resource as r; import gpufleet, gpufleet.engine, gpufleet.api; "
             "print(r._get_stack_trace is gpufleet.engine.SDK_STACK_WALK)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "True"  # only engine.install (an offline plan) skips the walk
