"""What audit-log detections are and what they raise: ``DetectionMeta``, ``Hit`` and ``IncidentAlert``.

A detection (in ``kposture.detections``) is metadata plus a pure ``detect(event, state)`` that yields
``Hit``s; the detector turns each hit into an ``IncidentAlert`` carrying the detection's metadata, the
full event context and the containment step. Reports render alerts; sinks receive them as
``DetectionAlert``, a ``lifecycle.Alert`` that keeps the incident for the alert document (see
``sink_alert``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kposture.model.audit import AuditEvent
from kposture.model.lifecycle import Alert
from kposture.model.resources import ResourceRef
from kposture.model.rules import Reference, Severity

Evidence = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class DetectionMeta:
    """A detection's stable description.

    ``id`` is kebab-case and never reused; ``technique`` is the MITRE ATT&CK technique the detected
    behaviour belongs to (with its tactic), ``also`` any further technique it belongs to as well;
    ``response`` is the response guidance, one or more sentences ending with a period.
    """

    id: str
    title: str
    severity: Severity
    technique: Reference
    tactic: str
    description: str
    response: str
    stateful: bool = False
    also: tuple[Reference, ...] = ()

    @property
    def references(self) -> tuple[Reference, ...]:
        """Every MITRE ATT&CK technique of the detection, the main one first."""
        return (self.technique, *self.also)


@dataclass(frozen=True, slots=True)
class Hit:
    """What a detection reports on one event: a message, the containment step for this case (the
    binding to delete, the pod to isolate), an optional severity of its own and evidence pairs."""

    message: str
    containment: str
    severity: Severity | None = None
    evidence: Evidence = ()


@dataclass(frozen=True, slots=True)
class IncidentAlert:
    """One alert from one detection on one event."""

    meta: DetectionMeta
    hit: Hit
    event: AuditEvent

    @property
    def detection_id(self) -> str:
        return self.meta.id

    @property
    def severity(self) -> Severity:
        return self.hit.severity if self.hit.severity is not None else self.meta.severity

    @property
    def message(self) -> str:
        return self.hit.message

    @property
    def containment(self) -> str:
        return self.hit.containment

    @property
    def fingerprint(self) -> str:
        """Stable across reruns of the same log: detection, audit ID and message."""
        text = f"{self.meta.id}\0{self.event.audit_id}\0{self.hit.message}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def event_context(self) -> dict[str, str]:
        """The event block of an alert: who, verb, resource, namespace, source IP, user agent, time,
        audit ID (keys of ``lifecycle.Alert.event``), plus the object name, response code, the
        impersonated user and the client-claimed source IPs (``X-Forwarded-For``, ``X-Real-Ip``,
        comma-separated, before the peer in ``source_ip``) when known."""
        event = self.event
        ref = event.ref
        context = {
            "user": event.user.username,
            "verb": event.verb,
            "resource": ref.resource_path,
            "namespace": ref.namespace,
            "name": ref.name,
            "source_ip": event.source_ip,
            "claimed_source_ips": ", ".join(event.claimed_source_ips),
            "user_agent": event.user_agent,
            "time": event.received_at.isoformat().replace("+00:00", "Z")
            if event.received_at is not None
            else "",
            "audit_id": event.audit_id,
            "response_code": "" if event.response_code is None else str(event.response_code),
            "decision": event.decision,
        }
        if event.impersonated_user is not None:
            context["impersonated_user"] = event.impersonated_user.username
        return {key: value for key, value in context.items() if value}


_KINDS = {
    "": {
        "bindings": "Binding",
        "componentstatuses": "ComponentStatus",
        "configmaps": "ConfigMap",
        "endpoints": "Endpoints",
        "events": "Event",
        "limitranges": "LimitRange",
        "namespaces": "Namespace",
        "nodes": "Node",
        "persistentvolumeclaims": "PersistentVolumeClaim",
        "persistentvolumes": "PersistentVolume",
        "pods": "Pod",
        "podtemplates": "PodTemplate",
        "replicationcontrollers": "ReplicationController",
        "resourcequotas": "ResourceQuota",
        "secrets": "Secret",
        "serviceaccounts": "ServiceAccount",
        "services": "Service",
    },
    "apps": {
        "controllerrevisions": "ControllerRevision",
        "daemonsets": "DaemonSet",
        "deployments": "Deployment",
        "replicasets": "ReplicaSet",
        "statefulsets": "StatefulSet",
    },
    "batch": {"cronjobs": "CronJob", "jobs": "Job"},
    "rbac.authorization.k8s.io": {
        "clusterrolebindings": "ClusterRoleBinding",
        "clusterroles": "ClusterRole",
        "rolebindings": "RoleBinding",
        "roles": "Role",
    },
    "networking.k8s.io": {
        "ingressclasses": "IngressClass",
        "ingresses": "Ingress",
        "networkpolicies": "NetworkPolicy",
    },
    "admissionregistration.k8s.io": {
        "mutatingwebhookconfigurations": "MutatingWebhookConfiguration",
        "validatingadmissionpolicies": "ValidatingAdmissionPolicy",
        "validatingadmissionpolicybindings": "ValidatingAdmissionPolicyBinding",
        "validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
    },
    "certificates.k8s.io": {"certificatesigningrequests": "CertificateSigningRequest"},
    "coordination.k8s.io": {"leases": "Lease"},
    "discovery.k8s.io": {"endpointslices": "EndpointSlice"},
    "events.k8s.io": {"events": "Event"},
    "policy": {"poddisruptionbudgets": "PodDisruptionBudget"},
    "autoscaling": {"horizontalpodautoscalers": "HorizontalPodAutoscaler"},
    "scheduling.k8s.io": {"priorityclasses": "PriorityClass"},
    "storage.k8s.io": {"storageclasses": "StorageClass"},
    "apiextensions.k8s.io": {"customresourcedefinitions": "CustomResourceDefinition"},
    "authorization.k8s.io": {
        "localsubjectaccessreviews": "LocalSubjectAccessReview",
        "selfsubjectaccessreviews": "SelfSubjectAccessReview",
        "selfsubjectrulesreviews": "SelfSubjectRulesReview",
        "subjectaccessreviews": "SubjectAccessReview",
    },
    "authentication.k8s.io": {"tokenreviews": "TokenReview"},
}
"""The kind of each built-in resource by API group, for the audit log names resources, not kinds."""


def object_kind(event: AuditEvent) -> str:
    """The kind of the object ``event`` addressed (``secrets`` → ``Secret``; ``pods/exec`` →
    ``Pod``): a built-in resource's, else the kind the request body names on a create or update of
    the object itself; empty when neither tells (a custom resource logged without its body)."""
    ref = event.ref
    known = _KINDS.get(ref.api_group, {}).get(ref.resource)
    if known is not None:
        return known
    body = event.request_object
    if body is not None and not ref.subresource and event.verb in ("create", "update"):
        kind = body.get("kind")
        if isinstance(kind, str) and not kind.endswith(("List", "Options")):
            return kind
    return ""


@dataclass(frozen=True, slots=True)
class DetectionAlert(Alert):
    """A detection's alert as the sinks take it: a ``lifecycle.Alert`` that keeps the incident it
    came from, so the alert document can give the detection and audit fields in full."""

    incident: IncidentAlert = field(hash=False, compare=False, kw_only=True)


def typed_event(event: Mapping[str, str]) -> dict[str, str | int]:
    """An alert's event block with its ``response_code`` as a number (dropped when it is not
    one), as the alert document and the store keep it."""
    typed: dict[str, str | int] = dict(event)
    code = event.get("response_code", "")
    if code.isdigit():
        typed["response_code"] = int(code)
    else:
        typed.pop("response_code", None)
    return typed


def sink_alert(alert: IncidentAlert, received: dt.datetime, cluster: str = "") -> DetectionAlert:
    """``alert`` as the alert sinks take it: the containment step joins the message, the event
    context becomes ``event``, the object is named by its kind (the resource stays in ``event``).
    The de-duplication key is the detection, the message, the user agent and the peer source IP, so
    the same alert again from the same client (another audit ID) is a duplicate to a sink with a
    window, while the same alert from another tool or address is sent. ``received`` stands in for
    an event without a time; ``cluster`` (the operator's name for it) wins over the one the event's
    envelope named."""
    ref = alert.event.ref
    api_version = f"{ref.api_group}/{ref.api_version}" if ref.api_group else ref.api_version
    resource = (
        ResourceRef(api_version, object_kind(alert.event), ref.namespace, ref.name)
        if ref.resource
        else None
    )
    client = f"{alert.event.user_agent}\0{alert.event.source_ip}"
    key = f"{alert.detection_id}\0{alert.message}\0{client}"
    return DetectionAlert(
        source="detection",
        cluster=cluster or alert.event.origin.cluster,
        rule_id=alert.detection_id,
        severity=alert.severity,
        message=f"{alert.message}. Containment: {alert.containment}",
        at=alert.event.received_at or received,
        resource=resource,
        dedup_key=hashlib.sha256(key.encode("utf-8")).hexdigest()[:16],
        event=MappingProxyType(alert.event_context()),
        incident=alert,
    )
