"""Replacement guard: compare two plans by URN and find what ``pulumi up`` would destroy.

A plan is the document ``gpufleet plan --json`` prints (or a stack rendered on the spot).
Resources are matched by URN (without the stack segment, and following ``aliases``; a plan
saved before gpufleet emitted the URNs Pulumi assigns still matches, see :func:`key`);
the result is the adds, deletes, in-place updates and, above all, the **replacements**:
updates to a property the provider cannot change in place, so the resource is deleted
and created again (a new cluster, new nodes, an empty file system). Deleting a resource
marked ``protect`` is reported too. ``REPLACE_RULES`` below is the one table of which
properties force a replacement; everything else follows from it.

Every change carries its values, old and new (an update's changed properties; the property
that forces a replacement and why). Values the mock engine made up (ids, ARNs of resources
in the plan) are shown as what they stand for (``<id of network-private-us-east-1a>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from .exit_codes import BadInputError

#: The marker Pulumi puts in a secret value on the wire.
SECRET_SIG = "4dabf18193072939515e22adb298388d"

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


class DiffInputError(BadInputError):
    """A base or head that is not a plan: ``str()`` is the one-line message (exit 2)."""


# ---------------------------------------------------------------- loading plans

def load(spec: str) -> dict[str, Any]:
    """A plan document from a plan JSON file, a stack file or a stack name. A file that
    cannot be read (missing, a directory, too large, not UTF-8, invalid JSON) is a ConfigError."""
    from gpufleet.modules import config as stack_config

    path = Path(spec)
    is_yaml = spec.endswith((".yaml", ".yml"))
    if spec.endswith(".json") or (path.is_file() and not is_yaml):
        doc = stack_config.read_json_file(path, "plan file (the output of `gpufleet plan --json`)", shown=spec)
        check(doc, spec)
        return doc
    return render(spec)


def render(stack_or_path: str) -> dict[str, Any]:
    """Render a stack (name or file) under the mock engine, without the plan's reports
    (cost, policy): the guard compares resources only. A bad stack raises ConfigError."""
    from gpufleet.modules import config as stack_config

    from . import plan as planner

    path, stack, shown = planner.resolve(stack_or_path)
    if not path.exists():  # a directory, device or unreadable file: the reader names the problem
        expected = f"a stack name with a file {stack_config.STACKS_DIR}/Pulumi.<stack>.yaml, or a path to one"
        raise stack_config.ConfigError(shown, "(file)", stack_or_path, expected)
    cfg, raw = stack_config.from_file(path, shown)
    return planner.run_program(cfg, raw, stack, shown).to_json()


def check(doc: Any, source: str) -> None:
    """Refuse anything that is not the shape ``gpufleet plan --json`` prints (one line:
    file, key, value, what a plan has there)."""
    from gpufleet.modules.config import ConfigError

    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
        where, given = ("resources", doc.get("resources")) if isinstance(doc, dict) and "resources" in doc else ("(file)", doc)
        raise DiffInputError(str(ConfigError(source, where, given, "a plan: a JSON object with a \"resources\" list "
                                                                    "(the output of `gpufleet plan --json`)")))
    for i, r in enumerate(doc["resources"]):
        if not (isinstance(r, dict) and isinstance(r.get("urn"), str) and isinstance(r.get("type"), str)
                and isinstance(r.get("inputs"), dict) and isinstance(r.get("options", {}), dict)):
            raise DiffInputError(str(ConfigError(source, f"resources[{i}]", r, "a plan's resource: \"urn\" and "
                                                 "\"type\" strings, an \"inputs\" object")))


# ---------------------------------------------------------------- the comparison

LEGACY_ROOT = "pulumi:pulumi:Stack$"


def key(urn: str, legacy: bool = False) -> str:
    """A URN without its stack segment: ``project::parent types$type::name``.

    ``legacy``: the parent types cut to the last one, as in plans written before gpufleet
    emitted the URNs Pulumi assigns (its mock engine kept only the parent's last type and
    put ``pulumi:pulumi:Stack$`` before top-level types): a plan of either shape then
    matches a plan of the other, resource by resource."""
    parts = urn.split("::", 3)
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
        return urn
    project, qualified, name = parts[1:]
    if legacy:
        chain = qualified.removeprefix(LEGACY_ROOT).split("$")
        qualified = "$".join(chain[-2:])
    return f"{project}::{qualified}::{name}"


def is_legacy(doc: dict[str, Any]) -> bool:
    """A plan with the mock engine's old URNs (``...::pulumi:pulumi:Stack$<type>::...``)."""
    return any(isinstance(r.get("urn"), str) and f"::{LEGACY_ROOT}" in r["urn"] for r in doc.get("resources", []))


def provider_key(ref: str | None, legacy: bool = False) -> str | None:
    """``urn::id`` (how a resource names its provider) to the provider's key."""
    return key(ref.rsplit("::", 1)[0], legacy) if ref else None


def type_of(k: str) -> str:
    return k.split("::")[1].split("$")[-1] if k.count("::") >= 2 else ""


MISSING = object()


def get(inputs: dict[str, Any], path: str) -> Any:
    node: Any = inputs
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def leaf_changes(base: Any, head: Any, prefix: str = "") -> list[str]:
    """Dotted paths that differ (objects are walked, lists and scalars compared whole)."""
    if isinstance(base, dict) and isinstance(head, dict) and SECRET_SIG not in base and SECRET_SIG not in head:
        out: list[str] = []
        for k in sorted(set(base) | set(head), key=str):
            out += leaf_changes(base.get(k, MISSING), head.get(k, MISSING), f"{prefix}{k}.")
        return out
    return [prefix[:-1]] if base != head else []


def value_changes(base: Any, head: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """What differs, as ``(path, old, new)``, for people to read: objects are walked, and so
    are lists of the same length (``spec.resourceGroups[0].flavors[1].name``); other lists
    and scalars are compared whole. A path covers the same values as :func:`leaf_changes`'."""
    if isinstance(base, dict) and isinstance(head, dict) and SECRET_SIG not in base and SECRET_SIG not in head:
        out: list[tuple[str, Any, Any]] = []
        for k in sorted(set(base) | set(head), key=str):
            out += value_changes(base.get(k, MISSING), head.get(k, MISSING), f"{prefix}{k}.")
        return out
    if isinstance(base, list) and isinstance(head, list) and len(base) == len(head) and prefix:
        out = []
        for i, (b, h) in enumerate(zip(base, head)):
            out += value_changes(b, h, f"{prefix[:-1]}[{i}].")
        return out
    return [(prefix[:-1], base, head)] if base != head else []


def covered(path: str, prefixes: Iterable[str]) -> bool:
    """``path`` is one of ``prefixes`` or inside one (an object key or a list item)."""
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


@dataclass
class Reason:
    """A changed property: its path, the values before and after (as shown: placeholders
    named) and, for a replacement, why it forces one."""

    path: str
    base: Any
    head: Any
    why: str = ""


@dataclass
class Change:
    key: str
    urn: str
    type: str
    name: str
    action: Literal["add", "delete", "update", "replace"]
    paths: list[str] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    #: each changed path's values, old and new (``why`` empty)
    values: list[Reason] = field(default_factory=list)
    protected: bool = False
    retained: bool = False
    renamed_from: str | None = None


@dataclass
class Resource:
    key: str
    doc: dict[str, Any]
    legacy: bool = False

    @property
    def inputs(self) -> dict[str, Any]:
        return self.doc.get("inputs", {})

    @property
    def options(self) -> dict[str, Any]:
        return self.doc.get("options", {}) or {}

    def deps(self, typ: str) -> set[str]:
        keys = (key(u, self.legacy) for u in self.options.get("depends_on", []))
        return {k for k in keys if type_of(k) == typ}


@dataclass
class PlanDiff:
    base: str
    head: str
    base_stack: str
    head_stack: str
    changes: list[Change]
    unchanged: int

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    @property
    def protected_deletes(self) -> list[Change]:
        return [c for c in self.changes if c.action == "delete" and c.protected]

    @property
    def blocking(self) -> bool:
        """A replacement or a protected delete: the guard fails unless it is allowed."""
        return bool(self.of("replace") or self.protected_deletes)

    def summary(self) -> dict[str, int]:
        return {a: len(self.of(a)) for a in ("add", "delete", "update", "replace")} | {"unchanged": self.unchanged}


def compare(base_doc: dict[str, Any], head_doc: dict[str, Any], base: str = "base", head: str = "head") -> PlanDiff:
    """Compare two plan documents (already checked) resource by resource."""
    legacy = is_legacy(base_doc) or is_legacy(head_doc)
    old = {key(r["urn"], legacy): Resource(key(r["urn"], legacy), r, legacy) for r in base_doc["resources"]}
    new = {key(r["urn"], legacy): Resource(key(r["urn"], legacy), r, legacy) for r in head_doc["resources"]}
    shown = Placeholders([*base_doc["resources"], *head_doc["resources"]])
    pairs = {k: k for k in old if k in new}  # head key -> base key
    for hk, r in new.items():
        if hk in old:
            continue
        for alias in r.options.get("aliases", []) or []:
            ak = key(alias, legacy) if isinstance(alias, str) else None
            if ak in old and ak not in new and ak not in pairs.values():
                pairs[hk] = ak  # renamed through an alias: the same cloud resource
                break

    # Replacements propagate (a replaced launch template replaces its node group; a provider
    # in another region replaces everything it manages): iterate to a fixed point.
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
            break

    changes: list[Change] = []
    unchanged = 0
    for hk, bk in pairs.items():
        o, n = old[bk], new[hk]
        ignored = n.options.get("ignore_changes", []) or []
        refs = {r.path for r in REPLACE_RULES.get(n.doc["type"], ()) if r.ref and _ref_same(r, o, n, pairs, replaced)}
        paths = [p for p in leaf_changes(o.inputs, n.inputs) if not covered(p, ignored) and not covered(p, refs)]
        common = dict(key=hk, urn=n.doc["urn"], type=n.doc["type"], name=n.doc.get("name", hk.rsplit("::", 1)[-1]),
                      protected=bool(o.options.get("protect")), retained=bool(o.options.get("retain_on_delete")),
                      renamed_from=o.doc["urn"] if bk != hk else None)
        values = [Reason(p, shown(b), shown(h)) for p, b, h in value_changes(o.inputs, n.inputs)
                  if not covered(p, ignored) and not covered(p, refs)]
        if hk in replaced:
            changes.append(Change(action="replace", paths=paths, reasons=replaced[hk], values=values, **common))
        elif paths or bk != hk:
            changes.append(Change(action="update", paths=paths, values=values, **common))
        else:
            unchanged += 1
    paired = set(pairs.values())
    for bk, o in old.items():
        if bk not in paired:
            changes.append(Change(bk, o.doc["urn"], o.doc["type"], o.doc.get("name", ""), "delete",
                                  protected=bool(o.options.get("protect")),
                                  retained=bool(o.options.get("retain_on_delete"))))
    for hk, n in new.items():
        if hk not in pairs:
            changes.append(Change(hk, n.doc["urn"], n.doc["type"], n.doc.get("name", ""), "add"))
    return PlanDiff(base, head, str(base_doc.get("stack", "")), str(head_doc.get("stack", "")), changes, unchanged)


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
            detail = _ref_why(rule, o, n, pairs, replaced) if rule.ref else ""
            why = f"replace-on-change: {rule.path}: {detail}" if detail else _rule_why(rule, n.doc["type"])
            reasons.append(Reason(rule.path, shown(b), shown(h), why))
    prov = provider_key(n.options.get("provider"), n.legacy)
    if prov in replaced and not reasons:
        reasons.append(Reason("(provider)", None, None, f"its provider {prov.rsplit('::', 1)[-1]} is replaced"))
    return reasons


def _ref_why(rule: Rule, o: Resource, n: Resource, pairs: dict[str, str], replaced: dict[str, Any]) -> str:
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


class Placeholders:
    """Shows values without the mock engine's made-up ids: an id, key id or ARN the mock
    engine computed for a resource of the plans becomes ``<id of NAME>`` (``<arn of NAME>``);
    a secret becomes ``[secret]``; an absent value ``None``."""

    def __init__(self, resources: Iterable[dict[str, Any]]) -> None:
        from .engine import MOCK_ARN, placeholders

        self.arn = MOCK_ARN
        self.names: set[str] = set()
        self.labels: dict[str, str] = {}
        for r in resources:
            name, typ = r.get("name"), r.get("type")
            if isinstance(name, str) and isinstance(typ, str):
                self.names.add(name)
                self.labels.update(placeholders(typ, name))

    def __call__(self, value: Any) -> Any:
        if value is MISSING:
            return None
        if isinstance(value, dict):
            if SECRET_SIG in value:
                return "[secret]"
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str):
            if value in self.labels:
                return self.labels[value]
            m = self.arn.match(value)
            if m and m["name"] in self.names:
                return f"<arn of {m['name']}>"
        return value
