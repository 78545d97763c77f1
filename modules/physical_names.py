"""Physical AWS names: every name this program sets, as a template, with the limit of the
service that owns it (issue #11).

Logical names are stable and meaningful (DEVELOPING.md rule 5); physical names are what
AWS sees, built from the stack name (``gpufleet-<stack>``), the region, the account and
pool or team names. Each service limits them, and a name past the limit fails only at
deploy, after other resources were created. The components keep building names as they
do; this module lists the templates as data (:data:`TEMPLATES`), and
``tests/test_physical_names.py`` renders the shipped stacks and asserts that every
physical name in the plan matches a template listed here, so a new name cannot be added
without its limit.

:func:`check_stack` is called where a stack name enters the CLI (``gpufleet/plan.py``
before the program runs, ``gpufleet/replicate.py`` before anything is written): the stack
name must be a lowercase DNS label of at most :func:`max_stack_length` characters, a bound
computed from the templates (the longest, the S3 bucket, in the longest region gpufleet
knows), so every name derived from it fits in every region.

Pulumi names some resources itself (IAM roles, inline policies, launch templates, ...):
the logical name plus ``-`` and 7 random hex characters (pulumi-aws ``AutoName``; for
``aws_iam_role`` with a maximum of 64). Those templates have ``key=None`` and count the
8-character suffix.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import catalog
from .config import NS, ConfigError, Verbatim

if TYPE_CHECKING:  # pragma: no cover
    from .schema.stack import StackConfig

#: ``-`` and 7 hex characters that Pulumi appends to an auto-named resource's logical name
AUTONAME_SUFFIX = 8
#: pool and team names (``modules/schema/base.py`` ``Name``): 1-40 characters
NAME_MAX = 40
#: a DNS label (the stack name's syntax; the S3 bucket name takes lowercase only)
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class Limit:
    """What a service accepts as a name."""

    service: str
    min_len: int
    max_len: int
    #: the characters and shape (full match)
    pattern: str
    #: the same in words
    allowed: str
    #: where the rule is documented
    source: str
    #: further rules: the problem with a name, or None
    extra: Callable[[str], str | None] | None = None

    def problem(self, name: str) -> str | None:
        if not self.min_len <= len(name) <= self.max_len:
            return f"{len(name)} characters"
        if not re.fullmatch(self.pattern, name):
            return "characters or shape not allowed"
        return self.extra(name) if self.extra else None


def _s3_extra(name: str) -> str | None:
    if ".." in name:
        return "two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
        return "formatted as an IP address"
    except ValueError:
        pass
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"the reserved prefix {prefix}"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return f"the reserved suffix {suffix}"
    return None


def _kms_alias_extra(name: str) -> str | None:
    return "the prefix alias/aws/ reserved for AWS managed keys" if name.startswith("alias/aws/") else None


def _security_group_extra(name: str) -> str | None:
    return "the prefix sg- reserved for group IDs" if name.startswith("sg-") else None


S3_BUCKET = Limit(
    "S3 bucket name", 3, 63, r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
    "3-63 characters a-z, 0-9, '.', '-', alphanumeric at both ends, no '..', not an IP address",
    "docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html", _s3_extra)
EKS_CLUSTER = Limit(
    "EKS cluster name", 1, 100, r"[0-9A-Za-z][A-Za-z0-9\-_]*",
    "1-100 characters A-Z, a-z, 0-9, '-', '_', starting alphanumeric",
    "docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html")
EKS_NODEGROUP = Limit(
    "EKS node group name", 1, 63, r"[0-9A-Za-z][A-Za-z0-9\-_]*",
    "1-63 characters A-Z, a-z, 0-9, '-', '_', starting alphanumeric",
    "docs.aws.amazon.com/eks/latest/userguide/create-managed-node-group.html")
LOG_GROUP = Limit(
    "CloudWatch log group name", 1, 512, r"[.\-_/#A-Za-z0-9]+",
    "1-512 characters A-Z, a-z, 0-9, '.', '-', '_', '/', '#'",
    "docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html")
KMS_ALIAS = Limit(
    "KMS alias name", 7, 256, r"alias/[a-zA-Z0-9/_-]+",
    "'alias/' and 1-250 characters A-Z, a-z, 0-9, '/', '_', '-', not under alias/aws/",
    "docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html", _kms_alias_extra)
SNS_TOPIC = Limit(
    "SNS topic name", 1, 256, r"[A-Za-z0-9_-]+",
    "1-256 characters A-Z, a-z, 0-9, '-', '_'",
    "docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html")
BUDGET = Limit(
    "AWS Budgets name", 1, 100, r"[^:\\]+",
    "1-100 characters without ':' or '\\'",
    "docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_Budget.html")
EFS_CREATION_TOKEN = Limit(
    "EFS creation token", 1, 64, r".+",
    "1-64 characters",
    "docs.aws.amazon.com/efs/latest/ug/API_CreateFileSystem.html")
SCHEDULED_ACTION = Limit(
    "EC2 Auto Scaling scheduled action name", 1, 255, r"[\u0020-\uD7FF\uE000-\uFFFD\r\n\t]+",
    "1-255 characters",
    "docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutScheduledUpdateGroupAction.html")
IAM_ROLE = Limit(
    "IAM role name", 1, 64, r"[\w+=,.@-]+",
    "1-64 characters A-Z, a-z, 0-9, '+=,.@_-'",
    "docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html")
IAM_POLICY = Limit(
    "IAM inline policy name", 1, 128, r"[\w+=,.@-]+",
    "1-128 characters A-Z, a-z, 0-9, '+=,.@_-'",
    "docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html")
LAUNCH_TEMPLATE = Limit(
    "EC2 launch template name", 3, 128, r"[a-zA-Z0-9().\-/_]+",
    "3-128 characters A-Z, a-z, 0-9, '().-/_'",
    "docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html")
SECURITY_GROUP = Limit(
    "EC2 security group name", 1, 255, r"[\x20-\x7e]+",
    "1-255 ASCII characters, not starting with sg-",
    "docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html", _security_group_extra)
AUTOSCALING_GROUP = Limit(
    "EC2 Auto Scaling group name", 1, 255, r"[\u0020-\uD7FF\uE000-\uFFFD\r\n\t]+",
    "1-255 characters",
    "docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html")
IAM_INSTANCE_PROFILE = Limit(
    "IAM instance profile name", 1, 128, r"[\w+=,.@-]+",
    "1-128 characters A-Z, a-z, 0-9, '+=,.@_-'",
    "docs.aws.amazon.com/IAM/latest/APIReference/API_CreateInstanceProfile.html")
PLACEMENT_GROUP = Limit(
    "EC2 placement group name", 1, 255, r"[\x20-\x7e]+",
    "1-255 ASCII characters",
    "docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreatePlacementGroup.html")


@dataclass(frozen=True)
class Template:
    #: the Pulumi type token of the resource that carries the name
    resource_type: str
    #: the input holding the name (camelCase, as recorded); None: Pulumi names the
    #: resource from its logical name (the template is then the logical name)
    key: str | None
    #: placeholders: {stack} {region} {account} {purpose} {pool} {team} {logical}
    template: str
    limit: Limit
    #: the code that builds the name
    where: str

    @property
    def autonamed(self) -> bool:
        return self.key is None

    def room(self, name: str) -> int:
        """Characters counted against the limit (Pulumi's suffix included)."""
        return len(name) + (AUTONAME_SUFFIX if self.autonamed else 0)

    def problem(self, name: str) -> str | None:
        probe = name + "-abcdef0" if self.autonamed else name
        return self.limit.problem(probe)


TEMPLATES: tuple[Template, ...] = (
    Template("aws:eks/cluster:Cluster", "name", "gpufleet-{stack}", EKS_CLUSTER, "modules/platform.py cluster_name"),
    Template("aws:cloudwatch/logGroup:LogGroup", "name", "/aws/eks/gpufleet-{stack}/cluster", LOG_GROUP,
             "modules/cluster.py (the log group EKS writes control-plane logs to)"),
    Template("aws:kms/alias:Alias", "name", "alias/gpufleet-{stack}-secrets", KMS_ALIAS, "modules/cluster.py"),
    Template("aws:kms/alias:Alias", "name", "alias/gpufleet-{stack}-data", KMS_ALIAS, "modules/storage/keys.py"),
    Template("aws:s3/bucket:Bucket", "bucket", "gpufleet-{stack}-{purpose}-{account}-{region}", S3_BUCKET,
             "modules/storage/buckets.py bucket_name"),
    Template("aws:efs/fileSystem:FileSystem", "creationToken", "gpufleet-{stack}-datasets", EFS_CREATION_TOKEN,
             "modules/storage/efs.py"),
    Template("aws:sns/topic:Topic", "name", "gpufleet-{stack}-cost-alerts", SNS_TOPIC, "modules/cost/budget.py"),
    Template("aws:budgets/budget:Budget", "name", "gpufleet-{stack}-monthly", BUDGET, "modules/cost/budget.py"),
    Template("aws:eks/nodeGroup:NodeGroup", "nodeGroupName", "{pool}", EKS_NODEGROUP, "modules/nodepool.py"),
    Template("aws:autoscaling/schedule:Schedule", "scheduledActionName", "gpufleet-{pool}-stop", SCHEDULED_ACTION,
             "modules/cost/schedules.py"),
    Template("aws:autoscaling/schedule:Schedule", "scheduledActionName", "gpufleet-{pool}-start", SCHEDULED_ACTION,
             "modules/cost/schedules.py"),
    # named by Pulumi from the logical name: the templates with a config part first
    Template("aws:iam/role:Role", None, "data-access-{team}-identity-role", IAM_ROLE, "modules/storage/grants.py"),
    Template("aws:iam/rolePolicy:RolePolicy", None, "data-access-{team}-identity-inline", IAM_POLICY,
             "modules/storage/grants.py"),
    Template("aws:ec2/launchTemplate:LaunchTemplate", None, "pool-{pool}-lt", LAUNCH_TEMPLATE, "modules/nodepool.py"),
    Template("aws:ec2/placementGroup:PlacementGroup", None, "pool-{pool}-placement", PLACEMENT_GROUP,
             "modules/nodepool.py"),
    Template("aws:ec2/securityGroup:SecurityGroup", None, "pool-{pool}-efa", SECURITY_GROUP, "modules/nodepool.py"),
    # ... and any fixed logical name (add-on identities, the node and control-plane roles, ...)
    Template("aws:iam/role:Role", None, "{logical}", IAM_ROLE, "modules/iam.py ServiceRole"),
    Template("aws:iam/rolePolicy:RolePolicy", None, "{logical}", IAM_POLICY, "modules/iam.py ServiceRole"),
    Template("aws:ec2/securityGroup:SecurityGroup", None, "{logical}", SECURITY_GROUP,
             "modules/storage/efs.py, modules/nat_instance.py"),
    Template("aws:ec2/launchTemplate:LaunchTemplate", None, "{logical}", LAUNCH_TEMPLATE, "modules/nat_instance.py"),
    Template("aws:autoscaling/group:Group", None, "{logical}", AUTOSCALING_GROUP, "modules/nat_instance.py"),
    Template("aws:iam/instanceProfile:InstanceProfile", None, "{logical}", IAM_INSTANCE_PROFILE,
             "modules/nat_instance.py"),
)

#: Inputs that hold a resource's own physical name (the test looks for them on every AWS resource)
NAME_INPUTS: dict[str, str] = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:autoscaling/schedule:Schedule": "scheduledActionName",
    "aws:efs/fileSystem:FileSystem": "creationToken",
}
#: ... and on any AWS resource
GENERIC_NAME_INPUTS = ("name", "namePrefix")

_PART_PATTERNS = {
    "stack": DNS_LABEL.pattern,
    "region": r"[a-z]{2}(?:-[a-z]+)+-\d+",
    "account": r"\d{12}",
    "purpose": r"datasets|models",
    "pool": DNS_LABEL.pattern,
    "team": DNS_LABEL.pattern,
    "logical": r"[A-Za-z0-9][-A-Za-z0-9_.]*",
}
#: the values of ``{purpose}`` (``modules/storage`` ``BUCKET_PURPOSES``; a test keeps them equal)
PURPOSES = ("datasets", "models")
#: an account ID has 12 digits
ACCOUNT_EXAMPLE = "123456789012"


def placeholders(template: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", template)


def pattern(template: Template) -> re.Pattern[str]:
    """A regex matching the names ``template`` renders, one named group per placeholder."""
    out, pos = "", 0
    for m in re.finditer(r"\{(\w+)\}", template.template):
        out += re.escape(template.template[pos:m.start()]) + f"(?P<{m.group(1)}>{_PART_PATTERNS[m.group(1)]})"
        pos = m.end()
    return re.compile(out + re.escape(template.template[pos:]))


def longest_region() -> str:
    return max(catalog.regions(), key=len)


def render(template: Template, **parts: str) -> str:
    return template.template.format(**parts)


def _renders(template: Template, stack: str, region: str) -> Iterator[str]:
    purposes = PURPOSES if "purpose" in placeholders(template.template) else ("",)
    for purpose in purposes:
        yield render(template, stack=stack, region=region, account=ACCOUNT_EXAMPLE, purpose=purpose)


def _stack_templates() -> list[Template]:
    return [t for t in TEMPLATES if "stack" in placeholders(t.template)]


def _headroom(template: Template, region: str) -> int:
    """Characters ``template``'s limit leaves for the stack name in ``region`` (its tightest rendering)."""
    return min(template.limit.max_len - template.room(name) for name in _renders(template, "", region))


@cache
def max_stack_length() -> int:
    """The longest stack name whose derived names fit every limit in every region gpufleet knows."""
    region = longest_region()
    return min(_headroom(t, region) for t in _stack_templates())


def _binding() -> Template:
    """The template that sets :func:`max_stack_length` (for the message)."""
    region = longest_region()
    return min(_stack_templates(), key=lambda t: _headroom(t, region))


def stack_rule() -> str:
    t = _binding()
    shown = t.template.replace("{", "<").replace("}", ">")
    return (f"a lowercase name of 1-{max_stack_length()} characters a-z, 0-9 and '-', alphanumeric at both ends: "
            f"AWS names are built from it, and the longest, the {t.limit.service} {shown}, "
            f"may have at most {t.limit.max_len} characters")


def _stack_given(stack: Any) -> Any:
    """A stack name as a message shows it: whole (a file name or an argument, not a file's
    content; a pool or team name the schema's name rule already took, which the message's
    expected names too)."""
    return Verbatim(stack) if isinstance(stack, str) else stack


def check_stack(stack: str, region: str | None, source: str, cfg: "StackConfig | None" = None) -> None:
    """Refuse a stack name (and, with ``cfg``, pool or team names) whose physical names a
    service would refuse: one :class:`modules.config.ConfigError` naming ``source``.

    ``region``: the stack's region (None or a region gpufleet does not know: the longest
    one it knows; the region itself is validated with the config)."""
    if not isinstance(stack, str) or not 1 <= len(stack) <= max_stack_length() or not DNS_LABEL.fullmatch(stack):
        raise ConfigError(source, "stack name", _stack_given(stack), stack_rule())
    known = region in catalog.regions()
    for t in _stack_templates():
        for name in _renders(t, stack, region if known else longest_region()):
            problem = t.problem(name)
            if problem:
                raise ConfigError(source, "stack name", _stack_given(stack),
                                  f"a name whose {t.limit.service} {name!r} is valid "
                                  f"({problem}; allowed: {t.limit.allowed})")
    if cfg is not None:
        _check_parts(cfg, source)


def _check_parts(cfg: "StackConfig", source: str) -> None:
    parts = [("pool", f"{NS}pools.gpu[{i}].name", p.name) for i, p in enumerate(cfg.pools.gpu)]
    parts += [("team", f"{NS}teams[{i}].name", t.name) for i, t in enumerate(cfg.teams)]
    for kind, key_path, value in parts:
        for t in TEMPLATES:
            if kind not in placeholders(t.template):
                continue
            name = render(t, **{kind: value})
            problem = t.problem(name)
            if problem:
                shown = name + ("-<7 random hex>" if t.autonamed else "")
                raise ConfigError(source, key_path, _stack_given(value),  # a name the schema took: whole
                                  f"a shorter {kind} name: the {t.limit.service} {shown!r} built from it "
                                  f"must be valid ({problem}; allowed: {t.limit.allowed})")

