"""``gpufleet policy <stack>``: the policy pack's verdicts on a stack, offline; or its config.

    gpufleet policy dev                  verdicts (exit 1 on a mandatory violation)
    gpufleet policy dev --json           the plan's ``policy`` section as JSON
    gpufleet policy dev --config         the --policy-pack-config file for this stack
    gpufleet policy dev --write-config   ... written to policies/config/dev.json
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy", help="policy pack verdicts on a stack (offline), or its --policy-pack-config file")
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or path to a stack file")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="the verdicts as JSON ({pack, violations})")
    mode.add_argument("--config", action="store_true",
                      help="print the pack config derived from the stack (for pulumi preview --policy-pack-config)")
    mode.add_argument("--write-config", action="store_true", help="write that config to policies/config/<stack>.json")
    p.set_defaults(func=run)


def config_text(stack_or_path: str) -> tuple[str, str]:
    """(stack name, JSON text of its pack config)."""
    from modules import config as stack_config

    from .. import plan as planner
    from ..reports import policy

    path, stack, shown = planner.resolve(stack_or_path)
    if not path.exists():  # a directory, device or unreadable file: the reader names the problem
        raise stack_config.ConfigError(
            shown, "(file)", stack_or_path,
            f"a stack name with a file {stack_config.STACKS_DIR}/Pulumi.<stack>.yaml, or a path to one")
    cfg, _ = stack_config.from_file(path, shown)
    return stack, json.dumps(policy.pack_config(cfg), indent=1, sort_keys=True) + "\n"


def run(args: argparse.Namespace) -> int:
    from .. import plan as planner
    from ..reports import policy

    if args.config or args.write_config:
        stack, text = config_text(args.stack)
        if args.config:
            sys.stdout.write(text)
        else:
            policy.CONFIG_DIR.mkdir(parents=True, exist_ok=True)
            target = policy.CONFIG_DIR / f"{stack}.json"
            target.write_text(text)
            print(f"wrote {target.relative_to(planner.PROJECT_ROOT)}")
        return 0
    from .plan import _check_file

    _check_file(args.stack)
    result = planner.render(args.stack)
    section = next(r for r in result.reports if r.key == "policy")
    if args.json:
        json.dump(section.data, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(section.text)
    return 1 if section.failed else 0
