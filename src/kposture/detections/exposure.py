"""Detections of workloads opened to the outside: Services on every node's port or behind a cloud
load balancer, and Ingresses that serve plain HTTP.

Writes by Kubernetes' own identities (components, nodes, kube-system's ServiceAccounts) are not
judged.
"""

from __future__ import annotations

from collections.abc import Iterator

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
from kposture.detections.base import BodyNeed, Detection, Interest
from kposture.detections.settings import DetectionSettings
from kposture.model import K8sObject, Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

_EXPOSED_TYPES = ("NodePort", "LoadBalancer")


def _exposed_type(event: AuditEvent, service: K8sObject) -> str:
    """The exposing Service type the write leaves: on a create, the Service's; on an update or a
    patch, only one the request itself sets (a patch of labels on a NodePort Service is not a new
    exposure)."""
    body = service.raw if event.verb == "create" else (event.request_object or {})
    kind = mapping(body.get("spec")).get("type")
    return kind if isinstance(kind, str) and kind in _EXPOSED_TYPES else ""


def _exposed_service(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    obj = changed_object(event, ("services",))
    if obj is None or by_kubernetes(event, settings.protected_namespaces):
        return
    kind = _exposed_type(event, obj)
    if not kind:
        return
    spec = mapping(obj.raw.get("spec"))
    ports = [
        str(mapping(port).get("nodePort") or mapping(port).get("port") or "")
        for port in spec.get("ports") or ()
    ]
    ref = obj.ref
    name = scoped(ref.namespace, ref.name)
    where = "on every node" if kind == "NodePort" else "through a cloud load balancer"
    yield Hit(
        f"{who(event)} {made(event)} Service {name} exposed {where} (type {kind}, "
        f"ports {', '.join(p for p in ports if p) or 'unknown'})",
        f"Change Service {name} to ClusterIP (or put it behind an Ingress) unless the exposure "
        "is approved, and restrict its sources (firewall, loadBalancerSourceRanges).",
        None,
        (("service", name), ("type", kind), ("ports", ",".join(ports))),
    )


EXPOSED_SERVICE = Detection(
    DetectionMeta(
        id="nodeport-service-created",
        title="Service exposed on every node's port or a load balancer",
        severity=Severity.MEDIUM,
        technique=mitre("T1133", "External Remote Services"),
        tactic="persistence",
        description=(
            "A Service of type NodePort (a port on every node) or LoadBalancer (a cloud load "
            "balancer, often public) was created, or a Service was changed to one: a path into "
            "the cluster outside the ingress' controls. Needs the audit level Request for Service "
            "writes."
        ),
        response=(
            "Use ClusterIP behind an Ingress, or restrict the load balancer's sources, unless the "
            "exposure is approved."
        ),
    ),
    _exposed_service,
    interest=Interest(CHANGE_VERBS, frozenset({"services"})),
    gate=outsider_gate,
    needs_body=BodyNeed(CHANGE_VERBS, frozenset({"services"})),
)


def _ingress_without_tls(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    if event.verb != "create":
        return
    obj = changed_object(event, ("ingresses",))
    if obj is None or by_kubernetes(event, settings.protected_namespaces):
        return
    spec = mapping(obj.raw.get("spec"))
    if spec.get("tls"):
        return
    rules = spec.get("rules")
    hosts = sorted(
        {
            str(mapping(rule).get("host"))
            for rule in (rules if isinstance(rules, list) else ())
            if mapping(rule).get("host")
        }
    )
    name = scoped(obj.ref.namespace, obj.ref.name)
    shown = ", ".join(hosts) or "every host"
    yield Hit(
        f"{who(event)} created Ingress {name} without TLS: {shown} served over plain HTTP",
        f"Add a tls section to Ingress {name} with a certificate for {shown} (cert-manager "
        "issues one) and redirect HTTP to HTTPS, unless plain HTTP is approved.",
        None,
        (("ingress", name), ("hosts", ",".join(hosts))),
    )


INGRESS_WITHOUT_TLS = Detection(
    DetectionMeta(
        id="ingress-without-tls",
        title="Ingress created without TLS",
        severity=Severity.LOW,
        technique=mitre("T1190", "Exploit Public-Facing Application"),
        tactic="initial-access",
        description=(
            "An Ingress was created with no tls section: the application is published over plain "
            "HTTP, its traffic (credentials, session cookies) readable and changeable on the way. "
            "Needs the audit level Request for Ingress creation."
        ),
        response="Serve the Ingress over TLS unless plain HTTP is approved.",
    ),
    _ingress_without_tls,
    interest=Interest(frozenset({"create"}), frozenset({"ingresses"})),
    gate=outsider_gate,
    needs_body=BodyNeed(frozenset({"create"}), frozenset({"ingresses"})),
)

DETECTIONS: tuple[Detection, ...] = (EXPOSED_SERVICE, INGRESS_WITHOUT_TLS)
