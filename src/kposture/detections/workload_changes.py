"""Detections of workloads written into the cluster: pods and pod templates that hand the node to the
container (privileged, dangerous capabilities, host namespaces, sensitive host paths), CronJobs (code
that runs again on a schedule) and DaemonSets (code on every node).

Privileged pods are judged whoever creates them: controllers create most pods, and a privileged pod
is the problem whichever identity wrote it. Once, though: the workload a person wrote is the alert,
so what Kubernetes' built-in controllers create for it (a Deployment's ReplicaSet, the ReplicaSet's
pods, a CronJob's Jobs and their pods...) does not alert again while its owner's alert is remembered
(``AlertedWorkloads``). A controller's object whose owner was not seen alerting (written before the
log starts, or logged without its body) still alerts, as does anything an operator, a person or an
impersonator writes, or a built-in controller writes for an owner of another kind. CronJobs and
DaemonSets written by Kubernetes' own identities (components, nodes, kube-system's ServiceAccounts)
are not judged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kposture.detections._bounded import BoundedTable
from kposture.detections._containment import (
    after,
    controller_of,
    host_pod_containment,
    pod_target,
    stop_step,
)
from kposture.detections._events import (
    CHANGE_VERBS,
    by_kubernetes,
    changed_object,
    made,
    mapping,
    mitre,
    outsider_gate,
    scoped,
    who,
)
from kposture.detections._host_access import host_access
from kposture.detections.base import BodyNeed, Detection, Interest
from kposture.detections.settings import DetectionSettings
from kposture.inventory import containers
from kposture.model import K8sObject, Severity
from kposture.model.audit import SERVICE_ACCOUNT_PREFIX, AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

WORKLOAD_RESOURCES = frozenset(
    {
        "pods",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "replicationcontrollers",
        "jobs",
        "cronjobs",
        "podtemplates",
    }
)
BUILT_IN_CONTROLLERS = {
    ("apps", "Deployment"): "deployment-controller",
    ("apps", "ReplicaSet"): "replicaset-controller",
    ("apps", "DaemonSet"): "daemon-set-controller",
    ("apps", "StatefulSet"): "statefulset-controller",
    ("batch", "Job"): "job-controller",
    ("batch", "CronJob"): "cronjob-controller",
    ("", "ReplicationController"): "replication-controller",
}
"""The workload kinds (group, kind) whose objects Kubernetes' controllers create, each with the
kube-system ServiceAccount its controller writes as (``--use-service-account-credentials``)."""
CONTROLLER_MANAGER = "system:kube-controller-manager"
"""The controllers' identity when they share the controller manager's credentials."""

WorkloadKey = tuple[str, str, str, str]
"""A workload by namespace, API group, kind and name."""


class AlertedWorkloads:
    """The workloads whose privileged pod template alerted in this stream, and the objects their
    controllers created for them (the least recently seen dropped past
    ``max_tracked_identities``)."""

    __slots__ = ("settings", "table")

    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings
        self.table: BoundedTable[WorkloadKey, bool] = BoundedTable(settings.max_tracked_identities)

    def remember(self, key: WorkloadKey | None) -> None:
        if key is not None:
            self.table.put(key, True)

    def alerted(self, key: WorkloadKey | None) -> bool:
        return key is not None and self.table.get(key) is not None


def _workload_key(event: AuditEvent, obj: K8sObject) -> WorkloadKey | None:
    """The written object as an owner of others: a named workload (not a pod or pod template)."""
    metadata = mapping(obj.raw.get("metadata"))
    name = str(metadata.get("name") or event.ref.name or "")
    if obj.ref.kind in ("Pod", "PodTemplate") or not name:
        return None
    return (obj.ref.namespace, event.ref.api_group or obj.ref.group, obj.ref.kind, name)


def _controller_reference(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``ownerReference`` marked ``controller`` (empty when there is none)."""
    owners = metadata.get("ownerReferences")
    for owner in owners if isinstance(owners, list) else ():
        if mapping(owner).get("controller") is True:
            return mapping(owner)
    return {}


def _created_for_owner(event: AuditEvent, obj: K8sObject) -> WorkloadKey | None:
    """The owner the object was written for by its built-in controller: its controller
    ``ownerReference`` names a workload kind Kubernetes' controllers create objects for, and the
    request came, without impersonation, from that kind's controller. None otherwise (a person, an
    operator, an owner of another kind or group)."""
    owner = _controller_reference(mapping(obj.raw.get("metadata")))
    group = str(owner.get("apiVersion") or "").rpartition("/")[0]
    kind, name = str(owner.get("kind") or ""), str(owner.get("name") or "")
    controller = BUILT_IN_CONTROLLERS.get((group, kind))
    if controller is None or not name or event.impersonated_user is not None:
        return None
    if event.user.username not in (
        f"{SERVICE_ACCOUNT_PREFIX}kube-system:{controller}",
        CONTROLLER_MANAGER,
    ):
        return None
    return (obj.ref.namespace, group, kind, name)


def _privileged_pod(event: AuditEvent, state: AlertedWorkloads) -> Iterator[Hit]:
    obj = changed_object(event, WORKLOAD_RESOURCES)
    if obj is None:
        return
    found = host_access(obj)
    if found is None:
        return
    if state.alerted(_created_for_owner(event, obj)):
        state.remember(_workload_key(event, obj))  # its own objects belong to the same alert
        return
    state.remember(_workload_key(event, obj))
    severity, reasons = found
    ref = obj.ref
    metadata = mapping(obj.raw.get("metadata"))
    owner_kind, owner_name = controller_of(metadata)
    owner = f"{owner_kind}/{owner_name}" if owner_kind else ""
    if ref.kind == "Pod":
        target = pod_target(ref.namespace, event.ref.name, obj.raw)
        name = target.shown
        step = host_pod_containment(target)
    else:
        name = scoped(ref.namespace, ref.name or "<generated name>")
        step = (
            "Unless it is an approved node agent: a NetworkPolicy will not contain its pods, "
            "they can act as their nodes. First find the nodes they run on (the NODE column of "
            f"kubectl get pods -n {ref.namespace or 'default'} -o wide), cordon them with kubectl "
            "cordon so nothing new runs there, and inspect the pods while they run. "
            + after("Then", stop_step(ref.kind, ref.namespace, ref.name))
            + " Keep the nodes for forensics: drain them and rebuild them only once they are "
            "examined."
        )
    yield Hit(
        f"{who(event)} {made(event)} {ref.kind} {name} that {'; '.join(reasons)}",
        step,
        severity,
        (("object", f"{ref.kind}/{name}"), ("owner", owner), ("reasons", "; ".join(reasons))),
    )


PRIVILEGED_POD = Detection(
    DetectionMeta(
        id="privileged-pod-created",
        title="Privileged, host-namespace or host-mounting pod created",
        severity=Severity.CRITICAL,
        technique=mitre("T1611", "Escape to Host"),
        also=(mitre("T1610", "Deploy Container"),),
        tactic="privilege-escalation",
        description=(
            "A pod or pod template (a Deployment's, a DaemonSet's, a CronJob's...) was created or "
            "changed to run privileged, add a dangerous capability (SYS_ADMIN, NET_ADMIN, "
            "SYS_PTRACE, SYS_MODULE, SYS_RAWIO, DAC_READ_SEARCH, BPF, PERFMON, ALL), share the "
            "host's PID, IPC or network namespace or mount a sensitive host path or the container "
            "runtime socket. Each hands the node to the container. Host IPC and host network alone "
            "are high, as their scanner rules are. Judged whoever writes the pod (controllers "
            "create most pods), once per workload: what Kubernetes' controllers create for a "
            "workload that alerted in the stream (its ReplicaSets, Jobs, pods) does not alert "
            "again; state is bounded (least recently seen dropped). Needs the audit level Request "
            "for pod and workload writes."
        ),
        response=(
            "Unless it is an approved node agent: cordon the nodes its pods run on, inspect the "
            "pods while they run, then scale the workload to zero or delete it (a NetworkPolicy "
            "will not contain a pod that can act as its node); keep the nodes for forensics "
            "before draining them, and enforce Pod Security baseline on the namespace."
        ),
        stateful=True,
    ),
    _privileged_pod,
    AlertedWorkloads,
    interest=Interest(CHANGE_VERBS, WORKLOAD_RESOURCES),
    needs_body=BodyNeed(CHANGE_VERBS, WORKLOAD_RESOURCES),
)


def _written_by_outsider(event: AuditEvent, settings: DetectionSettings, resource: str) -> bool:
    """An allowed write of ``resource`` itself (no subresource) by an identity that is not
    Kubernetes' own."""
    ref = event.ref
    return (
        ref.resource == resource
        and not ref.subresource
        and event.allowed
        and not by_kubernetes(event, settings.protected_namespaces)
    )


def _images(event: AuditEvent, resource: str) -> list[str]:
    """The images of the written workload's containers, when the audit policy logged its body."""
    obj = changed_object(event, (resource,))
    return [] if obj is None else [str(ref.container.get("image", "")) for ref in containers(obj)]


def _cronjob(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    if event.verb not in CHANGE_VERBS or not _written_by_outsider(event, settings, "cronjobs"):
        return
    ref = event.ref
    body = event.object or {}
    name = ref.name or str(mapping(body.get("metadata")).get("name") or "<generated name>")
    where = scoped(ref.namespace, name)
    schedule = str(mapping(body.get("spec")).get("schedule") or "")
    images = _images(event, "cronjobs")
    details = [
        text
        for text in (
            schedule and f"schedule {schedule!r}",
            images and f"images {', '.join(images)}",
        )
        if text
    ]
    yield Hit(
        f"{who(event)} {made(event)} CronJob {where}"
        + (f" ({'; '.join(details)})" if details else ""),
        "Unless it belongs to an approved deployment: "
        + stop_step("CronJob", ref.namespace, name)
        + " A CronJob starts its pods again and again, long after the person who wrote it left.",
        None,
        (("cronjob", where), ("schedule", schedule), ("images", ",".join(images))),
    )


CRONJOB_CREATED = Detection(
    DetectionMeta(
        id="cronjob-created",
        title="CronJob created or changed",
        severity=Severity.MEDIUM,
        technique=mitre("T1053.007", "Scheduled Task/Job: Container Orchestration Job"),
        tactic="persistence",
        description=(
            "A person or a workload's ServiceAccount created or changed a CronJob: code that runs "
            "again on a schedule, a common way to stay in a cluster. The schedule and images are "
            "named when the audit policy logs the body (Request); the alert does not need it."
        ),
        response=(
            "Confirm the CronJob belongs to an approved deployment; otherwise suspend it, delete "
            "the Jobs it started and find out who wrote it."
        ),
    ),
    _cronjob,
    interest=Interest(CHANGE_VERBS, frozenset({"cronjobs"})),
    gate=outsider_gate,
)


def _daemonset(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    if event.verb != "create" or not _written_by_outsider(event, settings, "daemonsets"):
        return
    ref = event.ref
    body = event.object or {}
    name = ref.name or str(mapping(body.get("metadata")).get("name") or "<generated name>")
    where = scoped(ref.namespace, name)
    images = _images(event, "daemonsets")
    shown = f" (images {', '.join(images)})" if images else ""
    yield Hit(
        f"{who(event)} created DaemonSet {where}{shown}, which runs a pod on every node",
        "Unless it is an approved node agent: "
        + stop_step("DaemonSet", ref.namespace, name)
        + " Check what its pods did on the nodes.",
        None,
        (("daemonset", where), ("images", ",".join(images))),
    )


DAEMONSET_CREATED = Detection(
    DetectionMeta(
        id="daemonset-created",
        title="DaemonSet created",
        severity=Severity.MEDIUM,
        technique=mitre("T1610", "Deploy Container"),
        tactic="execution",
        description=(
            "A person or a workload's ServiceAccount created a DaemonSet: a pod on every node, "
            "present and future, which is how node agents are installed and how an intruder "
            "reaches every node at once. The images are named when the audit policy logs the "
            "body (Request); the alert does not need it."
        ),
        response="Confirm the DaemonSet is an approved node agent; otherwise move it off the nodes.",
    ),
    _daemonset,
    interest=Interest(frozenset({"create"}), frozenset({"daemonsets"})),
    gate=outsider_gate,
)

DETECTIONS: tuple[Detection, ...] = (PRIVILEGED_POD, CRONJOB_CREATED, DAEMONSET_CREATED)
