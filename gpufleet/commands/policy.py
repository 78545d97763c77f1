"""``gpufleet policy <stack>``: the policy pack's verdicts on a stack, offline; or its config.

    gpufleet policy dev                  verdicts (exit 1 on a mandatory violation)
    gpufleet policy dev --json           the plan's ``policy`` section as JSON
    gpufleet policy dev --config         the --policy-pack-config file for this stack
    gpufleet policy dev --write-config   ... written to the project's policies/config/dev.json
                                         (and the pack itself into policies/ when the project has none)
"""

from __future__ import annotations

import argparse
import sys

EXAMPLES = (("gpufleet policy dev", "the verdicts on stack dev (exit 1 on a mandatory violation)"),
            ("gpufleet policy dev --write-config", "write the project's policies/config/dev.json"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy", help="policy pack verdicts on a stack (offline), or its --policy-pack-config file")
    p.add_argument("stack", help="stack name (Pulumi.<stack>.yaml in the project's stacks dir) or path to a stack file")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true",
                      help="the verdicts as JSON, the plan's policy section: {pack, summary, violations, skipped, rules}")
    mode.add_argument("--config", action="store_true",
                      help="print the pack config derived from the stack (for pulumi preview --policy-pack-config)")
    mode.add_argument("--write-config", action="store_true",
                      help="write that config to the project's policies/config/<stack>.json (and, when the "
                           "project has no policies/PulumiPolicy.yaml, the pack that `pulumi preview --policy-pack "
                           "policies` runs; an existing file is never overwritten)")
    p.set_defaults(func=run)


def config_text(stack_or_path: str, project=None) -> tuple[str, str]:
    """(stack name, JSON text of its pack config): what ``--write-config`` writes, the
    suppressions of the project's ``policies/config/<stack>.json`` (with their reasons) kept."""
    from ..reports import policy

    stack, cfg = _config(stack_or_path, project)
    return stack, policy.config_text(cfg, stack, project)


def _config(stack_or_path: str, project=None):
    from gpufleet.modules import config as stack_config

    from .. import plan as planner

    path, stack, shown = planner.resolve(stack_or_path, project)
    if not path.exists():  # a directory, device or unreadable file: the reader names the problem
        raise planner.missing_stack(stack_or_path, shown, project)
    cfg, _ = stack_config.from_file(path, shown)
    return stack, cfg


def run(args: argparse.Namespace) -> int:
    import json

    from .. import plan as planner
    from ..project import of
    from ..reports import policy

    project = of(args)
    if args.config:
        _, text = config_text(args.stack, project)
        project.announce(machine=True)
        sys.stdout.write(text)
        return 0
    if args.write_config:
        from ..atomic_file import all_or_nothing

        stack, cfg = _config(args.stack, project)
        with all_or_nothing():  # the config and (for a project without one) the pack: all or none
            target = policy.write_config(cfg, stack, project)
            pack = policy.write_pack(project)
        project.announce()
        print(f"wrote {project.shown(target)}")
        if pack:
            print(f"wrote {', '.join(project.shown(p) for p in pack)}: the project's policy pack "
                  f"(`pulumi preview --policy-pack policies --policy-pack-config {project.shown(target)}`)")
        return 0
    from .plan import _check_file

    _check_file(args.stack, project)
    result = planner.render(args.stack, project)
    section = next(r for r in result.reports if r.key == "policy")
    project.announce(machine=args.json)
    if args.json:
        json.dump(section.data, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(section.text)
    return 1 if section.failed else 0
