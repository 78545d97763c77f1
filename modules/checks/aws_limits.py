"""AWS limits on what the program sends for the pools and the teams (from ``modules/schema/pools.py``,
``modules/schema/teams.py`` and ``modules/schema/storage.py``).

Each figure is counted from the builders the components use, against a limit of
``modules/data/service_limits.json`` (each with its source and date), so a stack AWS would
refuse halfway through ``pulumi up`` is refused before any resource is declared:

- **Managed node groups per cluster**: the system pool and every GPU pool are one EKS managed
  node group each (``modules/nodepool.py``); EKS's default quota is 30 per cluster.
- **Auto Scaling group tags**: a node group's Auto Scaling group carries the tags EKS puts there
  and one ``aws.autoscaling.Tag`` per cluster-autoscaler node-template tag
  (:func:`modules.nodespec.autoscaler_tags`: one per node label, taint and offered resource),
  and EC2 Auto Scaling takes at most 50 tags per group, keys of at most 128 characters and values
  of at most 256. The node group's own (cost-allocation) tags do not reach the group.
- **Pod Identity associations per cluster**: one for each add-on that calls AWS (the EFS and
  EBS CSI drivers, the cluster-autoscaler, Kubecost's alertmanager) and one for every team
  whose bucket grant gives access (``modules/storage/grants.py``); EKS takes at most 5,000.

The single-field limits (public endpoint CIDRs, access entries, node group label keys and
values, taints per node group) are field rules (``modules.schema.foundation``,
``modules.schema.pools``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import catalog
from ..nodespec import CA_TEMPLATE, NodeSpec, autoscaler_tags, gpu_spec, system_spec
from ..schema.base import fail
from ..schema.storage import grants

if TYPE_CHECKING:  # pragma: no cover
    from ..schema.pools import GpuPool
    from ..schema.stack import StackConfig

LIMITS = catalog.load("service_limits.json")["limits"]
MAX_NODE_GROUPS: int = LIMITS["eks_managed_node_groups"]["value"]
MAX_ASG_TAGS: int = LIMITS["asg_tags"]["value"]
ASG_TAG_KEY_MAX: int = LIMITS["asg_tag_key_max"]["value"]
ASG_TAG_VALUE_MAX: int = LIMITS["asg_tag_value_max"]["value"]
#: the tags EKS itself puts on a managed node group's Auto Scaling group
EKS_ASG_TAGS: tuple[str, ...] = tuple(LIMITS["eks_managed_asg_tags"]["value"])
MAX_POD_IDENTITY_ASSOCIATIONS: int = LIMITS["eks_pod_identity_associations"]["value"]
#: the add-ons bound to an IAM role by EKS Pod Identity whatever the config (modules/storage/csi.py
#: EFS_DRIVER and EBS_DRIVER, modules/ml/autoscaler.py)
ADDON_IDENTITIES = ("efs-csi", "ebs-csi", "cluster-autoscaler")


def check(cfg: "StackConfig") -> None:
    node_groups = 1 + len(cfg.pools.gpu)
    if node_groups > MAX_NODE_GROUPS:
        fail("pools.gpu", len(cfg.pools.gpu),
             f"at most {MAX_NODE_GROUPS - 1} GPU pools, not {len(cfg.pools.gpu)}: each pool and the system pool is an "
             f"EKS managed node group, and EKS's quota is {MAX_NODE_GROUPS} per cluster")
    check_asg_tags("pools.system", system_spec(cfg.pools.system))
    for i, pool in enumerate(cfg.pools.gpu):
        check_asg_tags(f"pools.gpu[{i}]", gpu_spec(pool, cfg.network.azs), pool)
    _pod_identities(cfg)


def asg_tag_count(spec: NodeSpec) -> int:
    """The tags on a pool's Auto Scaling group: EKS's own and the node-template tags the
    ``NodePool`` component adds (one ``aws.autoscaling.Tag`` each)."""
    return len(EKS_ASG_TAGS) + len(autoscaler_tags(spec))


def check_asg_tags(path: str, spec: NodeSpec, pool: "GpuPool | None" = None) -> None:
    """The node-template tags of one pool fit EC2 Auto Scaling's limits; ``path`` is the pool's key path."""
    labels = dict(pool.labels) if pool else {}
    taints = [t.key for t in pool.taints] if pool else []
    for key, value in autoscaler_tags(spec).items():
        kind, _, name = key.removeprefix(f"{CA_TEMPLATE}/").partition("/")
        where = (f"{path}.labels.{name}" if kind == "label" and name in labels
                 else f"{path}.taints[{taints.index(name)}].key" if kind == "taint" and name in taints else path)
        if len(key) > ASG_TAG_KEY_MAX:
            fail(where, name, f"a {kind} key that keeps the cluster-autoscaler's tag key {CA_TEMPLATE}/{kind}/<key> "
                              f"within {ASG_TAG_KEY_MAX} characters (EC2 Auto Scaling's limit; pool {spec.name}: "
                              f"{len(key)})")
        if len(value) > ASG_TAG_VALUE_MAX:
            fail(where, value, f"a {kind} value whose node-template tag value has at most {ASG_TAG_VALUE_MAX} "
                               f"characters (EC2 Auto Scaling's limit; pool {spec.name}: {len(value)})")
    total = asg_tag_count(spec)
    if total <= MAX_ASG_TAGS:
        return
    over, template = total - MAX_ASG_TAGS, total - len(EKS_ASG_TAGS)
    why = (f"the Auto Scaling group of pool {spec.name} would carry {total} tags ({len(EKS_ASG_TAGS)} that EKS "
           f"sets and {template} cluster-autoscaler node-template tags, one per label, taint and resource), "
           f"and EC2 Auto Scaling allows {MAX_ASG_TAGS} per group")
    if len(taints) >= over:
        fail(f"{path}.taints", len(taints), f"at most {len(taints) - over} taints on pool {spec.name}, not "
                                            f"{len(taints)}: {why}")
    fail(f"{path}.labels" if labels else path, len(labels),
         f"at most {max(0, len(labels) - (over - len(taints)))} labels with {len(taints)} taints on pool "
         f"{spec.name}: {why}")


def pod_identity_associations(cfg: "StackConfig") -> list[str]:
    """What the program binds to an IAM role with an EKS Pod Identity association: the
    add-ons (:data:`ADDON_IDENTITIES`, Kubecost's alertmanager with ``cost.tool: kubecost``,
    modules/cost/tool.py) and every team whose bucket grant gives some access
    (modules/storage/__init__.py skips a grant of none and none)."""
    names = list(ADDON_IDENTITIES) + (["kubecost"] if cfg.cost.tool == "kubecost" else [])
    return names + [f"data-access-{g.team}" for g in grants(cfg) if (g.datasets, g.models) != ("none", "none")]


def _pod_identities(cfg: "StackConfig") -> None:
    associations = pod_identity_associations(cfg)
    if len(associations) <= MAX_POD_IDENTITY_ASSOCIATIONS:
        return
    addons = len(ADDON_IDENTITIES) + (cfg.cost.tool == "kubecost")
    teams = len(associations) - addons
    key = "storage.buckets.grants" if cfg.storage.buckets.grants is not None else "teams"
    fail(key, len(cfg.storage.buckets.grants if key != "teams" else cfg.teams),
         f"at most {MAX_POD_IDENTITY_ASSOCIATIONS - addons} teams with bucket access, not {teams}: each one's data "
         f"access role is an EKS Pod Identity association, EKS allows {MAX_POD_IDENTITY_ASSOCIATIONS} per cluster "
         f"(not adjustable) and the add-ons take {addons} (grant datasets: none and models: none to teams "
         "that need no bucket)")
