"""Why the replacement guard (:mod:`gpufleet.diff`) calls a change a replacement.

``REPLACE_RULES`` is the one table of which properties force a replacement: updates to a
property the provider cannot change in place, so the resource is deleted and created again
(a new cluster, new nodes, an empty file system). :func:`replacements` applies it to the
resources paired across two plans, following references (a replaced launch template
replaces its node group; a provider in another region replaces everything it manages),
and says why, in words, for each one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .diff_plan import MISSING, Placeholders, Resource, get

LT = "aws:ec2/launchTemplate:LaunchTemplate"
ROLE = "aws:iam/role:Role"
KMS = "aws:kms/key:Key"
SUBNET = "aws:ec2/subnet:Subnet"
VPC = "aws:ec2/vpc:Vpc"


@dataclass(frozen=True)
class Rule:
    """A property (dotted path into the wire inputs) whose change forces a replacement.

    ``when``: ``changed`` (any difference, including set or unset), ``removed`` (set in the
    base, gone in the head), ``modified`` (set in both, different). ``ref``: the value is an
    output of another resource of that type (an id, an ARN); under the mock engine such
    values are placeholders, so the rule compares *which* resource is referenced (through
    the recorded dependencies) and whether that resource is itself replaced.
    """

    path: str
    when: Literal["changed", "removed", "modified"] = "changed"
    ref: str | None = None


#: type -> the properties that cannot change in place (from the AWS provider's ForceNew
#: schema). A changed launch template *version* is an in-place rolling update of the
#: node group; a different launch template (id) is a new node group.
REPLACE_RULES: dict[str, tuple[Rule, ...]] = {
    "aws:eks/cluster:Cluster": (
        Rule("name"),
        Rule("roleArn", ref=ROLE),
        Rule("encryptionConfig", when="removed"),
        Rule("encryptionConfig.provider.keyArn", when="modified", ref=KMS),
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        Rule("nodeGroupName"),
        Rule("clusterName"),
        Rule("nodeRoleArn", ref=ROLE),
        Rule("amiType"),
        Rule("capacityType"),
        Rule("instanceTypes"),
        Rule("subnetIds", ref=SUBNET),
        Rule("launchTemplate.id", ref=LT),
        Rule("launchTemplate.name"),
    ),
    LT: (Rule("name"), Rule("namePrefix")),
    "aws:efs/fileSystem:FileSystem": (
        Rule("encrypted"),
        Rule("kmsKeyId", ref=KMS),
        Rule("performanceMode"),
        Rule("creationToken"),
        Rule("availabilityZoneName"),  # One Zone file systems
    ),
    "aws:s3/bucket:Bucket": (Rule("bucket"), Rule("bucketPrefix")),
    "aws:s3/bucketV2:BucketV2": (Rule("bucket"), Rule("bucketPrefix")),
    # A replaced key makes everything encrypted with it unreadable once it is deleted.
    KMS: (Rule("keyUsage"), Rule("keySpec"), Rule("customerMasterKeySpec"), Rule("multiRegion")),
    # A new release name or namespace uninstalls the chart and installs it again.
    "kubernetes:helm.sh/v3:Release": (Rule("name"), Rule("namespace")),
    SUBNET: (Rule("vpcId", ref=VPC), Rule("cidrBlock"), Rule("availabilityZone")),
    VPC: (Rule("cidrBlock"),),
    # An explicit provider in another region replaces every resource it manages.
    "pulumi:providers:aws": (Rule("region"),),
}


@dataclass
class Reason:
    """A changed property: its path, the values before and after (as shown: placeholders
    named) and, for a replacement, why it forces one."""

    path: str
    base: Any
    head: Any
    why: str = ""


def replacements(old: dict[str, Resource], new: dict[str, Resource], pairs: dict[str, str],
                 shown: Placeholders) -> dict[str, list[Reason]]:
    """The head keys of the paired resources (``pairs``: head key -> base key) that are
    replaced, with the reasons. Replacements propagate (a replaced launch template replaces
    its node group; a provider in another region replaces everything it manages): the rules
    are applied again until nothing more is replaced."""
    replaced: dict[str, list[Reason]] = {}
    while True:
        grew = False
        for hk, bk in pairs.items():
            if hk in replaced:
                continue
            reasons = _forced(old[bk], new[hk], pairs, replaced, shown)
            if reasons:
                replaced[hk] = reasons
                grew = True
        if not grew:
            return replaced


def same_references(o: Resource, n: Resource, pairs: dict[str, str], replaced: dict[str, Any]) -> set[str]:
    """The reference properties of ``n`` that point at the same, unreplaced resources as in
    ``o``: their values differ only by the mock engine's made-up ids, so they are no change."""
    return {r.path for r in REPLACE_RULES.get(n.doc["type"], ()) if r.ref and _ref_same(r, o, n, pairs, replaced)}


def _ref_same(rule: Rule, o: Resource, n: Resource, pairs: dict[str, str], replaced: dict[str, Any]) -> bool | None:
    """For a reference rule: True if both point at the same, unreplaced resources; False if
    not; None if the references cannot be told from the dependencies (compare values)."""
    if rule.ref is None:
        return None
    before, after = o.deps(rule.ref), n.deps(rule.ref)
    if not before or not after:
        return None
    if {pairs.get(h, h) for h in after} != before:
        return False
    return not any(h in replaced for h in after)


def _forced(o: Resource, n: Resource, pairs: dict[str, str], replaced: dict[str, list[Reason]],
            shown: Placeholders) -> list[Reason]:
    """Why ``o`` (base) becomes ``n`` (head) only by a replacement (empty: it does not)."""
    reasons: list[Reason] = []
    for rule in REPLACE_RULES.get(n.doc["type"], ()):
        b, h = get(o.inputs, rule.path), get(n.inputs, rule.path)
        if b is MISSING and h is MISSING:
            continue
        if rule.when == "removed" and not (b is not MISSING and h is MISSING):
            continue
        if rule.when == "modified" and (b is MISSING or h is MISSING):
            continue
        same = _ref_same(rule, o, n, pairs, replaced)
        if same is None:
            same = b == h
        if not same:
            detail = _ref_why(rule, o, n, replaced) if rule.ref else ""
            why = f"replace-on-change: {rule.path}: {detail}" if detail else _rule_why(rule, n.doc["type"])
            reasons.append(Reason(rule.path, shown(b), shown(h), why))
    prov = n.provider
    if prov in replaced and not reasons:
        reasons.append(Reason("(provider)", None, None, f"its provider {prov.rsplit('::', 1)[-1]} is replaced"))
    return reasons


def _ref_why(rule: Rule, o: Resource, n: Resource, replaced: dict[str, Any]) -> str:
    """A reference rule's reason: the referenced resource is replaced, or another one is referenced."""
    after = n.deps(rule.ref or "")
    gone = [h for h in after if h in replaced]
    noun = (rule.ref or "").rsplit(":", 1)[-1]
    if gone:
        return f"{noun} {', '.join(h.rsplit('::', 1)[-1] for h in sorted(gone))} is replaced"
    if after and o.deps(rule.ref or ""):
        return f"now refers to {noun} {', '.join(h.rsplit('::', 1)[-1] for h in sorted(after))}"
    return ""


def _rule_why(rule: Rule, typ: str) -> str:
    """Why a rule's property forces a replacement, in words."""
    noun = typ.rsplit(":", 1)[-1]
    if rule.when == "removed":
        return (f"replace-on-change: {rule.path} can be added in place but not removed; the provider deletes the "
                f"{noun} and creates a new one")
    return (f"replace-on-change: {rule.path} cannot be updated in place; the provider deletes the {noun} and "
            f"creates a new one")


# ---------------------------------------------------------------- in-place updates worth explaining

def _minor(value: Any) -> int | None:
    text = str(value or "")
    parts = text.split(".")
    return int(parts[1]) if len(parts) == 2 and parts[0] == "1" and parts[1].isdigit() else None


def _cluster_upgrade(base: Any, head: Any) -> str:
    step = (_minor(head) or 0) - (_minor(base) or 0)
    if step > 1:
        return (f"EKS refuses this: a control-plane upgrade moves one minor version at a time ({base} -> "
                f"1.{(_minor(base) or 0) + 1} first, then on); split it into one stack change per version")
    if step < 0:
        return "EKS cannot downgrade a control plane: the update fails (a new cluster would be needed)"
    return ("control-plane upgrade in place (EKS: one minor version at a time, about 10 to 25 minutes; the API stays "
            "up); the node groups and the unpinned add-ons follow it, below")


#: (type, property) -> why an in-place change of it matters, given the old and new values. The
#: roll that a Kubernetes upgrade sets off (EKS user guide "Update existing cluster to new
#: Kubernetes version" and "Update a managed node group for your cluster").
UPDATE_NOTES: dict[tuple[str, str], Callable[[Any, Any], str]] = {
    ("aws:eks/cluster:Cluster", "version"): _cluster_upgrade,
    ("aws:eks/nodeGroup:NodeGroup", "version"): lambda base, head: (
        f"rolling update of the nodes onto Kubernetes {head}'s newest AMI release, after the control plane: EKS "
        f"adds new nodes, cordons and drains the old ones (updateConfig.maxUnavailable at a time; pods get their "
        f"PodDisruptionBudgets and a 15-minute grace) and removes them"),
    ("aws:eks/addon:Addon", "addonVersion"): lambda base, head: (
        "the add-on moves to EKS's default version for the new Kubernetes version, in place, after the control "
        "plane (a version pinned in cluster.addon_versions or storage.addon_versions stays where it is pinned)"),
}


def update_note(typ: str, path: str, base: Any, head: Any) -> str:
    """Why an in-place change matters ('' for most)."""
    note = UPDATE_NOTES.get((typ, path))
    return note(base, head) if note else ""
