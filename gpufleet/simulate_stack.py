"""A stack (name or file, with ``--set`` edits) rendered and read as the simulator's platform.

The stack file is validated (a bad file or a bad ``--set`` is one :class:`ConfigError`),
the real program runs under the recording mocks, and the platform is read from the plan
(:func:`gpufleet.will_it_run.stack_facts` and the plan's Cohort, WorkloadPriorityClasses,
Kueue manager config and autoscaler flags), priced with the cost model's bundled prices.
"""

from __future__ import annotations

from typing import Sequence

import yaml

from gpufleet.modules import config as stack_config
from gpufleet.modules.simulate.platform import Assumptions, Platform, build

from . import config_set
from . import plan as planner
from . import will_it_run as wir


def label(stack_or_path: str, edits: Sequence[str] = ()) -> str:
    _, stack, _ = planner.resolve(stack_or_path)
    return stack + "".join(f" + {e}" for e in edits)


def from_plan(plan: planner.Plan, assumptions: Assumptions | None = None, name: str | None = None) -> Platform:
    """The platform of a rendered plan."""
    from gpufleet.modules.cost.pricing import bundled

    from .reports.cost import plan_estimate

    facts = wir.stack_facts(plan)
    manager = yaml.safe_load((wir._release_values(plan, "kueue") or {}).get("managerConfig", {})
                             .get("controllerManagerConfigYaml", "{}")) or {}
    ca = wir._release_values(plan, "cluster-autoscaler") or {}
    wpc = {o["metadata"]["name"]: int(o["value"]) for o in wir._objects(plan, "WorkloadPriorityClass")}
    return build(plan.config, name or plan.stack, facts, cohorts=wir._objects(plan, "Cohort"), workload_priorities=wpc,
                 kueue_manager=manager, autoscaler_args=[str(a) for a in ca.get("customArgs", []) or []],
                 estimate=plan_estimate(plan), prices=bundled(), assumptions=assumptions)


class Loaded:
    """A validated stack config, not rendered yet."""

    def __init__(self, cfg, raw, stack: str, shown: str, name: str):
        self.cfg, self.raw, self.stack, self.shown, self.name = cfg, raw, stack, shown, name


def load(stack_or_path: str, edits: Sequence[str] = ()) -> Loaded:
    """Read and validate the stack file with ``edits``, as ``gpufleet plan`` reads a stack
    (:func:`modules.config.from_file`: the stack's name must say its environment)."""
    path, stack, shown = planner.resolve(stack_or_path)
    if not path.is_file():
        raise stack_config.ConfigError(shown, "(file)", stack_or_path,
                                       f"a stack name with a file {stack_config.STACKS_DIR}/Pulumi.<stack>.yaml, or a path to one")
    raw = stack_config.read_stack_file(path, shown)
    source = shown
    if edits:
        raw = config_set.apply(raw, edits)
        source = f"{shown} with --set {' '.join(edits)}"
    cfg = stack_config.validate(raw, source)
    stack_config.check_environment(stack, cfg, source)
    return Loaded(cfg, raw, stack, shown, label(stack_or_path, edits))


def render(loaded: Loaded) -> planner.Plan:
    return planner.run_program(loaded.cfg, loaded.raw, loaded.stack, loaded.shown)


def platform(stack_or_path: str | Loaded, edits: Sequence[str] = (), assumptions: Assumptions | None = None) -> Platform:
    loaded = stack_or_path if isinstance(stack_or_path, Loaded) else load(stack_or_path, edits)
    return from_plan(render(loaded), assumptions, loaded.name)
