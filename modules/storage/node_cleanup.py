"""``NodeCleanup``: the local-static-provisioner's node-cleanup controller.

A local PV names the node that holds it (node affinity on ``kubernetes.io/hostname``).
When the cluster-autoscaler removes a node above the pool's ``min`` (or EC2 replaces a
failed one), its ``local-nvme`` PVs and their bound PVCs stay behind, pointing at a node
that no longer exists: a pod of that claim can never be scheduled again, and the PVs pile
up. The controller watches node deletions, waits ``--pvc-deletion-delay`` in case the node
comes back, then deletes the claim; its deleter removes PVs of deleted nodes that are
Available or Released with reclaim Delete. It never touches disks (the instance store is
gone with the instance) and only handles the StorageClasses it is given.

Upstream: kubernetes-sigs/sig-storage-local-static-provisioner
``docs/node-cleanup-controller.md`` (flags), ``deployment/kubernetes/example/
node-cleanup-controller/deployment.yaml`` and ``rbac.yaml`` (the Deployment, the
ServiceAccount, the ClusterRole on PVs, PVCs, nodes and events, and its binding),
``cmd/node-cleanup/main.go`` (flag defaults: delay 60s, discovery 10s, metrics ``:8080``).
The pinned chart ``local-static-provisioner`` 2.9.0 has no value for it
(``modules/data/reference/helm-values/local-static-provisioner-2.9.0.json``), so the
objects are declared here. Image tag: the newest ``local-volume-node-cleanup`` release in
the registry's promotion manifest (kubernetes/k8s.io
``registry.k8s.io/images/k8s-staging-sig-storage/images.yaml``: v2.6.0, v2.7.0, v2.8.0),
all of which take the flags used here.

The controller runs one replica (it has no leader election) on the system pool, as a
non-root user with a read-only root file system and no capabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import sizing
from ..nodespec import POOL_LABEL

IMAGE = "registry.k8s.io/sig-storage/local-volume-node-cleanup:v2.8.0"
NAME = "local-volume-node-cleanup"
#: wait this long after a node is deleted before deleting its claims (upstream's example and
#: default): an instance-store node that is gone does not come back with its data, so a
#: longer wait only delays the job's restart
PVC_DELETION_DELAY_SECONDS = 60
#: how often the deleter looks for PVs of deleted nodes (upstream's example and default)
STALE_PV_DISCOVERY_SECONDS = 10
METRICS_PORT = 8080
#: the distroless "nonroot" user
RUN_AS = 65532


def controller_args(storage_classes: Sequence[str], pvc_deletion_delay_seconds: int = PVC_DELETION_DELAY_SECONDS,
                    stale_pv_discovery_seconds: int = STALE_PV_DISCOVERY_SECONDS) -> list[str]:
    """Command-line flags of the controller (docs/node-cleanup-controller.md)."""
    if not storage_classes:
        raise ValueError("the node-cleanup controller needs the StorageClasses it may clean up")
    return [
        f"--storageclass-names={','.join(storage_classes)}",
        f"--pvc-deletion-delay={pvc_deletion_delay_seconds}s",
        f"--stale-pv-discovery-interval={stale_pv_discovery_seconds}s",
        f"--listen-address=:{METRICS_PORT}",
    ]


@dataclass(frozen=True)
class NodeCleanupArgs:
    namespace: str
    #: StorageClasses whose PVs and claims may be deleted when their node is gone
    storage_classes: Sequence[str]
    pvc_deletion_delay_seconds: int = PVC_DELETION_DELAY_SECONDS
    #: what must exist first (the namespace)
    depends_on: Sequence[pulumi.Resource] = ()


class NodeCleanup(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: NodeCleanupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:storage:NodeCleanup", name, None, opts)
        ns = args.namespace
        labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "node-cleanup-controller",
                  "app.kubernetes.io/part-of": "gpufleet", "app.kubernetes.io/managed-by": "pulumi"}
        selector = {"app.kubernetes.io/name": NAME}
        cluster_name = f"{ns}-node-cleanup"
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=ns, labels=labels), opts=after)
        k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=cluster_name, labels=labels),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["persistentvolumes", "persistentvolumeclaims"],
                                           verbs=["get", "list", "watch", "delete"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["nodes"], verbs=["get", "list", "watch"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["events"], verbs=["create"]),
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=cluster_name, labels=labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                             name=cluster_name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=NAME, namespace=ns)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-controller",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=ns, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                # never two controllers at once (no leader election)
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=NAME,
                        node_selector={POOL_LABEL: "system"},
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=RUN_AS, run_as_group=RUN_AS,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="node-cleanup-controller",
                            image=IMAGE,
                            args=controller_args(args.storage_classes, args.pvc_deletion_delay_seconds),
                            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT)],
                            liveness_probe=k8s.core.v1.ProbeArgs(
                                http_get=k8s.core.v1.HTTPGetActionArgs(path="/metrics", port="metrics"),
                                initial_delay_seconds=10, period_seconds=60),
                            resources=k8s.core.v1.ResourceRequirementsArgs(**sizing.platform(
                                f"program/Deployment/{NAME}/node-cleanup-controller").values()),
                            security_context=k8s.core.v1.SecurityContextArgs(
                                allow_privilege_escalation=False, read_only_root_filesystem=True,
                                run_as_non_root=True,
                                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])),
                        )],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        self.register_outputs({"deployment": NAME})
