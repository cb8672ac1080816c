"""Detections of changes in the protected namespaces (kube-system, kube-public, kube-node-lease by
default): workloads and ServiceAccounts created there by anyone but Kubernetes itself, other objects
written there (beyond the catalogue), and pods with images from outside the system registries that
Kubernetes' own controllers created there (beyond the catalogue).

One write is one alert: a workload created by a person is ``pod-in-system-namespace`` (naming any
foreign image), a ServiceAccount ``serviceaccount-in-system-namespace``, any other write
``system-namespace-object-changed``; Secrets there are ``system-namespace-secret-changed``'s (in
``credential_access``). ``system-namespace-foreign-image`` judges only the pods Kubernetes' own
controllers create, which no person's write explains.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from kposture.detections._containment import (
    PodTarget,
    can_command,
    host_pod_containment,
    inspect_then_stop,
    pod_step,
    pod_target,
    revoke_step,
)
from kposture.detections._events import (
    WRITE_VERBS,
    by_kubernetes,
    changed_object,
    kind_of,
    mitre,
    raw_by_outsider,
    scoped,
    who,
)
from kposture.detections._host_access import host_access
from kposture.detections.base import Detection, Interest
from kposture.detections.settings import DetectionSettings
from kposture.inventory import containers
from kposture.model import Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

WORKLOADS = frozenset(
    {
        "pods",
        "deployments",
        "daemonsets",
        "statefulsets",
        "replicasets",
        "replicationcontrollers",
        "jobs",
        "cronjobs",
    }
)
_OTHER_OBJECTS = frozenset(
    {
        "roles",
        "rolebindings",
        "configmaps",
        "services",
        "endpoints",
        "networkpolicies",
    }
)
"""What ``system-namespace-object-changed`` judges besides changes to workloads and
ServiceAccounts: what grants rights, configures components or steers traffic there."""
_CREATE = frozenset({"create"})


def _by_outsider_in_protected(event: AuditEvent, settings: DetectionSettings) -> bool:
    return (
        event.ref.namespace in settings.protected_namespaces
        and event.allowed
        and not by_kubernetes(event, settings.protected_namespaces)
    )


def _protected_gate(raw: Mapping[str, Any], settings: DetectionSettings) -> bool:
    ref = raw.get("objectRef")
    namespace = ref.get("namespace") if isinstance(ref, dict) else None  # json gives dicts
    return namespace in settings.protected_namespaces and raw_by_outsider(
        raw, settings.protected_namespaces
    )


def foreign_images(event: AuditEvent, settings: DetectionSettings) -> list[str]:
    """The images of the created workload from outside the system registries (when the audit
    policy logged its body)."""
    obj = changed_object(event, WORKLOADS)
    if obj is None:
        return []
    prefixes = settings.system_image_prefixes
    docker_hub = tuple(f"docker.io/{prefix}" for prefix in prefixes)
    return [
        image
        for image in (str(ref.container.get("image", "")) for ref in containers(obj))
        if not image.startswith(prefixes) and not image.startswith(docker_hub)
    ]


def _name(event: AuditEvent) -> str:
    """The created object's name, or empty when the audit event does not hold it."""
    obj = changed_object(event, WORKLOADS | {"serviceaccounts"})
    return event.ref.name or (obj.ref.name if obj is not None else "")


def _pod(event: AuditEvent) -> PodTarget:
    obj = changed_object(event, {"pods"})
    return pod_target(event.ref.namespace, event.ref.name, obj.raw if obj is not None else None)


def _pod_step(event: AuditEvent) -> tuple[str, str]:
    """Where the created pod is and how to contain it: by network, or, when it can act as its node
    (privileged, host namespaces, host paths), by cordoning the node and stopping it."""
    target = _pod(event)
    obj = changed_object(event, {"pods"})
    if obj is not None and host_access(obj) is not None:
        return target.shown, host_pod_containment(target)
    return target.shown, pod_step(target)


def _workload_created(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if event.verb != "create" or ref.resource not in WORKLOADS or ref.subresource:
        return
    if not _by_outsider_in_protected(event, settings):
        return
    kind = kind_of(ref.resource)
    name = _name(event)
    where = scoped(ref.namespace, name or "<generated name>")
    if kind == "Pod":
        where, stop = _pod_step(event)
    else:
        obj = changed_object(event, WORKLOADS)
        stop = inspect_then_stop(kind, ref.namespace, name, obj.raw if obj is not None else None)
    strangers = foreign_images(event, settings)
    shown = f" with images from outside the system registries: {', '.join(strangers)}"
    yield Hit(
        f"{who(event)} created {kind} {where} in a protected namespace"
        + (shown if strangers else ""),
        "Unless it is an approved add-on: "
        + stop
        + " Workloads there run beside the control plane and usually with its rights. "
        + revoke_step(event, f"create on {ref.resource} in {ref.namespace}"),
        None,
        (("object", f"{kind}/{where}"), ("foreign_images", ",".join(strangers))),
    )


POD_IN_SYSTEM_NAMESPACE = Detection(
    DetectionMeta(
        id="pod-in-system-namespace",
        title="Workload created in kube-system (or another protected namespace)",
        severity=Severity.HIGH,
        technique=mitre("T1610", "Deploy Container"),
        tactic="defense-evasion",
        description=(
            "A person or a workload's ServiceAccount created a pod or a workload (Deployment, "
            "DaemonSet, StatefulSet, ReplicaSet, Job, CronJob...) in kube-system, kube-public or "
            "kube-node-lease. Attackers hide workloads among the control plane's, where they run "
            "with its ServiceAccounts. Images from outside the system registries are named when "
            "the audit policy logs the body."
        ),
        response="Remove the workload unless it is an approved add-on, and find who created it.",
    ),
    _workload_created,
    interest=Interest(_CREATE, WORKLOADS),
    gate=_protected_gate,
)


def _account_created(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if event.verb != "create" or ref.resource != "serviceaccounts" or ref.subresource:
        return
    if not _by_outsider_in_protected(event, settings):
        return
    name = _name(event)
    where = scoped(ref.namespace, name)
    yield Hit(
        f"{who(event)} created ServiceAccount {where} in a protected namespace",
        f"Delete ServiceAccount {where} (kubectl delete serviceaccount {shlex.quote(name)} "
        f"-n {ref.namespace}) "
        "unless an approved add-on needs it, and check what it may do "
        f"({can_command(f'system:serviceaccount:{ref.namespace}:{name}')}). "
        + revoke_step(event, f"create on serviceaccounts in {ref.namespace}"),
        None,
        (("service_account", where),),
    )


SERVICEACCOUNT_IN_SYSTEM_NAMESPACE = Detection(
    DetectionMeta(
        id="serviceaccount-in-system-namespace",
        title="ServiceAccount created in kube-system (or another protected namespace)",
        severity=Severity.MEDIUM,
        technique=mitre("T1136", "Create Account"),
        tactic="persistence",
        description=(
            "A person or a workload's ServiceAccount created a ServiceAccount in kube-system, "
            "kube-public or kube-node-lease: an identity that hides among the control plane's, "
            "ready to be bound to power and to mint tokens for."
        ),
        response="Delete the ServiceAccount unless an approved add-on needs it.",
    ),
    _account_created,
    interest=Interest(_CREATE, frozenset({"serviceaccounts"})),
    gate=_protected_gate,
)


def _judged_change(event: AuditEvent) -> bool:
    """A write ``system-namespace-object-changed`` judges: any write of the other objects, a change
    or deletion of a workload or ServiceAccount (their creation has its own detections), and a
    workload's scale."""
    ref = event.ref
    if ref.subresource and not (ref.subresource == "scale" and ref.resource in WORKLOADS):
        return False
    if ref.resource in _OTHER_OBJECTS:
        return True
    return ref.resource in WORKLOADS | {"serviceaccounts"} and event.verb != "create"


def _object_changed(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if event.verb not in WRITE_VERBS or not _judged_change(event):
        return
    if not _by_outsider_in_protected(event, settings):
        return
    action = {"create": "created", "delete": "deleted", "deletecollection": "deleted"}.get(
        event.verb, "changed"
    )
    target = f"{kind_of(ref.resource)} {scoped(ref.namespace, ref.name or '<new object>')}"
    if ref.subresource:
        target += f" ({ref.subresource})"
    yield Hit(
        f"{who(event)} {action} {target}",
        (
            f"Compare {target} with the cluster's expected state and undo the change if it was "
            "not part of an approved operation. "
            + revoke_step(event, f"write access to {ref.namespace}")
        ),
        Severity.HIGH if ref.resource in ("daemonsets", "rolebindings") else None,
        (("object", target), ("action", action)),
    )


SYSTEM_NAMESPACE_OBJECT_CHANGED = Detection(
    DetectionMeta(
        id="system-namespace-object-changed",
        title="Object changed in kube-system (or another protected namespace)",
        severity=Severity.MEDIUM,
        technique=mitre("T1543.005", "Create or Modify System Process: Container Service"),
        tactic="persistence",
        description=(
            "A person or a workload's ServiceAccount wrote a Role, RoleBinding, ConfigMap, Service, "
            "Endpoints or NetworkPolicy, or changed, scaled or deleted a workload or ServiceAccount, "
            "in kube-system, kube-public or kube-node-lease (a DaemonSet or a RoleBinding: high). "
            "Those namespaces hold the control plane's components, configuration and identities; "
            "changes there by anyone else are rare and powerful. Beyond the catalogue, which "
            "covers the creation of workloads and ServiceAccounts there."
        ),
        response="Confirm the change belongs to an approved operation; undo it otherwise.",
    ),
    _object_changed,
    interest=Interest(WRITE_VERBS, WORKLOADS | _OTHER_OBJECTS | {"serviceaccounts"}),
    gate=_protected_gate,
)


def _foreign_image(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if ref.namespace not in settings.protected_namespaces or event.verb != "create":
        return
    if ref.resource != "pods" or not by_kubernetes(event, settings.protected_namespaces):
        return  # a pod created by anyone else is pod-in-system-namespace's
    strangers = foreign_images(event, settings)
    if not strangers:
        return
    target = _pod(event)
    name = target.shown
    yield Hit(
        f"{who(event)} created pod {name} in a protected namespace with images from outside the "
        f"system registries: {', '.join(strangers)}",
        (target.unknown_name + " " if target.unknown_name else "")
        + (
            f"Find the controller or person behind pod {name} (its ownerReferences) and remove it "
            "unless the image is an approved add-on (add its registry to the system image "
            "prefixes)."
        ),
        None,
        (("pod", name), ("images", ",".join(strangers))),
    )


FOREIGN_IMAGE = Detection(
    DetectionMeta(
        id="system-namespace-foreign-image",
        title="Pod with a non-system image created in a protected namespace",
        severity=Severity.HIGH,
        technique=mitre("T1610", "Deploy Container"),
        tactic="persistence",
        description=(
            "Kubernetes' own controllers created a pod in kube-system, kube-public or "
            "kube-node-lease with an image outside the registries of Kubernetes, the managed "
            "platforms and common network plugins: a workload there was changed to run something "
            "else, maybe before the log began. Pods created by anyone else are "
            "pod-in-system-namespace's. The registry list is a setting. Beyond the catalogue. "
            "Needs the audit level Request for pod creation."
        ),
        response="Remove the workload unless its image is an approved add-on.",
    ),
    _foreign_image,
    interest=Interest(_CREATE, frozenset({"pods"})),
)

DETECTIONS: tuple[Detection, ...] = (
    POD_IN_SYSTEM_NAMESPACE,
    SERVICEACCOUNT_IN_SYSTEM_NAMESPACE,
    SYSTEM_NAMESPACE_OBJECT_CHANGED,
    FOREIGN_IMAGE,
)
