"""Issue #9, the smaller points: alerts e-mailed once, no EFS root access, no Karpenter tags."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterator

import pytest

BUDGET = "aws:budgets/budget:Budget"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
FS_POLICY = "aws:efs/fileSystemPolicy:FileSystemPolicy"
ADDON = "aws:eks/addon:Addon"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"


def _list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ alerts reach each address once

def email_deliveries(plan, *, emails: list[str] = (), topics: list[str] = ()) -> Counter:
    """How many copies of one alert each address gets: sent to ``emails`` directly and
    published to the SNS ``topics`` (each e-mail subscription of a topic is one copy)."""
    copies = Counter(emails)
    for sub in plan.by_type(SUBSCRIPTION):
        if sub.inputs["topic"] in topics and sub.inputs["protocol"] == "email":
            copies[sub.inputs["endpoint"]] += 1
    return copies


def test_every_alert_reaches_each_address_once(any_stack_plan):
    plan = any_stack_plan
    once = Counter(plan.config.cost.emails)
    assert once, "every shipped stack names at least one address"
    topic_arn = plan.outputs["cost"]["alerts_topic_arn"]
    assert [t.outputs["arn"] for t in plan.by_type(TOPIC)] == [topic_arn]
    notifications = plan.get(BUDGET, "budget-monthly").inputs["notifications"]
    assert notifications
    for n in notifications:
        got = email_deliveries(plan, emails=n.get("subscriberEmailAddresses") or [],
                               topics=n.get("subscriberSnsTopicArns") or [])
        assert got == once, (n["notificationType"], n["threshold"], got)
    # the GPU alerts take the same topic (Alertmanager's SNS receiver): once each too
    assert email_deliveries(plan, topics=[topic_arn]) == once


def test_budget_notifications_go_to_the_topic_only(dev_plan):
    topic_arn = dev_plan.outputs["cost"]["alerts_topic_arn"]
    for n in dev_plan.get(BUDGET, "budget-monthly").inputs["notifications"]:
        assert n["subscriberSnsTopicArns"] == [topic_arn]
        assert "subscriberEmailAddresses" not in n


# ------------------------------------------------------------------ EFS: no client root access

def efs_policy(plan) -> dict:
    return json.loads(plan.get(FS_POLICY, "datasets-efs-policy").inputs["policy"])


def test_efs_policy_grants_read_write_through_mount_targets_but_no_root(any_stack_plan):
    policy = efs_policy(any_stack_plan)
    fs_arn = any_stack_plan.get("aws:efs/fileSystem:FileSystem", "datasets-efs-fs").outputs["arn"]
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    granted = {a for s in allows for a in _list(s["Action"])}
    assert granted == {"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"}
    assert not any("*" in a for a in granted)  # no wildcard that would include ClientRootAccess
    for s in allows:
        assert s["Resource"] == fs_arn
        assert s["Condition"] == {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}


def test_efs_policy_still_denies_every_action_without_tls(any_stack_plan):
    policy = efs_policy(any_stack_plan)
    fs_arn = any_stack_plan.get("aws:efs/fileSystem:FileSystem", "datasets-efs-fs").outputs["arn"]
    (deny,) = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert (deny["Principal"], deny["Action"], deny["Resource"]) == ({"AWS": "*"}, "*", fs_arn)
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_efs_driver_needs_no_root_access(any_stack_plan):
    """What would need ``ClientRootAccess`` is off: the controller's
    ``deleteAccessPointRootDir`` (it mounts the file system root to delete a volume's
    directory), directory provisioning (``efs-dir``), and an access point enforcing uid or
    gid 0 (EFS: enforcing a root identity is subject to ``ClientRootAccess``)."""
    plan = any_stack_plan
    addon = next(a for a in plan.by_type(ADDON) if a.inputs["addonName"] == "aws-efs-csi-driver")
    controller = json.loads(addon.inputs.get("configurationValues") or "{}").get("controller", {})
    assert not controller.get("deleteAccessPointRootDir")
    classes = [c.inputs for c in plan.by_type(STORAGE_CLASS) if c.inputs["provisioner"] == "efs.csi.aws.com"]
    assert classes
    for sc in classes:
        params = sc["parameters"]
        assert params["provisioningMode"] == "efs-ap"
        assert params["uid"] != "0" and params["gid"] != "0"
        assert "tls" in sc["mountOptions"]


# ------------------------------------------------------------------ no Karpenter tags

def tag_keys(value: Any) -> Iterator[str]:
    """Every tag key in recorded inputs: keys of ``tags`` maps (anywhere, e.g. launch
    template tag specifications) and ``{"key": ...}`` tags (Auto Scaling group tags)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("tags", "tagsAll") and isinstance(v, dict):
                yield from v
            elif k == "tag" and isinstance(v, dict) and "key" in v:
                yield v["key"]
            else:
                yield from tag_keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from tag_keys(v)


def test_no_resource_carries_a_karpenter_tag(any_stack_plan):
    """The platform runs the cluster-autoscaler, not Karpenter: nothing reads such tags."""
    keys = {r.urn: set(tag_keys(r.inputs)) for r in any_stack_plan.resources}
    carrying = {urn: sorted(k for k in ks if k.startswith("karpenter.sh/")) for urn, ks in keys.items()}
    assert {urn.rsplit("$", 1)[-1]: k for urn, k in carrying.items() if k} == {}
    # the subnet tags something does read are still there (and were looked at)
    private = [r for r in any_stack_plan.by_type("aws:ec2/subnet:Subnet") if r.name.startswith("network-private-")]
    assert private and all("kubernetes.io/role/internal-elb" in keys[r.urn] for r in private)


@pytest.mark.parametrize("key", ["uid", "gid"])
def test_access_points_never_enforce_root(key):
    """The file-system policy grants no ClientRootAccess: an access point enforcing uid/gid 0
    would validate and then fail to mount."""
    from .helpers import TEST_SOURCE, apply_edits, assert_one_line_error

    raw = apply_edits("dev", [(f"gpufleet:storage.efs.{key}", 0)])
    assert_one_line_error(raw, TEST_SOURCE, f"gpufleet:storage.efs.{key}", "an integer from 1 to 2,147,483,647")
