"""The ``policy`` section of a plan: the CrossGuard pack (``policies/``) applied offline.

The pack's own policy functions run on the plan's recorded resources (same props as
CrossGuard's ``args.props``) through :mod:`gpufleet.policies.offline`. Thresholds come from
the stack file where it has them (environment, region, budget, always-on pools) and the
pack's defaults otherwise: :func:`pack_config` builds the same file
``pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json``
reads (written by ``gpufleet policy <stack> --write-config``).

The report reads like Checkov's: the counts of passed, failed and skipped rules, then each
violation with its level, resource, message, a fix hint and a README anchor
(:data:`FIX_HINTS`), then each skipped rule with its reason. A rule is skipped when the
config disables it, or when the stack's policy config suppresses it with a reason
(``"suppress": {"<policy>": "<reason>"}`` in ``policies/config/<stack>.json``): it still
runs and what it finds is listed as suppressed, never dropped silently.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from gpufleet.modules.schema.stack import StackConfig

from ..plan import Plan, Report
from ..project import CHECKOUT_ROOT, PACK_TEMPLATE_DIR, Project, coerce

#: The pack's directory in the checkout gpufleet runs from (``PulumiPolicy.yaml``, ``__main__.py``),
#: what ``pulumi preview --policy-pack`` is given when the user's project has no pack of its own;
#: None for an installed gpufleet (``gpufleet init`` writes a pack into the user's project).
PACK_DIR = CHECKOUT_ROOT / "policies" if CHECKOUT_ROOT is not None else None
#: the policy pack's files (``gpufleet/pack_template``), written into a project's ``policies/``
PACK_FILES = ("PulumiPolicy.yaml", "__main__.py", "requirements.txt")


def config_dir(project: Project | Path | None = None) -> Path:
    """``policies/config`` of the project (default: the current directory's): one
    ``--policy-pack-config`` file per stack."""
    return coerce(project).policy_config_dir


def __getattr__(name: str) -> Any:
    # ``CONFIG_DIR``: the current directory's project's policy config dir (found when asked,
    # never the folder gpufleet was installed from)
    if name == "CONFIG_DIR":
        return config_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_pack():
    """The pack's rules: ``gpufleet.policies`` (``policies/gpufleet_policies`` in the source
    tree), the package ``policies/__main__.py`` builds the CrossGuard pack from."""
    return importlib.import_module("gpufleet.policies")


def stack_facts(cfg: StackConfig) -> dict[str, Any]:
    """The thresholds a stack file states, under the pack's config property names."""
    facts: dict[str, Any] = {
        "environment": cfg.environment,
        "region": cfg.region,
        "alwaysOnPools": [p.name for p in cfg.pools.gpu if p.always_on],
    }
    budget = getattr(cfg.cost, "budget_usd", None)
    if budget is not None:
        facts["budgetUsd"] = float(budget)  # the pack counts it only below the environment's ceiling
    # no spotDiscount: the pack prices spot at the discount the environment's ceilings assume,
    # never at the stack's own (more hopeful) figure
    return facts


def pack_config(cfg: StackConfig, stack: str | None = None, project: Project | Path | None = None) -> dict[str, Any]:
    """``--policy-pack-config`` for this stack: each policy gets the stack facts its schema
    declares, plus its enforcement level. With ``stack``, the ``suppress`` section of the
    stack's current file is kept (:func:`with_suppressions`), so writing the file again never
    drops a suppression."""
    if stack is not None:
        return with_suppressions(pack_config(cfg), suppressions_of(stack, project))
    pack = load_pack()
    facts = stack_facts(cfg)
    out: dict[str, Any] = {}
    for policy in pack.POLICIES:
        props = policy.config_schema.properties if policy.config_schema else {}
        entry = {k: v for k, v in facts.items() if k in props}
        level = policy.enforcement_level.value if policy.enforcement_level else "advisory"
        out[policy.name] = {"enforcementLevel": level, **entry}
    return out


def config_text(cfg: StackConfig, stack: str | None = None, project: Project | Path | None = None) -> str:
    """The ``--policy-pack-config`` file of a stack, as written to ``policies/config/<stack>.json``
    (with ``stack``: keeping the current file's suppressions)."""
    return json.dumps(pack_config(cfg, stack, project), indent=1, sort_keys=True) + "\n"


def write_pack(project: Project) -> list[Path]:
    """The policy pack ``pulumi preview --policy-pack policies`` runs, written into the
    project's ``policies/`` when it has none (no ``PulumiPolicy.yaml``): gpufleet's rules
    (``gpufleet.policies``), its ``requirements.txt`` pinning pulumi-policy and gpufleet at
    this version. Never overwrites a file; returns the files written."""
    from importlib.metadata import version
    from string import Template

    from ..atomic_file import all_or_nothing, write_atomic

    pack = project.root / "policies"
    if (pack / "PulumiPolicy.yaml").is_file():
        return []
    pack.mkdir(parents=True, exist_ok=True)
    written = []
    with all_or_nothing():  # the whole pack or none of it
        for name in PACK_FILES:
            target = pack / name
            if not target.exists():
                text = (PACK_TEMPLATE_DIR / name).read_text(encoding="utf-8")
                written.append(write_atomic(target, Template(text).substitute(gpufleet_version=version("gpufleet")),
                                            exclusive=True, shown=project.shown(target)))
    return written


def write_config(cfg: StackConfig, stack: str, project: Project | Path | None = None) -> Path:
    """Write ``policies/config/<stack>.json`` into the project (created when missing)."""
    from ..atomic_file import write_atomic

    proj = coerce(project)
    target = proj.policy_config(stack)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = config_text(cfg, stack, project)  # read the current file's suppressions before writing
    return write_atomic(target, text, shown=proj.shown(target))


# ---------------------------------------------------------------- suppressions

#: The README's anchors for the pack (sections of "Policies"): every rule's row, and how its
#: config (levels, thresholds, suppressions) works.
README = "README.md"
RULES_DOC = f"{README}#the-rules"
CONFIG_DOC = f"{README}#config-offline-and-for-pulumi-preview"

#: Where a user's exception to a rule goes: the one entry of the stack's policy config that is
#: not derived from the stack file (:func:`suppressions_of`; every threshold in that file is
#: :func:`pack_config`'s, and ``gpufleet check`` calls a hand-edited value stale).
_OR_SUPPRESS = 'or suppress the rule for this stack with a reason ("suppress" in policies/config/<stack>.json)'
#: The thresholds a stack cannot change, and whose they are (``.github/CODEOWNERS``).
_DEFAULTS = "the policy pack's defaults (policies/gpufleet_policies/defaults.py)"
_CEILINGS = "the environment's ceilings (modules/data/environment_ceilings.json)"
_ASK = "ask the platform team to change"
#: After a change to what the pack config derives from the stack (environment, budget,
#: always-on pools): the committed file must match again.
_REWRITE = "then gpufleet policy <stack> --write-config"

#: What to change when a rule fails (Checkov's "guide"): a key of the stack file
#: (``gpufleet:<key path>``), else a suppression with its reason, else whom to ask. Never a
#: threshold of the pack config: offline the pack config is derived from the stack file and
#: the environment (:func:`pack_config`), so editing one changes nothing but makes the file
#: stale. Rules on properties gpufleet always sets (encryption, IMDSv2, tags) fail only on
#: resources a program of the user's own adds (the library path, ``gpufleet.build``).
FIX_HINTS: dict[str, str] = {
    "system-pool-within-ceilings": "pick gpufleet:pools.system.instance_types from the environment's system "
                                   "families and vCPU size, and keep gpufleet:pools.system.max within its node "
                                   f"limit; these limits are in {_CEILINGS}: {_ASK} them",
    "gpu-pool-scale-to-zero": "set the pool's gpufleet:pools.gpu[].min to 0, or gpufleet:pools.gpu[].always_on: true "
                              f"if it must keep nodes running ({_REWRITE})",
    "spot-for-training-outside-prod": "set the training pool's gpufleet:pools.gpu[].capacity: spot, with at least "
                                      "two gpufleet:pools.gpu[].instance_types",
    "no-spot-for-prod-inference": "set the inference pool's gpufleet:pools.gpu[].capacity: on-demand",
    "gpu-instance-type-allowlist": "use instance types the environment allows in gpufleet:pools.gpu[].instance_types, "
                                   f"{_OR_SUPPRESS}; the allowlist of each environment is in {_DEFAULTS}: {_ASK} it",
    "max-gpu-nodes-per-pool": f"lower the pool's gpufleet:pools.gpu[].max to the cap, {_OR_SUPPRESS}; the cap of each "
                              f"environment is in {_DEFAULTS}: {_ASK} it",
    "max-gpu-nodes-per-stack": "lower the GPU pools' gpufleet:pools.gpu[].max so they add up to the cap, "
                               f"{_OR_SUPPRESS}; the cap of each environment is in {_DEFAULTS}: {_ASK} it",
    "gpu-spend-within-budget": "lower gpufleet:pools.gpu[].max (or gpufleet:pools.system.max), move pools to "
                               "gpufleet:pools.gpu[].capacity: spot, or raise gpufleet:cost.budget_usd up to the "
                               f"environment's ceiling ({_REWRITE}); the ceiling and the spot discount the pack "
                               f"assumes are in modules/data/environment_ceilings.json: {_ASK} them",
    "cost-tool-installed": "keep gpufleet:cost.tool (kubecost or opencost); a program of your own built on "
                           "gpufleet.foundation() also composes the cost layer (compose_cost)",
    "cost-allocation-tags": "set gpufleet:tags.team, gpufleet:tags.cost-center, gpufleet:tags.env and "
                            "gpufleet:tags.project; a resource your own program adds takes tags=platform.tagger(name)",
    "single-nat-outside-prod": "set gpufleet:network.nat: single (or instance) outside prod",
    "nat-gateways-in-prod": "set gpufleet:network.nat: per_az (or single) in prod, never instance",
    "eks-version-offered": "set gpufleet:cluster.version to a version EKS offers today, one minor version above "
                           "the cluster's at a time (modules/data/eks_versions.json lists them)",
    "eks-version-standard-support": "move gpufleet:cluster.version up one minor version (the warning names it); "
                                    "until then the control plane bills the extended-support price",
    "eks-endpoint-not-public": "set gpufleet:cluster.endpoint.public: false, or narrow "
                               "gpufleet:cluster.endpoint.public_cidrs (never 0.0.0.0/0); how broad they may be is in "
                               f"{_CEILINGS}: {_ASK} it",
    "eks-secrets-encryption": "gpufleet's cluster always encrypts secrets with the stack's KMS key; a cluster your "
                              "own program adds needs encryptionConfig with resources [secrets] and a KMS key",
    "imdsv2-required": "gpufleet's launch templates require IMDSv2; a launch template or instance your own "
                       "program adds needs metadataOptions httpTokens: required and httpPutResponseHopLimit: 1",
    "efs-encrypted": "gpufleet's file system (gpufleet:storage.efs) is always encrypted; one your own program adds "
                     "needs encrypted: true (it cannot change in place: a new file system)",
    "s3-encrypted": "gpufleet's buckets are encrypted with the stack's KMS key; a bucket your own program adds "
                    "needs a BucketServerSideEncryptionConfiguration (aws:kms with a bucket key)",
    "s3-public-access-blocked": "gpufleet's buckets block public access; a bucket your own program adds needs a "
                                "BucketPublicAccessBlock with all four flags true",
    "kueue-quota-within-capacity": "lower the teams' gpufleet:teams[].shares or raise the pool's "
                                   "gpufleet:pools.gpu[].max so the quotas fit the pool",
    "timeslice-replicas-bound": "set the pool's gpufleet:pools.gpu[].replicas within the bounds the message "
                                f"names, {_OR_SUPPRESS}; the bounds are in {_DEFAULTS}: {_ASK} them",
}
GENERIC_HINT = "see the rule's row in the README"


def guide(policy: str) -> tuple[str, str]:
    """(fix hint, docs anchor) of a policy."""
    return FIX_HINTS.get(policy, GENERIC_HINT), RULES_DOC


def suppressions_of(stack: str, project: Project | Path | None = None) -> dict[str, str]:
    """``suppress`` of the stack's policy config (``policies/config/<stack>.json`` of the
    project; none when the project or the file is missing), checked by the pack's rules
    (a policy of the pack, a non-empty reason): a bad entry is a ConfigError naming the file."""
    from gpufleet.modules import config as stack_config

    from ..project import find_optional

    proj = coerce(project) if project is not None else find_optional()
    if proj is None:
        return {}
    path = proj.policy_config(stack)
    if not path.is_file():
        return {}
    shown = proj.shown(path)
    doc = stack_config.read_json_file(path, "policy pack config", shown=shown)
    if not isinstance(doc, dict):
        raise stack_config.ConfigError(shown, "(file)", doc, "a --policy-pack-config object")
    load_pack()
    offline = importlib.import_module("gpufleet.policies.offline")
    try:
        return offline.suppressions(doc)
    except offline.SuppressionError as exc:
        # a policy name that is a key of "suppress" is shown whole, as key paths are; values are excerpts
        given = stack_config.Verbatim(exc.given) if exc.key_path == "suppress" and isinstance(exc.given, str) else exc.given
        raise stack_config.ConfigError(shown, exc.key_path, given, exc.expected) from None


def with_suppressions(config: dict[str, Any], suppressed: dict[str, str]) -> dict[str, Any]:
    """``config`` with the ``suppress`` section; a suppressed rule is ``advisory``, so
    ``pulumi preview`` still prints what it finds but does not block on it."""
    if not suppressed:
        return config
    out = dict(config)
    for name in suppressed:
        out[name] = {**out.get(name, {}), "enforcementLevel": "advisory"}
    out["suppress"] = dict(sorted(suppressed.items()))
    return out


# ---------------------------------------------------------------- verdicts

def evaluation(plan: Plan, config: dict[str, Any] | None = None):
    """Every rule's outcome on the plan (``gpufleet.policies.offline.Evaluation``): the
    stack's pack config with its suppressions, unless ``config`` is given. The suppressions
    are those of the project the plan was rendered from (``plan.origin``), wherever the
    current directory is; a plan without one (run from a config alone) reads the current
    directory's project."""
    offline = importlib.import_module("gpufleet.policies.offline")
    if config is None:
        config = pack_config(plan.config, plan.stack, plan.origin)
    return offline.evaluate(plan.resources, config)


def violations(plan: Plan, config: dict[str, Any] | None = None) -> list:
    """The violations in force (suppressed ones are skipped, see :func:`evaluation`)."""
    return evaluation(plan, config).violations


def _where(v) -> str:
    return f"resource {v.name}" if v.name else ("resource " + v.resource if v.resource else "the stack")


def report(plan: Plan) -> Report:
    """Checkov-style: the counts of passed, failed and skipped rules; each violation with its
    level, resource, message, a fix hint and a docs anchor; each skipped rule with its reason
    (and what a suppressed rule found)."""
    pack = load_pack()
    result = evaluation(plan)
    counts = result.counts()
    found = result.violations
    mandatory = [v for v in found if v.level == "mandatory"]

    def entry(v) -> dict[str, Any]:
        fix, docs = guide(v.policy)
        return v.to_json() | {"name": v.name, "fix": fix, "docs": docs}

    skipped = [r for r in result.rules if r.status == "skipped"]
    data = {
        "pack": pack.PACK_NAME,
        "summary": counts,
        "violations": [entry(v) for v in found],
        "skipped": [{"policy": r.policy, "level": r.level, "reason": r.reason, "docs": CONFIG_DOC,
                     "violations": [entry(v) for v in r.violations]} for r in skipped],
        "rules": [{"policy": r.policy, "level": r.level, "status": r.status} for r in result.rules],
    }
    lines = [(f"Policy pack {pack.PACK_NAME}: {counts['rules']} rules: {counts['passed']} passed, "
              f"{counts['failed']} failed ({len(mandatory)} mandatory), {counts['skipped']} skipped")]
    for v in found:
        fix, docs = guide(v.policy)
        lines += ["", f"FAILED  {v.policy} ({v.level}) on {_where(v)}",
                  f"        {v.message}",
                  f"        fix:  {fix}",
                  f"        docs: {docs}"]
    for r in skipped:
        lines += ["", f"SKIPPED {r.policy}: {r.reason}"]
        lines += [f"        suppressed: {v.message} ({_where(v)})" for v in r.violations]
        lines.append(f"        docs: {CONFIG_DOC}")
    return Report(key="policy", data=data, text="\n".join(lines), failed=bool(mandatory))
