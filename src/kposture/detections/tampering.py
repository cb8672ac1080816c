"""Detections of tampering with the cluster's defences: admission webhook configurations and
policies created, changed or deleted, and audit, logging, runtime-detection or policy-engine
workloads (or their namespaces) deleted or scaled to zero.

Requests by Kubernetes' own identities (components, nodes, kube-system's ServiceAccounts: the
garbage and namespace collectors finish what someone else deleted) are not judged.
"""

from __future__ import annotations

from collections.abc import Iterator

from kposture.detections._containment import revoke_step
from kposture.detections._events import (
    WRITE_VERBS,
    by_kubernetes,
    kind_of,
    mapping,
    mitre,
    outsider_gate,
    scoped,
    who,
)
from kposture.detections.base import Detection, Interest
from kposture.detections.settings import DetectionSettings
from kposture.model import Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

_WEBHOOKS = {
    "validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
    "mutatingwebhookconfigurations": "MutatingWebhookConfiguration",
    "validatingadmissionpolicies": "ValidatingAdmissionPolicy",
    "validatingadmissionpolicybindings": "ValidatingAdmissionPolicyBinding",
}


def _webhook(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    kind = _WEBHOOKS.get(ref.resource)
    if kind is None or event.verb not in WRITE_VERBS or not event.allowed:
        return
    if by_kubernetes(event, settings.protected_namespaces):
        return
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
        None,
        (("object", f"{kind}/{name}"), ("action", action)),
    )


WEBHOOK_CHANGED = Detection(
    DetectionMeta(
        id="admission-webhook-changed",
        title="Admission webhook or policy configuration changed or deleted",
        severity=Severity.HIGH,
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
    gate=outsider_gate,
)


def _is_agent(name: str, settings: DetectionSettings) -> bool:
    return any(name == agent or name.startswith(f"{agent}-") for agent in settings.agent_names)


_AGENT_KINDS = frozenset({"daemonsets", "deployments", "statefulsets", "pods", "services"})
_SCALABLE = frozenset({"deployments", "statefulsets", "replicasets"})
_DELETES = frozenset({"delete", "deletecollection"})


def _agent_object(event: AuditEvent, settings: DetectionSettings) -> str | None:
    """The agent the request addresses (``namespace falco``, ``DaemonSet falco/falco``), or None:
    a namespace of agents, an object named as an agent, or (but a pod) any object in a namespace of
    agents."""
    ref = event.ref
    if ref.resource == "namespaces":
        return f"namespace {ref.name}" if ref.name in settings.agent_namespaces else None
    if ref.resource not in _AGENT_KINDS | _SCALABLE:
        return None
    in_agent_namespace = ref.namespace in settings.agent_namespaces
    if not (_is_agent(ref.name, settings) or (in_agent_namespace and ref.resource != "pods")):
        return None
    return f"{kind_of(ref.resource)} {scoped(ref.namespace, ref.name or '<every object>')}"


def _scaled_to_zero(event: AuditEvent) -> bool:
    """An update or patch that sets the replicas of a scalable workload (or its scale
    subresource) to zero, as its request body says."""
    ref = event.ref
    if ref.resource not in _SCALABLE or ref.subresource not in ("", "scale"):
        return False
    if event.verb not in ("update", "patch"):
        return False
    body = event.request_object or {}
    return mapping(body.get("spec")).get("replicas") == 0


def _agent_tampered(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if not event.allowed or by_kubernetes(event, settings.protected_namespaces):
        return
    if event.verb in _DELETES and not ref.subresource:
        action = "deleted"
    elif _scaled_to_zero(event):
        action = "scaled to zero"
    else:
        return
    what = _agent_object(event, settings)
    if what is None:
        return
    verb = "delete" if action == "deleted" else "update"
    yield Hit(
        f"{who(event)} {action} {what}, which runs an audit, logging, runtime-detection or "
        "policy agent",
        f"Redeploy {what} from its source of truth now (or scale it back) and review what "
        "happened while it was down. "
        + revoke_step(event, f"{verb} on {ref.resource_path} in {ref.namespace or ref.name}"),
        None,
        (("object", what), ("action", action)),
    )


AGENT_TAMPERED = Detection(
    DetectionMeta(
        id="security-tool-tampered",
        title="Audit, logging, runtime-detection or policy agent deleted or stopped",
        severity=Severity.HIGH,
        technique=mitre("T1562.001", "Impair Defenses: Disable or Modify Tools"),
        tactic="defense-evasion",
        description=(
            "A person or a workload's ServiceAccount deleted a namespace that holds audit, "
            "logging, monitoring, runtime-detection or policy-engine agents (falco, datadog, "
            "kyverno, gatekeeper-system...), or deleted or scaled to zero a DaemonSet, "
            "Deployment, StatefulSet, Service or pod of one (matched by name, or by namespace "
            "but for pods). Attackers blind detection before acting. The names are settings; "
            "scaling to zero is seen when the audit policy logs the request body (Request)."
        ),
        response="Redeploy the agent, then review what happened while it was down.",
    ),
    _agent_tampered,
    interest=Interest(
        frozenset({"delete", "deletecollection", "update", "patch"}),
        frozenset({"namespaces"}) | _AGENT_KINDS | _SCALABLE,
    ),
    gate=outsider_gate,
)

DETECTIONS: tuple[Detection, ...] = (WEBHOOK_CHANGED, AGENT_TAMPERED)
