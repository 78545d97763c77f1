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
from ..project import CHECKOUT_ROOT, Project, coerce

#: The pack's directory in the checkout gpufleet runs from (``PulumiPolicy.yaml``, ``__main__.py``),
#: what ``pulumi preview --policy-pack`` is given when the user's project has no pack of its own;
#: None for an installed gpufleet (``gpufleet init`` writes a pack into the user's project).
PACK_DIR = CHECKOUT_ROOT / "policies" if CHECKOUT_ROOT is not None else None


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


def write_config(cfg: StackConfig, stack: str, project: Project | Path | None = None) -> Path:
    """Write ``policies/config/<stack>.json`` into the project (created when missing)."""
    target = coerce(project).policy_config(stack)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = config_text(cfg, stack, project)  # read the current file's suppressions before writing
    target.write_text(text)
    return target


# ---------------------------------------------------------------- suppressions

#: The README's anchors for the pack (sections of "Policies"): every rule's row, and how its
#: config (levels, thresholds, suppressions) works.
README = "README.md"
RULES_DOC = f"{README}#the-rules"
CONFIG_DOC = f"{README}#config-offline-and-for-pulumi-preview"

#: What to change when a rule fails (Checkov's "guide"): stack keys first, the rule's config second.
FIX_HINTS: dict[str, str] = {
    "system-pool-within-ceilings": "pick gpufleet:pools.system instance_types, size and max within the environment's "
                                   "ceilings (modules/data/environment_ceilings.json)",
    "gpu-pool-scale-to-zero": "set the pool's min to 0 (gpufleet:pools.gpu[].min), or always_on: true if it must "
                              "keep nodes running",
    "spot-for-training-outside-prod": "set the training pool's capacity: spot (gpufleet:pools.gpu[].capacity) with at "
                                      "least two instance_types",
    "no-spot-for-prod-inference": "set the inference pool's capacity: on-demand (gpufleet:pools.gpu[].capacity)",
    "gpu-instance-type-allowlist": "use an instance type the environment allows (gpufleet:pools.gpu[].instance_types), "
                                   "or widen allowedInstanceTypes in the stack's policy config",
    "max-gpu-nodes-per-pool": "lower the pool's max (gpufleet:pools.gpu[].max), or raise maxNodes in the stack's "
                              "policy config",
    "max-gpu-nodes-per-stack": "lower the GPU pools' max (gpufleet:pools.gpu[].max) so they add up to the cap, or "
                               "raise maxNodes in the stack's policy config",
    "gpu-spend-within-budget": "lower pool max sizes, move pools to spot, or raise gpufleet:cost.budget_usd "
                               "(within the environment's ceiling); then gpufleet policy <stack> --write-config",
    "cost-tool-installed": "keep the cost tool installed (Kubecost or OpenCost, gpufleet:cost.tool)",
    "cost-allocation-tags": "set gpufleet:tags (team, cost-center, env, project) and pass tags=ctx.tagger(...) to "
                            "the resource",
    "single-nat-outside-prod": "set gpufleet:network.nat: single (or instance) outside prod",
    "nat-gateways-in-prod": "use NAT gateways in prod (gpufleet:network.nat: per_az), not a NAT instance",
    "eks-version-standard-support": "upgrade gpufleet:cluster.version to a version in EKS standard support "
                                    "(modules/data/eks_versions.json)",
    "eks-endpoint-not-public": "set gpufleet:cluster.endpoint.public: false, or narrow public_cidrs (never "
                               "0.0.0.0/0)",
    "eks-secrets-encryption": "keep the cluster's encryptionConfig: secrets encrypted with the stack's KMS key",
    "imdsv2-required": "set metadataOptions httpTokens: required and httpPutResponseHopLimit: 1 on the launch "
                       "template",
    "efs-encrypted": "create the file system with encrypted: true (it cannot change in place: a new file system)",
    "s3-encrypted": "add a BucketServerSideEncryptionConfiguration (aws:kms with a bucket key) for the bucket",
    "s3-public-access-blocked": "add a BucketPublicAccessBlock with all four flags true for the bucket",
    "kueue-quota-within-capacity": "lower the teams' shares (gpufleet:teams[].shares) or raise the pool's max so "
                                   "the quotas fit the pool",
    "timeslice-replicas-bound": "set the pool's replicas (gpufleet:pools.gpu[].replicas) within the bounds "
                                "(minReplicas..maxReplicas of the stack's policy config)",
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
        raise stack_config.ConfigError(shown, exc.key_path, exc.given, exc.expected) from None


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
