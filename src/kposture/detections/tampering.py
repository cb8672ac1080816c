"""Detections of tampering with the cluster's defences and its system namespaces: admission webhook
configurations changed or deleted, audit and monitoring agents (or their namespaces) deleted, changes
in the protected namespaces by people, and pods with unexpected images in them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kposture.detections._events import (
    WRITE_VERBS,
    changed_object,
    kind_of,
    mitre,
    raw_by_person,
    revoke_step,
    scoped,
    who,
)
from kposture.detections.base import Detection, Interest
from kposture.detections.settings import DetectionSettings
from kposture.inventory import containers
from kposture.model import Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

_WEBHOOKS = {
    "validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
    "mutatingwebhookconfigurations": "MutatingWebhookConfiguration",
    "validatingadmissionpolicies": "ValidatingAdmissionPolicy",
    "validatingadmissionpolicybindings": "ValidatingAdmissionPolicyBinding",
}


def _webhook(event: AuditEvent, _state: object) -> Iterator[Hit]:
    ref = event.ref
    kind = _WEBHOOKS.get(ref.resource)
    if kind is None or event.verb not in WRITE_VERBS or not event.allowed:
        return
    if event.user.username == "system:apiserver":
        return
    deleted = event.verb.startswith("delete")
    action = {"create": "created", "update": "changed", "patch": "changed"}.get(
        event.verb, "deleted"
    )
    name = ref.name or "<every object>"
    yield Hit(
        f"{who(event)} {action} {kind} {name}",
        (
            f"Compare {kind} {name} with its source of truth (GitOps repository, chart) and restore "
            "it if the change was not expected; a deleted or narrowed webhook stops enforcing its "
            "policy, a new mutating webhook sees (and may change) every matching object."
        ),
        Severity.HIGH if deleted or kind.startswith("Mutating") else None,
        (("object", f"{kind}/{name}"), ("action", action)),
    )


WEBHOOK_CHANGED = Detection(
    DetectionMeta(
        id="admission-webhook-changed",
        title="Admission webhook or policy configuration changed or deleted",
        severity=Severity.MEDIUM,
        technique=mitre("T1562.001", "Impair Defenses: Disable or Modify Tools"),
        tactic="defense-evasion",
        description=(
            "A validating or mutating webhook configuration, or a ValidatingAdmissionPolicy or its "
            "binding, was created, changed or deleted. Deleting or narrowing one turns off admission "
            "control; a new mutating webhook receives every matching object, Secrets included."
        ),
        response="Restore the configuration from its source of truth unless the change was approved.",
    ),
    _webhook,
    interest=Interest(WRITE_VERBS, frozenset(_WEBHOOKS)),
)


def _is_agent(name: str, settings: DetectionSettings) -> bool:
    return any(name == agent or name.startswith(f"{agent}-") for agent in settings.agent_names)


def _agent_deleted(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if event.verb not in ("delete", "deletecollection") or not event.allowed or ref.subresource:
        return
    if event.user.is_system:
        return  # the garbage and namespace collectors finish what someone else deleted
    if ref.resource == "namespaces":
        if ref.name not in settings.agent_namespaces:
            return
        what = f"namespace {ref.name}"
        evidence = (("namespace", ref.name),)
    elif ref.resource in ("daemonsets", "deployments", "statefulsets", "pods", "services"):
        in_agent_namespace = ref.namespace in settings.agent_namespaces
        if not (_is_agent(ref.name, settings) or (in_agent_namespace and ref.resource != "pods")):
            return
        what = f"{kind_of(ref.resource)} {scoped(ref.namespace, ref.name or '<every object>')}"
        evidence = (("object", what),)
    else:
        return
    yield Hit(
        f"{who(event)} deleted {what}, which runs an audit, monitoring or security agent",
        f"Redeploy {what} from its source of truth now and review what happened while it was "
        "down. " + revoke_step(event, f"delete on {ref.resource}"),
        None,
        evidence,
    )


_AGENT_RESOURCES = frozenset(
    {"namespaces", "daemonsets", "deployments", "statefulsets", "pods", "services"}
)


def _agent_gate(raw: Mapping[str, Any], _settings: DetectionSettings) -> bool:
    return raw_by_person(raw)


def _system_namespace_gate(raw: Mapping[str, Any], settings: DetectionSettings) -> bool:
    ref = raw.get("objectRef")
    namespace = ref.get("namespace") if isinstance(ref, dict) else None
    return namespace in settings.protected_namespaces and raw_by_person(raw)


AGENT_DELETED = Detection(
    DetectionMeta(
        id="security-agent-deleted",
        title="Audit, monitoring or security agent deleted",
        severity=Severity.HIGH,
        technique=mitre("T1562.001", "Impair Defenses: Disable or Modify Tools"),
        tactic="defense-evasion",
        description=(
            "A person deleted a namespace that holds audit, monitoring or security agents (falco, "
            "datadog, sysdig, monitoring, logging...), or a DaemonSet, Deployment, StatefulSet, "
            "Service or pod of one (matched by name). Attackers blind detection before acting. "
            "The names are settings."
        ),
        response="Redeploy the agent, then review what happened while it was down.",
    ),
    _agent_deleted,
    interest=Interest(frozenset({"delete", "deletecollection"}), _AGENT_RESOURCES),
    gate=_agent_gate,
)

_PROTECTED_RESOURCES = frozenset(
    {
        "pods",
        "deployments",
        "daemonsets",
        "statefulsets",
        "replicasets",
        "jobs",
        "cronjobs",
        "serviceaccounts",
        "roles",
        "rolebindings",
        "configmaps",
        "services",
        "endpoints",
        "networkpolicies",
    }
)
"""What the protected-namespace detection judges: everything that runs code, grants rights or steers
traffic there. Secrets are judged by ``system-namespace-secret-changed`` (credential access), at
their own severity and technique; reading them is secret-read's concern."""


def _system_namespace(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if (
        ref.namespace not in settings.protected_namespaces
        or ref.resource not in _PROTECTED_RESOURCES
    ):
        return
    if event.verb not in WRITE_VERBS or not event.allowed:
        return
    user = event.impersonated_user or event.user
    if user.is_system:
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
        Severity.HIGH if ref.resource in ("pods", "daemonsets", "rolebindings") else None,
        (("object", target), ("action", action)),
    )


SYSTEM_NAMESPACE_CHANGED = Detection(
    DetectionMeta(
        id="system-namespace-changed",
        title="Change in kube-system (or another protected namespace) by a person",
        severity=Severity.MEDIUM,
        technique=mitre("T1578", "Modify Cloud Compute Infrastructure"),
        tactic="persistence",
        description=(
            "A person (not a Kubernetes component or ServiceAccount) created, changed or deleted a "
            "workload, ServiceAccount, role binding, ConfigMap, Service or NetworkPolicy in "
            "kube-system, kube-public or kube-node-lease. Those namespaces hold the control plane's "
            "own identities; changes there by people are rare and powerful."
        ),
        response="Confirm the change belongs to an approved operation; undo it otherwise.",
    ),
    _system_namespace,
    interest=Interest(WRITE_VERBS, _PROTECTED_RESOURCES),
    gate=_system_namespace_gate,
)


def _untrusted_image(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    if event.ref.namespace not in settings.protected_namespaces or event.verb != "create":
        return
    obj = changed_object(event, ("pods",))
    if obj is None:
        return
    images = [str(ref.container.get("image", "")) for ref in containers(obj)]
    strangers = [
        image
        for image in images
        if not image.startswith(settings.system_image_prefixes)
        and not image.startswith(tuple(f"docker.io/{p}" for p in settings.system_image_prefixes))
    ]
    if not strangers:
        return
    name = scoped(obj.ref.namespace, obj.ref.name or "<generated name>")
    yield Hit(
        f"{who(event)} created pod {name} in a protected namespace with images from outside the "
        f"system registries: {', '.join(strangers)}",
        (
            f"Find the controller or person behind pod {name} (its ownerReferences) and remove it "
            "unless the image is an approved add-on (add its registry to the system image "
            "prefixes)."
        ),
        None,
        (("pod", name), ("images", ",".join(strangers))),
    )


UNTRUSTED_SYSTEM_IMAGE = Detection(
    DetectionMeta(
        id="system-namespace-foreign-image",
        title="Pod with a non-system image created in a protected namespace",
        severity=Severity.HIGH,
        technique=mitre("T1610", "Deploy Container"),
        tactic="persistence",
        description=(
            "A pod was created in kube-system, kube-public or kube-node-lease (by anyone, "
            "controllers included) with an image outside the registries of Kubernetes, the managed "
            "platforms and common network plugins. Attackers hide workloads among the control "
            "plane's; the registry list is a setting. Needs the audit level Request for pod "
            "creation."
        ),
        response="Remove the workload unless its image is an approved add-on.",
    ),
    _untrusted_image,
    interest=Interest(frozenset({"create"}), frozenset({"pods"})),
)

DETECTIONS: tuple[Detection, ...] = (
    WEBHOOK_CHANGED,
    AGENT_DELETED,
    SYSTEM_NAMESPACE_CHANGED,
    UNTRUSTED_SYSTEM_IMAGE,
)
