"""Storage layer: EFS datasets, CSI drivers with Pod Identity, StorageClasses, NVMe scratch,
S3 buckets and team grants, as the shipped stacks render them."""

from __future__ import annotations

import json

import pytest

from gpufleet.modules.k8s_schema import manifest, validate_builtin
from gpufleet.modules.storage.classes import DEFAULT_ANNOTATION

from .helpers import edit, raw_config, render, storage_classes

FS = "aws:efs/fileSystem:FileSystem"
MT = "aws:efs/mountTarget:MountTarget"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
ADDON = "aws:eks/addon:Addon"
ASSOC = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ROLE = "aws:iam/role:Role"
INLINE = "aws:iam/rolePolicy:RolePolicy"
BUCKET = "aws:s3/bucket:Bucket"
KEY = "aws:kms/key:Key"
DATA_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:data-key-key"


def inline_policy(plan, role: str) -> dict:
    return json.loads(plan.get(INLINE, f"{role}-inline").inputs["policy"])


def statements(policy: dict, sid: str) -> dict:
    return next(s for s in policy["Statement"] if s["Sid"] == sid)


# ------------------------------------------------------------------ EFS

def test_one_mount_target_per_private_subnet(any_stack_plan):
    azs = any_stack_plan.config.network.azs
    targets = {r.name: r.inputs for r in any_stack_plan.by_type(MT)}
    assert set(targets) == {f"datasets-efs-mt-{az}" for az in azs}
    for az in azs:
        mt = targets[f"datasets-efs-mt-{az}"]
        assert mt["subnetId"] == f"network-private-{az}-id"
        assert mt["securityGroups"] == ["datasets-efs-sg-id"]
        assert mt["fileSystemId"] == "datasets-efs-fs-id"


def test_nfs_is_admitted_only_from_the_node_security_group(any_stack_plan):
    plan = any_stack_plan
    rules = [r for r in plan.by_type(INGRESS) + plan.by_type(EGRESS)
             if r.inputs.get("securityGroupId") == "datasets-efs-sg-id"]
    assert len(rules) == 1
    rule = rules[0].inputs
    assert rules[0].type == INGRESS
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 2049, 2049)
    assert "cidrIpv4" not in rule and "cidrIpv6" not in rule and "prefixListId" not in rule
    # the referenced group is the one every node's launch template carries
    node_sgs = [set(lt.inputs["networkInterfaces"][0]["securityGroups"]) for lt in plan.by_type(LT)
                if not lt.name.startswith("network-nat")]  # the NAT instance is not a node
    assert node_sgs and all(rule["referencedSecurityGroupId"] in sgs for sgs in node_sgs)
    sg = plan.get(SG, "datasets-efs-sg").inputs
    assert "ingress" not in sg and "egress" not in sg  # no inline rules beside the one above


def test_file_system_is_encrypted_with_the_data_key_and_protected(any_stack_plan):
    fs = any_stack_plan.get(FS, "datasets-efs-fs")
    assert fs.inputs["encrypted"] is True
    assert fs.inputs["kmsKeyId"] == DATA_KEY_ARN
    assert fs.protect is True
    assert fs.retain_on_delete is (any_stack_plan.config.environment == "prod")
    assert "availabilityZoneName" not in fs.inputs  # Regional: every AZ
    key = any_stack_plan.get(KEY, "data-key-key")
    assert key.inputs["enableKeyRotation"] is True and key.protect is True
    # retained data stays readable: the key is retained with it
    assert key.retain_on_delete is fs.retain_on_delete


def test_throughput_and_infrequent_access_follow_config(dev_plan, prod_plan):
    dev = dev_plan.get(FS, "datasets-efs-fs").inputs
    assert dev["throughputMode"] == "elastic"
    assert dev["lifecyclePolicies"] == [{"transitionToIa": "AFTER_7_DAYS"},
                                        {"transitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]
    prod = prod_plan.get(FS, "datasets-efs-fs").inputs
    assert prod["lifecyclePolicies"][0] == {"transitionToIa": "AFTER_30_DAYS"}


def test_backups_on_in_prod_only(dev_plan, prod_plan):
    backup = "aws:efs/backupPolicy:BackupPolicy"
    assert prod_plan.get(backup, "datasets-efs-backup").inputs["backupPolicy"] == {"status": "ENABLED"}
    assert dev_plan.get(backup, "datasets-efs-backup").inputs["backupPolicy"] == {"status": "DISABLED"}


def test_file_system_policy_refuses_clients_without_tls(dev_plan):
    policy = json.loads(dev_plan.get("aws:efs/fileSystemPolicy:FileSystemPolicy", "datasets-efs-policy").inputs["policy"])
    deny = statements(policy, "DenyWithoutTls")
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    allow = statements(policy, "MountThroughMountTargets")
    assert allow["Condition"] == {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}


# ------------------------------------------------------------------ CSI drivers

@pytest.mark.parametrize("name,addon,sa", [("efs-csi", "aws-efs-csi-driver", "efs-csi-controller-sa"),
                                            ("ebs-csi", "aws-ebs-csi-driver", "ebs-csi-controller-sa")])
def test_csi_addons_bound_by_pod_identity_and_wait_for_system_nodes(any_stack_plan, name, addon, sa):
    plan = any_stack_plan
    a = plan.get(ADDON, f"{name}-addon")
    assert a.inputs["addonName"] == addon
    system_ng = plan.get("aws:eks/nodeGroup:NodeGroup", "pool-system-ng").urn
    assoc = plan.get(ASSOC, f"{name}-identity-association")
    assert system_ng in a.depends_on and assoc.urn in a.depends_on
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == ("kube-system", sa)
    assert assoc.inputs["roleArn"] == f"arn:aws:iam::123456789012:{name}-identity-role"
    trust = json.loads(plan.get(ROLE, f"{name}-identity-role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert "sts:TagSession" in trust["Statement"][0]["Action"]
    # least privilege: no AWS-managed policy attached, only the scoped inline one
    assert not [r for r in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if r.name.startswith(f"{name}-identity")]


def test_csi_node_daemonsets_tolerate_the_gpu_taint(dev_plan):
    efs = json.loads(dev_plan.get(ADDON, "efs-csi-addon").inputs["configurationValues"])
    assert {"operator": "Exists"} in efs["node"]["tolerations"]
    ebs = json.loads(dev_plan.get(ADDON, "ebs-csi-addon").inputs["configurationValues"])
    assert ebs["node"]["tolerateAllTaints"] is True


def test_efs_driver_role_is_scoped_to_the_file_system(dev_plan):
    policy = inline_policy(dev_plan, "efs-csi-identity")
    create = statements(policy, "CreateTaggedAccessPoints")
    assert "arn:aws:efs:us-east-1:123456789012:datasets-efs-fs" in create["Resource"]
    assert create["Condition"] == {"StringLike": {"aws:RequestTag/efs.csi.aws.com/cluster": "true"}}
    delete = statements(policy, "DeleteOwnAccessPoints")
    assert delete["Condition"] == {"StringEquals": {"aws:ResourceTag/efs.csi.aws.com/cluster": "true"}}
    mutating = [a for s in policy["Statement"] if s["Resource"] == "*" for a in s["Action"]]
    assert all(":Describe" in a for a in mutating)


def test_ebs_driver_deletes_only_its_own_volumes_and_uses_the_data_key(dev_plan):
    policy = inline_policy(dev_plan, "ebs-csi-identity")
    for s in policy["Statement"]:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if any(a in ("ec2:DeleteVolume", "ec2:DeleteSnapshot", "ec2:ModifyVolume") for a in actions):
            assert s["Condition"] == {"StringEquals": {"aws:ResourceTag/ebs.csi.aws.com/cluster": "true"}}
        if s["Resource"] == "*":
            assert all(a.startswith("ec2:Describe") for a in actions)
    grants = statements(policy, "GrantsForVolumes")
    assert grants["Resource"] == DATA_KEY_ARN
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


# ------------------------------------------------------------------ StorageClasses

def test_every_kubernetes_object_of_the_storage_layer_validates(any_stack_plan):
    version = any_stack_plan.config.cluster.version
    storage = [r for r in any_stack_plan.resources if r.type.startswith("kubernetes:")
               and (r.name.startswith("storage-classes-") or r.name.startswith("local-nvme-"))]
    objects = [manifest(r.type, r.inputs) for r in storage if manifest(r.type, r.inputs) is not None]
    assert len(objects) >= 3
    for obj in objects:
        assert validate_builtin(obj, version) == [], obj["metadata"]["name"]


def test_exactly_one_default_class_gp3_encrypted(any_stack_plan):
    classes = storage_classes(any_stack_plan)
    defaults = [n for n, c in classes.items() if c["metadata"]["annotations"][DEFAULT_ANNOTATION] == "true"]
    assert defaults == ["gp3"]
    gp3 = classes["gp3"]
    assert gp3["provisioner"] == "ebs.csi.aws.com"
    assert gp3["parameters"]["type"] == "gp3" and gp3["parameters"]["encrypted"] == "true"
    assert gp3["parameters"]["kmsKeyId"] == DATA_KEY_ARN
    assert gp3["volumeBindingMode"] == "WaitForFirstConsumer"


def test_checkpoints_survive_their_job(any_stack_plan):
    ckpt = storage_classes(any_stack_plan)["checkpoints"]
    cfg = any_stack_plan.config.storage.checkpoints
    assert ckpt["provisioner"] == "ebs.csi.aws.com"
    assert ckpt["reclaimPolicy"] == "Retain"
    assert ckpt["volumeBindingMode"] == "WaitForFirstConsumer"
    assert ckpt["allowVolumeExpansion"] is True
    p = ckpt["parameters"]
    assert (p["type"], p["encrypted"], p["kmsKeyId"]) == ("gp3", "true", DATA_KEY_ARN)
    assert (p["iops"], p["throughput"]) == (str(cfg.iops), str(cfg.throughput_mibps))


def test_prod_checkpoints_are_faster(prod_plan):
    p = storage_classes(prod_plan)["checkpoints"]["parameters"]
    assert (p["iops"], p["throughput"]) == ("6000", "500")


def test_shared_datasets_class_uses_dynamic_access_points_and_tls(any_stack_plan):
    ds = storage_classes(any_stack_plan)["shared-datasets"]
    efs = any_stack_plan.config.storage.efs
    assert ds["provisioner"] == "efs.csi.aws.com"
    p = ds["parameters"]
    assert p["provisioningMode"] == "efs-ap"
    assert p["fileSystemId"] == "datasets-efs-fs-id"
    assert (p["uid"], p["gid"], p["directoryPerms"]) == (str(efs.uid), str(efs.gid), efs.directory_perms)
    assert p["subPathPattern"] == "${.PVC.namespace}/${.PVC.name}"
    assert "tls" in ds["mountOptions"]
    assert p.get("encryptInTransit", "true") != "false"
    assert ds["reclaimPolicy"] == "Retain"


def test_local_nvme_class_is_static_and_never_default(prod_plan):
    nv = storage_classes(prod_plan)["local-nvme"]  # dev and staging: no always-on pool, no class
    assert nv["provisioner"] == "kubernetes.io/no-provisioner"
    assert nv["volumeBindingMode"] == "WaitForFirstConsumer"
    assert nv["reclaimPolicy"] == "Delete"
    assert nv["metadata"]["annotations"][DEFAULT_ANNOTATION] == "false"
    assert "parameters" not in nv


# ------------------------------------------------------------------ S3

@pytest.mark.parametrize("purpose", ["datasets", "models"])
def test_buckets_are_private_encrypted_tls_only_and_protected(any_stack_plan, purpose):
    plan, env = any_stack_plan, any_stack_plan.config.environment
    bucket = plan.get(BUCKET, f"{purpose}-bucket")
    assert bucket.inputs["bucket"] == f"gpufleet-{plan.stack}-{purpose}-123456789012-us-east-1"
    assert bucket.protect is True and bucket.retain_on_delete is (env == "prod")
    assert bucket.inputs["forceDestroy"] is False
    pab = plan.get("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{purpose}-public-access-block").inputs
    assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert pab["bucket"] == f"{purpose}-bucket-id"
    own = plan.get("aws:s3/bucketOwnershipControls:BucketOwnershipControls", f"{purpose}-ownership").inputs
    assert own["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    (rule,) = plan.get("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                       f"{purpose}-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": DATA_KEY_ARN}
    assert rule["bucketKeyEnabled"] is True
    policy = json.loads(plan.get("aws:s3/bucketPolicy:BucketPolicy", f"{purpose}-policy").inputs["policy"])
    deny = statements(policy, "DenyWithoutTls")
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(deny["Resource"]) == {bucket.outputs["arn"], bucket.outputs["arn"] + "/*"}


def test_only_models_are_versioned(any_stack_plan):
    versioning = "aws:s3/bucketVersioning:BucketVersioning"
    assert any_stack_plan.get(versioning, "models-versioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    assert [r.name for r in any_stack_plan.by_type(versioning)] == ["models-versioning"]


def lifecycle(plan, purpose) -> dict[str, dict]:
    rules = plan.get("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"{purpose}-lifecycle")
    return {r["id"]: r for r in rules.inputs["rules"]}


def test_lifecycle_rules(any_stack_plan):
    b = any_stack_plan.config.storage.buckets
    for purpose in ("datasets", "models"):
        rules = lifecycle(any_stack_plan, purpose)
        abort = rules["abort-incomplete-multipart-uploads"]
        assert abort["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7} and abort["status"] == "Enabled"
    datasets = lifecycle(any_stack_plan, "datasets")
    assert datasets["to-infrequent-access"]["transitions"] == [{"days": b.datasets_ia_after_days, "storageClass": "STANDARD_IA"}]
    models = lifecycle(any_stack_plan, "models")
    assert models["expire-old-versions"]["noncurrentVersionExpiration"] == {
        "noncurrentDays": b.model_noncurrent_days, "newerNoncurrentVersions": b.model_versions_kept}
    assert "to-infrequent-access" not in models
    versioning = any_stack_plan.get("aws:s3/bucketVersioning:BucketVersioning", "models-versioning").urn
    assert versioning in any_stack_plan.get(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "models-lifecycle").depends_on


# ------------------------------------------------------------------ team grants

def test_each_team_training_account_is_bound_in_its_namespace(any_stack_plan):
    cfg = any_stack_plan.config
    for team in cfg.teams:
        assoc = any_stack_plan.get(ASSOC, f"data-access-{team.name}-identity-association").inputs
        assert (assoc["namespace"], assoc["serviceAccount"]) == (team.namespace, "training")
        assert assoc["clusterName"] == f"gpufleet-{any_stack_plan.stack}"
        assert any_stack_plan.outputs["storage"]["team_data_access"][team.name]["namespace"] == team.namespace


def team_policy(plan, team) -> dict[str, dict]:
    policy = inline_policy(plan, f"data-access-{team}-identity")
    return {s["Sid"]: s for s in policy["Statement"]}


def test_default_grant_reads_datasets_and_writes_models_under_the_team_prefix(dev_plan):
    s = team_policy(dev_plan, "research")
    datasets = "arn:aws:s3:us-east-1:123456789012:datasets-bucket"
    models = "arn:aws:s3:us-east-1:123456789012:models-bucket"
    assert s["ReadDatasets"]["Resource"] == f"{datasets}/*"
    assert "WriteDatasetsUnderTeamPrefix" not in s
    assert s["WriteModelsUnderTeamPrefix"]["Resource"] == f"{models}/research/*"
    assert "s3:PutObject" in s["WriteModelsUnderTeamPrefix"]["Action"]
    assert s["UseDataKey"]["Resource"] == DATA_KEY_ARN and "kms:GenerateDataKey" in s["UseDataKey"]["Action"]
    every_action = [a for st in s.values() for a in st["Action"]]
    assert "s3:DeleteObjectVersion" not in every_action and "s3:*" not in every_action


def test_prod_grants_follow_config(prod_plan):
    research, applied = team_policy(prod_plan, "research"), team_policy(prod_plan, "applied")
    assert research["WriteDatasetsUnderTeamPrefix"]["Resource"].endswith("datasets-bucket/research/*")
    assert "WriteDatasetsUnderTeamPrefix" not in applied
    assert applied["WriteModelsUnderTeamPrefix"]["Resource"].endswith("models-bucket/applied/*")


# ------------------------------------------------------------------ outputs

def test_storage_output(any_stack_plan):
    out = any_stack_plan.outputs["storage"]
    stack = any_stack_plan.stack
    assert out["file_system_id"] == "datasets-efs-fs-id"
    assert out["buckets"] == {"datasets": f"gpufleet-{stack}-datasets-123456789012-us-east-1",
                              "models": f"gpufleet-{stack}-models-123456789012-us-east-1"}
    # local-nvme only where an always-on pool offers local PVs (prod: infer-l40s)
    assert out["storage_classes"] == {"default": "gp3", "checkpoints": "checkpoints",
                                      "shared_datasets": "shared-datasets",
                                      "scratch": "local-nvme" if out["scratch_pools"] else None}


STORAGE_PREFIXES = ("data-key", "datasets", "models", "efs-csi", "ebs-csi", "data-access-", "storage-classes",
                    "local-nvme")


def test_storage_components_parent_every_child(any_stack_plan):
    by_urn = {r.urn: r for r in any_stack_plan.resources}
    custom = [r for r in any_stack_plan.resources if r.custom and r.name.startswith(STORAGE_PREFIXES)]
    assert len(custom) > 30
    for r in custom:
        parent = by_urn.get(r.parent)
        assert parent is not None and parent.type.startswith("gpufleet:"), r.name
    tops = {r.type.rsplit(":", 1)[-1] for r in any_stack_plan.resources
            if r.type.startswith("gpufleet:storage:") and r.parent not in by_urn}
    cleanup = {"NodeCleanup"} if any_stack_plan.outputs["storage"]["scratch_pools"] else set()
    assert tops == {"DataKey", "Efs", "CsiDriver", "StorageClasses", "SecureBucket", "TeamDataAccess", *cleanup}


def test_non_default_storage_options_render():
    """One render for the paths the shipped stacks do not take: One Zone EFS with provisioned
    throughput and no IA, retained data, pinned add-on versions, a team with no bucket access."""
    raw = raw_config("dev")
    edit(raw, "gpufleet:storage.efs", {"one_zone_az": "us-east-1b", "throughput": "provisioned",
                                       "provisioned_mibps": 256, "ia_after_days": None, "backups": True,
                                       "retain_on_delete": True})
    edit(raw, "gpufleet:storage.buckets.grants", [{"team": "research"},
                                                  {"team": "applied", "datasets": "none", "models": "none"}])
    edit(raw, "gpufleet:storage.addon_versions", {"aws-ebs-csi-driver": "v1.45.0-eksbuild.1"})
    # 256 MiB/s of provisioned throughput bills $1,536 a month: the budget guards count it (issue 18),
    # so the budget goes up to dev's ceiling to cover it
    edit(raw, "gpufleet:cost.budget_usd", 10_000)
    plan = render(raw)
    fs = plan.get(FS, "datasets-efs-fs")
    assert fs.inputs["availabilityZoneName"] == "us-east-1b"
    assert (fs.inputs["throughputMode"], fs.inputs["provisionedThroughputInMibps"]) == ("provisioned", 256)
    assert "lifecyclePolicies" not in fs.inputs
    assert fs.retain_on_delete is True
    (mt,) = plan.by_type(MT)
    assert mt.name == "datasets-efs-mt-us-east-1b" and mt.inputs["subnetId"] == "network-private-us-east-1b-id"
    assert plan.get("aws:efs/backupPolicy:BackupPolicy", "datasets-efs-backup").inputs["backupPolicy"]["status"] == "ENABLED"
    assert plan.get(ADDON, "ebs-csi-addon").inputs["addonVersion"] == "v1.45.0-eksbuild.1"
    # an unpinned add-on gets EKS's default for the cluster's version (it follows an upgrade)
    version = plan.config.cluster.version
    assert plan.get(ADDON, "efs-csi-addon").inputs["addonVersion"] == f"aws-efs-csi-driver-default-for-{version}"
    assert [r.name for r in plan.by_type(ASSOC) if r.name.startswith("data-access-")] == [
        "data-access-research-identity-association"]
    assert set(plan.outputs["storage"]["team_data_access"]) == {"research"}


def test_readme_examples_validate_and_name_real_classes(dev_plan):
    """The PVCs in the README's storage section are valid objects that use the classes the stack creates."""
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    text = readme.split("\n## Storage:", 1)[1].split("\n## ", 1)[0]
    docs = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]
    objects = [d for d in docs if isinstance(d, dict) and "kind" in d]
    pvcs = [d for d in objects if d["kind"] == "PersistentVolumeClaim"]
    assert {p["spec"]["storageClassName"] for p in pvcs} == set(storage_classes(dev_plan)) - {"gp3"}
    for obj in objects:
        assert validate_builtin(obj, dev_plan.config.cluster.version) == [], obj["metadata"]["name"]
