"""Shared fixtures: the suite runs on the fixture project under tests/ (never on the stacks
the user keeps in the checkout, DEVELOPING.md "tests/"); each of its stacks is rendered once per
test session."""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import types
import weakref
from collections import OrderedDict
from pathlib import Path

import pytest

from gpufleet import engine
from gpufleet import plan as planner
from gpufleet.modules import clock
from gpufleet.modules import config as stack_config
from gpufleet.modules import physical_names

from .helpers import DATA_DAY, FIXTURE_ROOT, STACKS, TEST_TODAY

# The suite's clock (modules/clock.py): every test sees the same today, whatever the machine's
# date, and so do the commands it starts in child processes (through the environment). Tests of
# a rule that depends on the date move it on purpose (``clock.frozen``); tests/test_clock.py
# fails on any reading of the machine's date outside modules/clock.py.
os.environ[clock.ENV] = TEST_TODAY.isoformat()

_plans: dict[tuple[str, object], planner.Plan] = {}


def shipped_plan(stack: str) -> planner.Plan:
    """The plan of a fixture stack on the clock's day (rendered once per session and day)."""
    key = (stack, clock.today())
    if key not in _plans:
        _plans[key] = planner.render(stack, FIXTURE_ROOT)
    return _plans[key]


# ---------------------------------------------------------------- tests of the data's own day
# CI runs the suite a second time with the day moved (helpers.DAYS_AHEAD_ENV, .ci/run). A test
# whose expectation is the fixture project's figures on the day its data were checked (prices,
# an EKS version in standard support: no extended-support charge, no warning, every policy
# passing) says so with ``@pytest.mark.on_data_day``, and runs on helpers.DATA_DAY, in its own
# process and in the commands it starts. What the fixture stacks do on other days (warnings,
# the extended-support charge, refusal once EKS stops offering the version) is what
# tests/test_eks_calendar.py checks on every day to two years ahead, from the moved day too.

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "on_data_day: the test's expectation is the fixture project's on the day its "
                                       "data were checked (helpers.DATA_DAY); it runs on that day whatever the suite's")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    if TEST_TODAY == DATA_DAY or item.get_closest_marker("on_data_day") is None:
        yield
        return
    clock.set_today(DATA_DAY)
    os.environ[clock.ENV] = DATA_DAY.isoformat()
    try:
        yield
    finally:
        clock.set_today(None)
        os.environ[clock.ENV] = TEST_TODAY.isoformat()


# ---------------------------------------------------------------- each program run once per session
# Commands under test (``plan``, ``check``, ``cost``, ``diff``, ``policy``...) and ``helpers.render``
# run the program on the same few configs again and again: ~1 s each, 150 runs of ~50 configs
# in a session. What the program declares is a pure function of the stack name, the config it
# reads (``program_config(raw)``, as ``engine.install`` sets it, and PULUMI_CONFIG), the region
# of the mock engine and package data (engine.py: mock ids and ARNs come from names). How the
# caller shows the file (``shown``) only names it in messages and in ``Plan.source``; the typed
# config only goes into the physical names check (run on every call) and ``Plan.config``. So
# each distinct run's Plan is kept pickled and every caller gets its own fresh copy (a caller
# may add reports, set ``origin`` or edit inputs), with its own ``source`` and ``config``. A run
# that raises is never kept (it runs, and raises, again each time). While any monkeypatch (a
# test's, or a fixture's ``MonkeyPatch.context()``) has replaced an item or an environment
# variable, ``sys.path``, or an attribute of anything but a part of gpufleet the program never
# imports (``check``, ``will_it_run``, ``reports``...), nothing is looked up or kept: a patched
# function may change what the program declares. Under xdist the workers of one run also share
# what they kept (files in the run's base temp folder), so each config runs once per run.

_RENDERS_KEPT = 128  # pickled plans are ~0.4 MB
_renders: OrderedDict[bytes, bytes] = OrderedDict()
_shared: list[Path] = []  # under xdist: the folder this run's workers keep their runs in
_monkeypatches: weakref.WeakSet[pytest.MonkeyPatch] = weakref.WeakSet()
_monkeypatch_init = pytest.MonkeyPatch.__init__


def _tracked_monkeypatch_init(self: pytest.MonkeyPatch) -> None:
    _monkeypatch_init(self)
    _monkeypatches.add(self)


#: the program (``modules/``, imported as ``gpufleet.modules``) and the parts of gpufleet it uses:
#: ``run_program`` (plan, engine) and ``modules.config.program_source`` (project, exit_codes)
_THE_PROGRAM = ("gpufleet.modules", "gpufleet.engine", "gpufleet.exit_codes", "gpufleet.plan", "gpufleet.project")


def _outside_the_program(target: object) -> bool:
    """Is ``target`` (what a monkeypatch set an attribute on) a gpufleet module or class the
    program never imports?"""
    name = getattr(target, "__name__" if isinstance(target, types.ModuleType) else "__module__", None)
    if not isinstance(target, (types.ModuleType, type)) or not isinstance(name, str):
        return False
    return name.startswith("gpufleet.") and not any(name == p or name.startswith(f"{p}.") for p in _THE_PROGRAM)


def _something_is_patched() -> bool:
    return any(mp._setitem or mp._savesyspath is not None
               or not all(_outside_the_program(target) for target, _, _ in mp._setattr)
               for mp in list(_monkeypatches))


def _run_key(cfg, raw, stack: str) -> bytes | None:
    if _something_is_patched():
        return None
    try:
        read = sorted(stack_config.program_config(raw).items())
        what = repr((stack, read, cfg.region, os.environ.get("PULUMI_CONFIG"), clock.today()))
    except (TypeError, ValueError):  # a config the program cannot be given: let it fail for real
        return None
    return hashlib.sha256(what.encode()).digest()


def _keep(key: bytes, blob: bytes) -> None:
    _renders[key] = blob
    _renders.move_to_end(key)
    while len(_renders) > _RENDERS_KEPT:
        _renders.popitem(last=False)


def _kept(key: bytes) -> bytes | None:
    if key in _renders:
        _keep(key, _renders[key])
        return _renders[key]
    if _shared:
        try:
            blob = (_shared[0] / key.hex()).read_bytes()
        except OSError:
            return None
        _keep(key, blob)
        return blob
    return None


def _share(key: bytes, blob: bytes) -> None:
    if _shared:
        part = _shared[0] / f"{key.hex()}.{os.getpid()}.part"
        part.write_bytes(blob)
        part.replace(_shared[0] / key.hex())  # atomic: another worker reads all of it or nothing


def _without_cyclic_gc(real, *args):
    """A render with the cyclic collector off, as ``gpufleet``'s own process runs it (cli.entry:
    a render makes ~a million objects and almost no cycles; collecting them during the render
    was ~17% of its time). What it leaves is collected after the test (pytest_runtest_teardown)."""
    was = gc.isenabled()
    gc.disable()
    try:
        return real(*args)
    finally:
        if was:
            gc.enable()


def _run_program_once(real):
    def run_program(cfg, raw, stack, shown):
        key = _run_key(cfg, raw, stack)
        blob = _kept(key) if key is not None else None
        if blob is not None:
            physical_names.check_stack(stack, cfg.region, shown, cfg)  # passed for this run: cheap
            # leave the Pulumi runtime as a real run leaves it (this stack's config and mocks)
            engine.install(stack_config.PROJECT, stack, raw, cfg.region)
            stack_config.forget()
            plan = pickle.loads(blob)
            plan.source, plan.config = shown, cfg
            return plan
        plan = _without_cyclic_gc(real, cfg, raw, stack, shown)
        if key is not None:
            try:
                blob = pickle.dumps(plan, protocol=5)
            except (pickle.PicklingError, TypeError, AttributeError):  # not kept: runs again next time
                return plan
            _keep(key, blob)
            _share(key, blob)
        return plan

    run_program.real = real
    return run_program


@pytest.fixture(autouse=True, scope="session")
def _each_program_run_once(tmp_path_factory):
    """Every run of the program in this session goes through the cache above (installed by
    hand, not by a MonkeyPatch: that would count as a patch and turn the cache off). An xdist
    worker's base temp folder is in the run's own one (``popen-gw0``), which the workers share."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _shared.append(tmp_path_factory.getbasetemp().parent / "program-runs")
        _shared[0].mkdir(exist_ok=True)
    real = planner.run_program
    pytest.MonkeyPatch.__init__ = _tracked_monkeypatch_init
    planner.run_program = _run_program_once(real)
    try:
        yield
    finally:
        planner.run_program = real
        pytest.MonkeyPatch.__init__ = _monkeypatch_init
        _renders.clear()
        _shared.clear()


#: the cyclic collector's first generation runs after this many new objects, not 700: a test
#: makes hundreds of thousands (a render, pydantic models, hypothesis), and at 700 the young
#: collections (and the older ones they set off) were a sixth of the suite's time (measured:
#: 68.7 s -> 54.6 s on 2 cores, benchmarks/suite.py; 100,000 gains nothing more). Garbage is
#: still collected after every test (below); max RSS stays ~0.87 GB.
GC_GEN0_THRESHOLD = 50_000
gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After each test (and its fixtures' teardown): collect the cyclic garbage it left, then
    freeze what survives out of the cyclic collector (reference counting still frees it). The
    heap a session builds up (the Pulumi SDK's types, pydantic models, hypothesis, kept plans)
    made each of the ~90 full collections cost ~0.4 s, a fifth of the suite's time; now a
    collection only scans what the current test made. Memory is the same (max RSS ~0.87 GB)."""
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (each is one long subprocess: a wheel built and installed, a checkout's
    own pytest): under xdist a worker takes them while the other starts on the rest, instead
    of one of them being the last thing the whole run waits for. Otherwise the order is kept."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _fixture_files() -> dict[str, bytes]:
    return {str(p.relative_to(FIXTURE_ROOT)): p.read_bytes() for p in sorted(FIXTURE_ROOT.rglob("*"))
            if p.is_file() and ".hypothesis" not in p.parts and "__pycache__" not in p.parts}


@pytest.fixture(autouse=True, scope="session")
def _session_in_the_fixture_project():
    """Module- and session-scoped fixtures run in the fixture project too; and since commands
    in tests act on it, no test may write into it (a test that writes works on a copy)."""
    before = _fixture_files()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(FIXTURE_ROOT)
        yield
    after = _fixture_files()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"a test wrote into the fixture project {FIXTURE_ROOT}: {changed}"


@pytest.fixture(autouse=True)
def in_the_fixture_project(_session_in_the_fixture_project, monkeypatch):
    """Every test runs in the fixture project's directory: a command that finds its project
    from the current directory (``gpufleet plan dev``, the policy pack's config and
    suppressions) acts on the fixture project, never on the checkout's own stacks."""
    monkeypatch.chdir(FIXTURE_ROOT)


@pytest.fixture(params=STACKS)
def any_stack_plan(request) -> planner.Plan:
    """The plan of each fixture stack (parametrised)."""
    return shipped_plan(request.param)


@pytest.fixture
def dev_plan() -> planner.Plan:
    return shipped_plan("dev")


@pytest.fixture
def prod_plan() -> planner.Plan:
    return shipped_plan("prod")
