"""``gpufleet fleet plan|preview|up``: every cluster of the project's fleet file (``stacks/fleet.yaml``) at once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = (("gpufleet fleet plan", "render every cluster of the project's fleet file offline and summarise each"),)
ACTION_EXAMPLES = {
    "plan": (("gpufleet fleet plan --jobs 2", "every cluster of the fleet file, two at a time"),),
    "preview": (("gpufleet fleet preview --concurrency 3", "pulumi preview --diff for every cluster"),),
    "up": (("gpufleet fleet up", "pulumi up for every cluster, the primary first"),),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fleet", help="plan, preview or deploy every cluster named in the project's fleet file "
                                     "(stacks/fleet.yaml)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    plan = actions.add_parser("plan", help="render every cluster offline, in parallel, and summarise each")
    plan.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count; 1: in-process)")
    for name, text in (("preview", "pulumi preview --diff for every cluster (Automation API)"),
                       ("up", "pulumi up for every cluster, the primary first (Automation API)")):
        a = actions.add_parser(name, help=text)
        a.add_argument("--concurrency", type=int, default=2, help="clusters at a time after the primary (default 2)")
        a.add_argument("--no-policy", action="store_true", help="run without --policy-pack policies")
        a.add_argument("--project-dir", type=Path, default=None,
                       help="the Pulumi project to run pulumi in (default: the project gpufleet acts on)")
    for a in (plan, *[actions.choices[n] for n in ("preview", "up")]):
        a.add_argument("--fleet", type=Path, default=None,
                       help="the fleet file (default: fleet.yaml in the project's stacks dir)")
        a.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import fleet
    from ..project import of
    from ..replicate import BadInput

    project = of(args)
    try:
        spec = fleet.load(args.fleet, project)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.action == "plan":
        if args.jobs is not None and args.jobs < 1:
            print("error: --jobs: expected a number of worker processes ≥ 1", file=sys.stderr)
            return 2
        project.announce()
        progress = fleet.Progress(len(spec.clusters), sys.stderr)
        summaries = fleet.plan_fleet(spec, args.jobs, progress)
        print(f"gpufleet fleet plan: {len(summaries)} clusters from {project.shown(spec.source)} "
              f"in {progress_elapsed(progress):.1f}s")
        print(fleet.summary_table(summaries))
        if spec.global_stack:
            g = spec.global_stack
            print(f"global stack {g.stack} (read through a StackReference): "
                  f"{', '.join(g.outputs) or 'no outputs named'}")
        return 1 if any(s.failed or s.error for s in summaries) else 0
    return deploy(args, spec, project)


def progress_elapsed(progress) -> float:
    import time

    return time.perf_counter() - progress.start


def deploy(args: argparse.Namespace, spec, project) -> int:
    """Exit 3 (an external service failed) when pulumi is missing or fails for a cluster."""
    from pulumi import automation as auto

    from .. import fleet, fleet_deploy
    from ..exit_codes import EXTERNAL, OK

    try:
        command = auto.PulumiCommand()
    except FileNotFoundError:
        print("error: the pulumi CLI is not installed (fleet preview/up drive it through the Automation API): "
              "install it from https://www.pulumi.com/docs/install/ and log in to your backend", file=sys.stderr)
        return EXTERNAL
    except auto.errors.InvalidVersionError as exc:
        print(f"error: the installed pulumi CLI is too old for this SDK: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXTERNAL
    project.announce()
    progress = fleet.Progress(len(spec.clusters), sys.stderr, label=f"fleet {args.action}")
    results = fleet_deploy.deploy(spec, args.action, args.project_dir or project.root, args.concurrency, command,
                                  None if args.no_policy else policy_pack(project), progress)
    print(fleet_deploy.deploy_table(results))
    return EXTERNAL if any(r.error for r in results) else OK


def policy_pack(project) -> str:
    """The ``--policy-pack`` directory: the project's own ``policies/`` when it has a pack
    there (``gpufleet init`` writes one; this repository has its own), else the pack of the
    checkout gpufleet runs from. An installed gpufleet has no pack to fall back to: a
    one-line error, exit 2."""
    from ..exit_codes import BadInputError
    from ..reports.policy import PACK_DIR

    own = project.root / "policies"
    for pack in (own, PACK_DIR):
        if pack is not None and (pack / "PulumiPolicy.yaml").is_file():
            return str(pack)
    raise BadInputError(f"no policy pack for --policy-pack: {project.shown(own / 'PulumiPolicy.yaml')} is missing "
                        f"(`gpufleet init` writes the pack into a project that has none), or run without one: "
                        f"--no-policy")
