"""Who is asking: anonymous requests allowed, impersonation, and system identities authenticating
from public addresses."""

from __future__ import annotations

from typing import Any

import pytest

from audit_samples import audit_event, raw_event
from detection_samples import fired, ids
from kposture.detections import DetectionSettings, Detector
from kposture.detections.identity import is_public_address
from kposture.model import Severity
from kposture.model.audit import AuditEvent, EventOrigin
from kposture.sources.audit_logs import event_from_k8s

ANONYMOUS = {"user": "system:anonymous", "groups": ("system:unauthenticated",)}


def test_anonymous_requests() -> None:
    (alert,) = fired(audit_event(verb="create", resource="namespaces", namespace="", **ANONYMOUS))
    assert alert.detection_id == "anonymous-request-allowed" and alert.severity is Severity.CRITICAL
    assert alert.meta.technique.id == "T1078"
    (read,) = fired(audit_event(resource="pods", **ANONYMOUS))
    assert read.severity is Severity.CRITICAL
    assert read.message.endswith("was allowed: get pods default/web")
    (listed,) = fired(
        audit_event(verb="list", resource="pods", namespace="dev", name="", **ANONYMOUS)
    )
    assert listed.message.endswith("was allowed: list pods in namespace dev")
    assert "(kposture rbac who-can list pods -n dev --cluster)" in listed.containment
    health = AuditEvent(
        audit_id="h",
        stage="ResponseComplete",
        verb="get",
        request_uri="/healthz",
        user=audit_event(**ANONYMOUS).user,
        response_code=200,
    )
    assert ids(health) == set()
    probing = audit_event(resource="secrets", code=403, **ANONYMOUS)
    assert ids(probing) == {"secret-access-denied"}


def test_impersonation() -> None:
    event = audit_event(impersonated={"username": "bob", "groups": ["dev"]})
    (alert,) = fired(event)
    assert alert.detection_id == "impersonation-used" and alert.severity is Severity.MEDIUM
    assert alert.meta.technique.id == "T1078"
    assert "alice from 10.0.0.1 acted as bob" in alert.message
    assert "(kposture rbac who-can impersonate users --name bob --cluster)" in alert.containment
    admin = audit_event(impersonated={"username": "x", "groups": ["system:masters"]})
    assert fired(admin)[0].severity is Severity.HIGH
    system_account = audit_event(
        impersonated={"username": "system:serviceaccount:kube-system:admin"}
    )
    assert fired(system_account)[0].severity is Severity.HIGH
    by_component = audit_event(
        user="system:kube-aggregator", impersonated={"username": "system:node:n1"}
    )
    assert ids(by_component) == set()
    by_workload = audit_event(
        user="system:serviceaccount:ci:deployer", impersonated={"username": "bob"}
    )
    assert ids(by_workload) == {"impersonation-used"}


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("52.31.4.9", True),
        ("8.8.8.8", True),
        ("2a00:1450:4001:80b::200e", True),
        ("::ffff:52.31.4.9", True),
        ("10.0.0.1", False),
        ("172.16.4.2", False),
        ("192.168.1.1", False),
        ("100.64.0.7", False),
        ("100.127.255.254", False),
        ("127.0.0.1", False),
        ("::1", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:10.1.2.3", False),
        ("240.0.0.1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("not-an-address", False),
        ("", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def _from(ip: str, user: str = "system:node:n1", **kwargs: Any) -> AuditEvent:
    return audit_event(resource="nodes", namespace="", name="n1", user=user, ip=ip, **kwargs)


def test_system_identity_from_a_public_address_once_per_identity_and_address() -> None:
    (alert,) = fired(_from("52.31.4.9", groups=("system:nodes",)))
    assert alert.detection_id == "system-identity-from-public-ip"
    assert alert.severity is Severity.HIGH
    assert alert.message.startswith("node n1 authenticated from public address 52.31.4.9")
    assert "kubelet client certificate" in alert.containment
    account = "system:serviceaccount:shop:api"
    (alert,) = fired(_from("52.31.4.9", user=account))
    assert "ServiceAccount shop/api" in alert.message and "rotate its tokens" in alert.containment
    repeated = [
        _from("52.31.4.9"),
        _from("52.31.4.9"),
        _from("52.31.4.10"),
        _from("52.31.4.9", user="system:kube-proxy"),
    ]
    assert len(fired(*repeated)) == 3
    denied = _from("52.31.4.9", code=403, decision="forbid")
    assert "system-identity-from-public-ip" in ids(denied)


@pytest.mark.parametrize(
    ("ip", "user"),
    [
        ("10.0.0.4", "system:node:n1"),
        ("100.64.3.3", "system:serviceaccount:shop:api"),
        ("52.31.4.9", "alice"),
        ("52.31.4.9", "system:anonymous"),
    ],
)
def test_private_addresses_and_other_identities_are_quiet(ip: str, user: str) -> None:
    assert "system-identity-from-public-ip" not in ids(_from(ip, user=user))


def _through(*chain: str) -> AuditEvent:
    record = raw_event(resource="nodes", namespace="", name="n1", user="system:node:n1")
    record["sourceIPs"] = list(chain)
    return event_from_k8s(record, EventOrigin("test.jsonl", 1))


def test_a_public_address_is_judged_on_the_peer_not_on_what_the_client_claims() -> None:
    assert "system-identity-from-public-ip" not in ids(_through("52.31.4.9", "10.0.0.4"))
    (alert,) = fired(_through("10.0.0.4", "52.31.4.9"))
    assert alert.message.startswith("node n1 authenticated from public address 52.31.4.9 ")
    assert "source IPs 10.0.0.4, 52.31.4.9" in alert.message


def test_public_address_state_is_bounded() -> None:
    detector = Detector(settings=DetectionSettings(max_tracked_identities=2))
    for index in range(5):
        detector.process(_from("52.31.4.9", user=f"system:node:n{index}"))
    state = next(s for d, s in detector._states if d.id == "system-identity-from-public-ip")
    assert len(state.reported) == 2
    assert len(detector.process(_from("52.31.4.9", user="system:node:n0"))) == 1
