"""The replacement guard's comparison (:mod:`gpufleet.diff`, :mod:`gpufleet.diff_rules`):
real before/after configs rendered under the mock engine, the reference rules (launch
template id vs version), protected deletes, aliases and legacy URNs. The command, its
output formats and bad input: ``test_diff_cli.py``."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpufleet import diff as guard
from gpufleet.diff_plan import MISSING, get, leaf_changes
from gpufleet.diff_rules import REPLACE_RULES

from .conftest import shipped_plan
from .helpers import edit, raw_config, render

NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
CLUSTER = "aws:eks/cluster:Cluster"


def doc(stack: str = "dev") -> dict:
    """The shipped stack's plan document (a fresh copy to edit)."""
    return copy.deepcopy(shipped_plan(stack).to_json())


def res(d: dict, typ: str, name: str) -> dict:
    return next(r for r in d["resources"] if r["type"] == typ and r["name"] == name)


def by_name(result: guard.PlanDiff, action: str) -> dict[str, guard.Change]:
    return {c.name: c for c in result.of(action)}


# ---------------------------------------------------------------- real configs

def pool_path(raw: dict, name: str) -> str:
    names = [p["name"] for p in raw["gpufleet:pools"]["gpu"]]
    return f"gpufleet:pools.gpu[{names.index(name)}]"


def drop_pool(raw: dict, name: str) -> dict:
    """Remove a GPU pool and every reference to it (team shares, cost hours, scratch, ...)."""
    raw["gpufleet:pools"]["gpu"] = [p for p in raw["gpufleet:pools"]["gpu"] if p["name"] != name]

    def scrub(node):
        if isinstance(node, dict):
            node.pop(name, None)
            for v in node.values():
                scrub(v)
        elif isinstance(node, list):
            node[:] = [v for v in node if v != name]
            for v in node:
                scrub(v)

    for k, v in raw.items():
        if k != "gpufleet:pools":
            scrub(v)
    return raw


@pytest.fixture(scope="module")
def pools_changed() -> dict:
    """dev with shared-l4 on another instance type, train-spot moved to on-demand and
    the system pool allowed one more node."""
    raw = raw_config("dev")
    edit(raw, f"{pool_path(raw, 'shared-l4')}.instance_types", ["g6.2xlarge"])
    edit(raw, f"{pool_path(raw, 'train-spot')}.capacity", "on-demand")
    edit(raw, f"{pool_path(raw, 'train-spot')}.max", 1)  # on-demand at 2 nodes is above dev's spend ceiling
    edit(raw, "gpufleet:cost.busy.train-spot.nodes", 1)
    edit(raw, "gpufleet:pools.system.max", raw["gpufleet:pools"]["system"]["max"] + 1)
    return render(raw, "dev").to_json()


def az_moved() -> tuple[list[str], str, dict]:
    """dev with its last AZ moved to one it does not use: (its AZs before, the new AZ, the
    head plan)."""
    raw = raw_config("dev")
    azs = raw["gpufleet:network"]["azs"]
    moved = next(f"us-east-1{z}" for z in "abcdf" if f"us-east-1{z}" not in azs)
    edit(raw, "gpufleet:network.azs", [*azs[:-1], moved])
    return azs, moved, render(raw, "dev").to_json()


def test_unchanged_stack_has_nothing_to_report():
    result = guard.compare(doc(), doc())
    assert result.changes == [] and not result.blocking
    assert result.unchanged == len(doc()["resources"])


def test_instance_types_and_capacity_type_replace_their_node_groups(pools_changed):
    result = guard.compare(doc(), pools_changed)
    replaced = by_name(result, "replace")
    assert set(replaced) == {"pool-shared-l4-ng", "pool-train-spot-ng"}
    (it,) = replaced["pool-shared-l4-ng"].reasons
    before = res(doc(), NG, "pool-shared-l4-ng")["inputs"]["instanceTypes"]
    assert (it.path, it.base, it.head) == ("instanceTypes", before, ["g6.2xlarge"])
    reasons = replaced["pool-train-spot-ng"].reasons
    assert [(r.path, r.base, r.head) for r in reasons] == [("capacityType", "SPOT", "ON_DEMAND")]
    # a bigger max is an in-place update of the node group, not a replacement
    assert by_name(result, "update")["pool-system-ng"].paths == ["scalingConfig.maxSize"]
    assert result.blocking


def test_changing_the_cluster_subnets_replaces_every_node_group():
    azs, moved, head = az_moved()
    result = guard.compare(doc(), head)
    replaced = by_name(result, "replace")
    for pool in ("system", "shared-l4", "train-spot"):
        (reason,) = replaced[f"pool-{pool}-ng"].reasons
        assert reason.path == "subnetIds"
        # the mock engine's ids are shown as what they stand for
        assert reason.base == [f"<id of network-private-{az}>" for az in azs]
        assert reason.head == [f"<id of network-private-{az}>" for az in [*azs[:-1], moved]]
        assert reason.why == ("replace-on-change: subnetIds: now refers to Subnet "
                              + ", ".join(sorted(f"network-private-{az}" for az in [*azs[:-1], moved])))
    # the cluster itself takes new subnets in place; the old AZ's subnets go, the new ones come
    assert "vpcConfig.subnetIds" in by_name(result, "update")["cluster-eks"].paths
    assert {f"network-private-{azs[-1]}", f"network-public-{azs[-1]}"} <= set(by_name(result, "delete"))
    assert {f"network-private-{moved}", f"network-public-{moved}"} <= set(by_name(result, "add"))


def test_a_removed_pool_is_a_delete_and_a_protected_one_blocks():
    head = render(drop_pool(raw_config("dev"), "train-spot"), "dev").to_json()
    result = guard.compare(doc(), head)
    deleted = by_name(result, "delete")
    assert {"pool-train-spot-ng", "pool-train-spot-lt", "pool-train-spot"} <= set(deleted)
    assert not result.protected_deletes and not result.of("replace") and not result.blocking
    # the same change where the node group is protected (as the storage layer protects data)
    base = doc()
    res(base, NG, "pool-train-spot-ng")["options"]["protect"] = True
    result = guard.compare(base, head)
    assert [c.name for c in result.protected_deletes] == ["pool-train-spot-ng"]
    assert result.blocking


def test_storage_data_is_protected_and_its_identity_forces_replacement():
    """Once the storage layer renders buckets and EFS: deleting them is a protected
    delete, renaming a bucket or changing EFS encryption replaces it."""
    base = doc()
    data = [r for r in base["resources"] if r["type"] in ("aws:s3/bucket:Bucket", "aws:efs/fileSystem:FileSystem")]
    if not data:
        pytest.skip("the dev plan has no buckets or EFS yet (storage layer not composed)")
    assert all(r["options"]["protect"] for r in data)
    head = copy.deepcopy(base)
    head["resources"] = [r for r in head["resources"] if r["urn"] not in {d["urn"] for d in data}]
    assert {c.name for c in guard.compare(base, head).protected_deletes} == {d["name"] for d in data}
    head = copy.deepcopy(base)
    for r in head["resources"]:
        if r["type"] == "aws:s3/bucket:Bucket":
            r["inputs"]["bucket"] += "-renamed"
        if r["type"] == "aws:efs/fileSystem:FileSystem":
            r["inputs"]["performanceMode"] = "maxIO"
    replaced = guard.compare(base, head).of("replace")
    assert {c.name for c in replaced} == {d["name"] for d in data}
    assert all(c.protected for c in replaced)


# ---------------------------------------------------------------- rules on plan documents

def test_updates_carry_old_and_new_values_and_replacements_say_why(pools_changed):
    result = guard.compare(doc(), pools_changed)
    system = res(doc(), NG, "pool-system-ng")["inputs"]["scalingConfig"]["maxSize"]
    (value,) = by_name(result, "update")["pool-system-ng"].values
    assert (value.path, value.base, value.head) == ("scalingConfig.maxSize", system, system + 1)
    (capacity,) = by_name(result, "replace")["pool-train-spot-ng"].reasons
    assert capacity.why == ("replace-on-change: capacityType cannot be updated in place; the provider deletes the "
                            "NodeGroup and creates a new one")
    # a value inside a list of the same length is named by its index, not the whole list
    flavors = [v.path for v in by_name(result, "update")["kueue-flavor-train-spot"].values]
    assert flavors == ["spec.nodeLabels.gpufleet.io/capacity"]



def test_launch_template_version_is_in_place_but_another_template_replaces():
    base = doc()
    head = doc()
    res(head, NG, "pool-shared-l4-ng")["inputs"]["launchTemplate"]["version"] = "2"
    result = guard.compare(base, head)
    assert by_name(result, "update")["pool-shared-l4-ng"].paths == ["launchTemplate.version"]
    assert not result.blocking
    # the node group now points at another pool's launch template
    ng = res(head, NG, "pool-shared-l4-ng")
    other = res(head, LT, "pool-train-spot-lt")
    ng["options"]["depends_on"] = [u for u in ng["options"]["depends_on"] if "launchTemplate" not in u] + [other["urn"]]
    ng["inputs"]["launchTemplate"]["id"] = "lt-other"
    (reason,) = by_name(guard.compare(base, head), "replace")["pool-shared-l4-ng"].reasons
    assert reason.path == "launchTemplate.id" and "pool-train-spot-lt" in reason.why


def test_placeholder_ids_of_the_same_launch_template_are_not_a_change():
    """Mock ids differ between processes (hash seeds): the rule follows the reference."""
    head = doc()
    for r in head["resources"]:
        if r["type"] == NG:
            r["inputs"]["launchTemplate"]["id"] = "lt-000000000042"
    assert guard.compare(doc(), head).changes == []


def test_a_replaced_launch_template_replaces_its_node_group():
    head = doc()
    res(head, LT, "pool-system-lt")["inputs"]["name"] = "renamed"
    replaced = by_name(guard.compare(doc(), head), "replace")
    assert set(replaced) == {"pool-system-lt", "pool-system-ng"}
    assert replaced["pool-system-ng"].reasons[0].why == (
        "replace-on-change: launchTemplate.id: LaunchTemplate pool-system-lt is replaced")


def test_a_replaced_data_key_replaces_the_file_system_encrypted_with_it():
    base = doc("prod")
    keys = [r for r in base["resources"] if r["type"] == "aws:kms/key:Key" and r["options"]["protect"]]
    if not keys:
        pytest.skip("the prod plan has no protected data key yet (storage layer not composed)")
    head = copy.deepcopy(base)
    res(head, "aws:kms/key:Key", keys[0]["name"])["inputs"]["multiRegion"] = True
    replaced = by_name(guard.compare(base, head), "replace")
    efs = next(r["name"] for r in base["resources"] if r["type"] == "aws:efs/fileSystem:FileSystem")
    assert replaced[keys[0]["name"]].protected and replaced[efs].protected
    assert replaced[efs].reasons[0].path == "kmsKeyId"
    assert replaced[efs].reasons[0].why == f"replace-on-change: kmsKeyId: Key {keys[0]['name']} is replaced"


def test_cluster_rules_name_role_and_encryption_removal():
    head = doc()
    cluster = res(head, CLUSTER, "cluster-eks")["inputs"]
    cluster["name"] = "gpufleet-dev-2"
    del cluster["encryptionConfig"]
    (change,) = guard.compare(doc(), head).of("replace")
    assert change.name == "cluster-eks"
    assert [r.path for r in change.reasons] == ["name", "encryptionConfig"]
    # turning encryption on is done in place
    base = doc()
    del res(base, CLUSTER, "cluster-eks")["inputs"]["encryptionConfig"]
    result = guard.compare(base, doc())
    assert not result.of("replace") and "cluster-eks" in by_name(result, "update")


def test_a_provider_in_another_region_replaces_what_it_manages():
    head = doc()
    res(head, "pulumi:providers:aws", "aws")["inputs"]["region"] = "us-west-2"
    replaced = by_name(guard.compare(doc(), head), "replace")
    assert replaced["aws"].reasons[0].path == "region"
    assert replaced["network-vpc"].reasons[0].why == "its provider aws is replaced"
    managed = {r["name"] for r in doc()["resources"] if (r["options"]["provider"] or "").endswith("::aws::aws-id")}
    assert managed and managed <= set(replaced)


def test_a_rename_through_an_alias_is_not_a_delete():
    head = doc()
    lt = res(head, LT, "pool-system-lt")
    old_urn = lt["urn"]
    lt["urn"] = old_urn.replace("::pool-system-lt", "::pool-system-launch-template")
    lt["name"] = "pool-system-launch-template"
    lt["options"]["aliases"] = [old_urn]
    result = guard.compare(doc(), head)
    assert not result.of("delete") and not result.of("add") and not result.blocking
    assert by_name(result, "update")["pool-system-launch-template"].renamed_from == old_urn


def _legacy_urn(urn: str) -> str:
    """A URN as the mock engine wrote it before real URNs: only the parent's last type, and
    ``pulumi:pulumi:Stack$`` before a top-level type."""
    head, project, qualified, name = urn.split("::", 3)
    chain = qualified.split("$")
    return "::".join([head, project, "$".join(chain[-2:]) if len(chain) > 1 else f"pulumi:pulumi:Stack${qualified}", name])


def test_a_plan_saved_with_the_old_mock_urns_still_compares_resource_by_resource():
    """A PR's base plan is rendered by the base branch's code: the first PR with real URNs
    must not see every resource deleted and added again."""
    base = doc()
    for r in base["resources"]:
        r["urn"] = _legacy_urn(r["urn"])
        r["options"]["depends_on"] = [_legacy_urn(u) for u in r["options"]["depends_on"]]
        if r["options"]["provider"]:
            urn, rid = r["options"]["provider"].rsplit("::", 1)
            r["options"]["provider"] = f"{_legacy_urn(urn)}::{rid}"
    assert any("::pulumi:pulumi:Stack$" in r["urn"] for r in base["resources"])
    assert guard.compare(base, doc()).changes == []
    head = doc()
    res(head, "pulumi:providers:aws", "aws")["inputs"]["region"] = "us-west-2"
    replaced = by_name(guard.compare(base, head), "replace")  # references still followed across the shapes
    assert replaced["network-vpc"].reasons[0].why == "its provider aws is replaced"


def test_rules_name_properties_the_program_sends():
    """The table's paths for resources the foundation renders exist in the wire inputs
    (a typo would silently never fire)."""
    alternatives = {(NG, "launchTemplate.name"), (LT, "name"), (LT, "namePrefix"),
                    ("aws:s3/bucket:Bucket", "bucketPrefix"), ("aws:s3/bucketV2:BucketV2", "bucketPrefix"),
                    ("aws:efs/fileSystem:FileSystem", "availabilityZoneName")}
    # KMS key specs are provider defaults the program does not send
    alternatives |= {("aws:kms/key:Key", r.path) for r in REPLACE_RULES["aws:kms/key:Key"]}
    for typ, rules in REPLACE_RULES.items():
        found = [r for r in doc("prod")["resources"] if r["type"] == typ]
        for rule in rules:
            if found and (typ, rule.path) not in alternatives:
                assert any(get(r["inputs"], rule.path) is not MISSING for r in found), (typ, rule.path)


trees = st.recursive(st.integers() | st.text(max_size=3),
                     lambda kids: st.dictionaries(st.sampled_from("abc"), kids, max_size=3), max_leaves=8)


@given(trees, trees)
def test_leaf_changes_name_exactly_the_differing_paths(a, b):
    a, b = {"root": a}, {"root": b}
    paths = leaf_changes(a, b)
    assert (paths == []) == (a == b)
    for p in paths:
        assert get(a, p) != get(b, p)
