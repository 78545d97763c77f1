"""``gpufleet init STACK [--env dev|staging|prod] [--region R]``: a new stack, ready to plan.

Writes ``Pulumi.<STACK>.yaml`` into the project's stacks dir from the environment's
template (the stack gpufleet ships for that environment, its comments kept), with:

- the region (default: the template's) and as many of its AZs as the template has, from
  ``modules/data/regions.json``;
- a VPC range no other stack of the project has;
- the account in every ARN replaced by the placeholder ``123456789012``, and the values a
  team must replace before ``pulumi up`` (ARNs, alert e-mails, API allowlist, CI runner,
  cost centre) marked ``# placeholder`` in the file;

then the project's ``policies/config/<STACK>.json`` and, when the project has no policy pack
yet, the pack (``policies/PulumiPolicy.yaml``, ``__main__.py``, ``requirements.txt`` from
``gpufleet/pack_template``: what ``pulumi preview --policy-pack policies`` runs), and plans
the stack (the exit code is the plan's: 1 on a mandatory policy violation). The stack's name says its environment
(:mod:`modules.environments`): ``--env`` defaults to it, and contradicting it is exit 2.
Never overwrites a file.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from gpufleet.modules import clock

EXAMPLES = (("gpufleet init research-dev --region eu-west-1",
             "a new dev stack in eu-west-1 from the dev template, its policy config, then its plan"),)
ACCOUNT_PLACEHOLDER = "123456789012"  # AWS's documentation account: valid, obviously not yours
_ARN_ACCOUNT = re.compile(r"^(arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:)\d{12}(:)")
#: (key path under config, what to put there): the values a team replaces before `pulumi up`
PLACEHOLDERS = (
    ("gpufleet:tags.cost-center", "your cost centre"),
    ("gpufleet:cluster.endpoint.public_cidrs", "the ranges that may reach the API (office, VPN, CI runners)"),
    ("gpufleet:cluster.admin_arns[*]", "a role of your account that administers the cluster"),
    ("gpufleet:cluster.deployer_arn", "the IAM role that runs pulumi up (CI's deploy role)"),
    ("gpufleet:cluster.ci_runner.project", "your CodeBuild runner project in the VPC"),
    ("gpufleet:cost.emails", "who gets the budget alerts"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a new stack from the environment's template (commented, placeholders "
                                    "marked) and its policy config, then plan it")
    p.add_argument("stack", help="the new stack's name; it says its environment: dev, staging or prod, alone or as "
                                 "its first or last word (research-dev, prod-eu)")
    p.add_argument("--env", choices=("dev", "staging", "prod"),
                   help="the environment (default: the one the name says; it must agree with the name)")
    p.add_argument("--region", default=None,
                   help="the AWS region, e.g. eu-west-1 (default: the template's); its first AZs from "
                        "modules/data/regions.json")
    p.set_defaults(func=run)


def environment(stack: str, requested: str | None) -> str:
    """The environment of a new stack: what its name says (``--env`` must agree)."""
    from gpufleet.modules.environments import NAME_RULE, environment_of

    from ..replicate import BadInput

    env = environment_of(stack)
    if env is None:
        hint = f" (e.g. {stack}-{requested})" if requested else ""
        raise BadInput(f"stack name {stack!r}: expected {NAME_RULE}{hint}")
    if requested is not None and requested != env:
        raise BadInput(f"--env {requested}: the stack name {stack!r} says {env}, and the name decides the environment "
                       f"(name it e.g. {stack}-{requested} for a {requested} stack, or leave --env out)")
    return env


def placeholders(stack: str):
    """The ``edit`` hook of :func:`gpufleet.replicate.derive`: accounts in ARNs replaced by
    the placeholder account, the values to replace marked ``# placeholder: ...``."""

    def edit(raw: Any, _cfg: Any) -> list[tuple[str, Any, Any]]:
        changes: list[tuple[str, Any, Any]] = []

        def walk(node: Any, path: str) -> None:
            items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            for key, value in list(items):
                where = f"{path}.{key}" if isinstance(node, dict) else f"{path}[{key}]"
                if isinstance(value, str) and _ARN_ACCOUNT.match(value):
                    new = _ARN_ACCOUNT.sub(rf"\g<1>{ACCOUNT_PLACEHOLDER}\g<2>", value)
                    if new != value:
                        from ..replicate import _styled

                        node[key] = _styled(value, new)
                        changes.append((where.lstrip("."), str(value), new))
                else:
                    walk(value, where)

        walk(raw, "")
        for path, what in PLACEHOLDERS:
            for node, key in _find(raw, path):
                _mark(node, key, f"placeholder: {what}")
        return changes

    return edit


def _find(raw: Any, path: str) -> list[tuple[Any, Any]]:
    """(container, key) pairs a placeholder path names (``[*]``: every item of a list)."""
    head, _, rest = path.partition(".")
    found: list[tuple[Any, Any]] = []
    current: list[Any] = [raw]
    for part in [head, *filter(None, rest.split("."))]:
        key, every = part.removesuffix("[*]"), part.endswith("[*]")
        found = []
        for node in current:
            if isinstance(node, dict) and key in node:
                value = node[key]
                found += [(value, j) for j in range(len(value))] if every and isinstance(value, list) else [(node, key)]
        current = [node[key] for node, key in found]
    return found


def _mark(node: Any, key: Any, text: str) -> None:
    """An end-of-line comment on ``node[key]`` (a mapping key or a list index), keeping the
    comment lines that follow it (ruamel keeps those on the same token)."""
    from ruamel.yaml.comments import CommentedMap

    pos = 2 if isinstance(node, CommentedMap) else 0
    entry = node.ca.items.get(key)
    token = entry[pos] if entry is not None and len(entry) > pos else None
    if token is None:
        node.yaml_add_eol_comment(f"# {text}", key)
    elif token.value.startswith("\n"):  # no comment on the line itself, only lines after it
        token.value = f"  # {text}" + token.value
    else:
        token.value = token.value.replace("#", f"# {text};", 1)


def run(args: argparse.Namespace) -> int:
    from gpufleet.modules import config as stack_config

    from .. import plan as planner
    from ..atomic_file import all_or_nothing
    from ..project import TEMPLATES_DIR, of
    from ..render import pools_table
    from ..reports import policy
    from ..replicate import BadInput, check_new_file, check_new_name, derive
    from .replicate import fleet_hint

    project = of(args)
    try:
        env = environment(args.stack, args.env)
        template = TEMPLATES_DIR / f"Pulumi.{env}.yaml"
        if not template.is_file():
            raise BadInput(f"the {env} template {template} is missing from this gpufleet installation: reinstall it")
        region = args.region or stack_config.read_stack_file(template, str(template)).get(stack_config.REGION_KEY)
        check_new_name(args.stack, region, project)
        check_new_file(args.stack, project, "init")
        header = (f"# {args.stack}: a {env} stack written by `gpufleet init` on {clock.today().isoformat()} from "
                  f"gpufleet's {env} template.\n"
                  f"# Before `pulumi up`, replace every value marked `placeholder` (the account {ACCOUNT_PLACEHOLDER} "
                  f"in the ARNs\n# among them; README, \"Before your first `pulumi up`\"). "
                  f"`gpufleet plan {args.stack}` checks the file offline.\n")
        with all_or_nothing():  # the stack file, its policy config and the pack: all of them or none
            replica = derive(template, env, args.stack, region, project, offline=True, header=header,
                             edit=placeholders(args.stack))
            pack = policy.write_pack(project)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    project.announce()
    print(f"gpufleet init: {args.stack}, a {env} stack in {region} (AZs {', '.join(replica.config.network.azs)}, "
          f"VPC {replica.config.network.cidr}) from the {env} template")
    for path, old, new in replica.changes:
        print(f"  {path}: {old!r} -> {new!r}")
    print(f"wrote {project.shown(replica.path)} and {project.shown(replica.policy_config)}; replace the values "
          f"marked `placeholder` before `pulumi up`")
    if pack:
        print(f"wrote {', '.join(project.shown(p) for p in pack)}: the project's policy pack "
              f"(`pulumi preview --policy-pack policies`)")
    hint = fleet_hint(project, args.stack, region, "standalone")
    if hint:
        print(hint)
    result = planner.render(args.stack, project)
    for warning in planner.storage_warnings(result.config, result.source):
        print(warning, file=sys.stderr)
    print()
    print(f"plan of {args.stack}: {len(result.resources)} resources (all of them: gpufleet plan {args.stack})")
    print(pools_table(result))
    for report in result.reports:
        print()
        print(report.text)
    return 1 if result.failed else 0
