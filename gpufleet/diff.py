"""Replacement guard: compare two plans by URN and find what ``pulumi up`` would destroy.

A plan is the document ``gpufleet plan --json`` prints (or a stack rendered on the spot).
Resources are matched by URN (without the stack segment, and following ``aliases``; a plan
saved before gpufleet emitted the URNs Pulumi assigns still matches, see
:func:`gpufleet.diff_plan.key`); the result is the adds, deletes, in-place updates and,
above all, the **replacements**: updates to a property the provider cannot change in
place, so the resource is deleted and created again. Deleting a resource marked
``protect`` is reported too. Which properties force a replacement, and why, is
:mod:`gpufleet.diff_rules` (``REPLACE_RULES``, the one table); how a comparison is shown
(text, the PR comment's Markdown, JSON) is :mod:`gpufleet.diff_report`.

Every change carries its values, old and new (an update's changed properties; the property
that forces a replacement and why). Values the mock engine made up (ids, ARNs of resources
in the plan) are shown as what they stand for (``<id of network-private-us-east-1a>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .diff_plan import Placeholders, Resource, covered, is_legacy, key, leaf_changes, value_changes
from .diff_rules import Reason, replacements, same_references, update_note
from .exit_codes import BadInputError


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
        raise stack_config.ConfigError(shown, "(file)", stack_config.Verbatim(stack_or_path), expected)  # an argument
    cfg, raw = stack_config.from_file(path, shown)
    return planner.run_program(cfg, raw, stack, shown).to_json()


def check(doc: Any, source: str) -> None:
    """Refuse anything that is not the shape ``gpufleet plan --json`` prints (one line:
    file, key, value, what a plan has there)."""
    from gpufleet.modules.config import ConfigError

    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
        has = isinstance(doc, dict) and "resources" in doc
        where, given = ("resources", doc["resources"]) if has else ("(file)", doc)
        raise DiffInputError(str(ConfigError(source, where, given, "a plan: a JSON object with a \"resources\" list "
                                                                    "(the output of `gpufleet plan --json`)")))
    for i, r in enumerate(doc["resources"]):
        if not (isinstance(r, dict) and isinstance(r.get("urn"), str) and isinstance(r.get("type"), str)
                and isinstance(r.get("inputs"), dict) and isinstance(r.get("options", {}), dict)):
            raise DiffInputError(str(ConfigError(source, f"resources[{i}]", r, "a plan's resource: \"urn\" and "
                                                 "\"type\" strings, an \"inputs\" object")))


# ---------------------------------------------------------------- the comparison

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
    pairs = _pairs(old, new, legacy)
    replaced = replacements(old, new, pairs, shown)

    changes: list[Change] = []
    unchanged = 0
    for hk, bk in pairs.items():
        o, n = old[bk], new[hk]
        skipped = [*(n.options.get("ignore_changes", []) or []), *same_references(o, n, pairs, replaced)]
        paths = [p for p in leaf_changes(o.inputs, n.inputs) if not covered(p, skipped)]
        values = [Reason(p, shown(b), shown(h), update_note(n.doc["type"], p, b, h))
                  for p, b, h in value_changes(o.inputs, n.inputs) if not covered(p, skipped)]
        common = {"key": hk, "urn": n.doc["urn"], "type": n.doc["type"],
                  "name": n.doc.get("name", hk.rsplit("::", 1)[-1]), "paths": paths, "values": values, **_kept(o),
                  "renamed_from": o.doc["urn"] if bk != hk else None}
        if hk in replaced:
            changes.append(Change(action="replace", reasons=replaced[hk], **common))
        elif paths or bk != hk:
            changes.append(Change(action="update", **common))
        else:
            unchanged += 1
    paired = set(pairs.values())
    changes += [Change(bk, o.doc["urn"], o.doc["type"], o.doc.get("name", ""), "delete", **_kept(o))
                for bk, o in old.items() if bk not in paired]
    changes += [Change(hk, n.doc["urn"], n.doc["type"], n.doc.get("name", ""), "add")
                for hk, n in new.items() if hk not in pairs]
    return PlanDiff(base, head, str(base_doc.get("stack", "")), str(head_doc.get("stack", "")), changes, unchanged)


def _pairs(old: dict[str, Resource], new: dict[str, Resource], legacy: bool) -> dict[str, str]:
    """head key -> base key of the resources in both plans: the same key, or renamed
    through an alias (the same cloud resource)."""
    pairs = {k: k for k in old if k in new}
    for hk, r in new.items():
        if hk in old:
            continue
        for alias in r.options.get("aliases", []) or []:
            ak = key(alias, legacy) if isinstance(alias, str) else None
            if ak in old and ak not in new and ak not in pairs.values():
                pairs[hk] = ak
                break
    return pairs


def _kept(o: Resource) -> dict[str, bool]:
    """What the base resource's options say about deleting it."""
    return {"protected": bool(o.options.get("protect")), "retained": bool(o.options.get("retain_on_delete"))}
