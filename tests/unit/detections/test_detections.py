"""The detector and what every built-in detection shares: bodies a detection needs, every alert
naming who, what, where, the source IP, the user agent and the containment step, and one alert per
problem. Stateful detections: windows, one alert per window, bounded identities, warm-up and
learning. Each family's own cases are in the test_*_detections modules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import pytest

from audit_samples import audit_event
from detection_samples import at, fired, ids
from kposture.detections import (
    Detection,
    DetectionRegistryError,
    DetectionSettings,
    Detector,
    builtin_detections,
    registry,
)
from kposture.detections.anomalies import agent_product
from kposture.model import Severity
from kposture.model.audit import AuditEvent, EventOrigin
from kposture.model.incidents import DetectionMeta, Hit


def test_writes_logged_without_the_body_a_detection_needs_are_named_once() -> None:
    detector = Detector()
    for verb in ("create", "create", "patch"):
        detector.process(audit_event(verb=verb, resource="configmaps"))
    detector.process(audit_event(verb="update", resource="clusterroles", namespace=""))
    detector.process(audit_event(verb="create", resource="configmaps", code=403))
    detector.process(audit_event(verb="get", resource="configmaps"))
    detector.process(audit_event(verb="create", resource="pods", subresource="exec", code=101))
    detector.process(
        audit_event(verb="create", resource="configmaps", request={"kind": "ConfigMap"})
    )
    assert detector.notices() == [
        "1 write(s) of clusterroles (update 1) were logged without their body, so "
        "cluster-admin-granted, sensitive-role-created could not judge them: "
        "they need audit level RequestResponse for clusterroles (see the audit policy in "
        "docs/detections.md)",
        "3 write(s) of configmaps (create 2, patch 1) were logged without their body, so "
        "configmap-credentials-written could not judge them: it needs audit level Request for "
        "configmaps (see the audit policy in docs/detections.md)",
    ]
    assert Detector().notices() == []


def test_every_detection_that_needs_a_body_says_which_audit_level() -> None:
    needing = [d for d in builtin_detections() if d.needs_body is not None]
    assert {d.id for d in needing} >= {
        "configmap-credentials-written",
        "privileged-pod-created",
        "ingress-without-tls",
    }
    for detection in needing:
        assert detection.needs_body is not None
        level = detection.needs_body.level
        assert f"Needs the audit level {level} for" in detection.meta.description, detection.id


def _samples() -> dict[str, list[AuditEvent]]:
    """For each built-in detection, events (the last one raises it) on which nothing else fires."""
    csr = {"spec": {"signerName": "kubernetes.io/kube-apiserver-client"}}
    privileged = {
        "kind": "Pod",
        "spec": {"containers": [{"name": "c", "securityContext": {"privileged": True}}]},
    }
    everything = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    account = "system:serviceaccount:shop:api"
    return {
        "pod-exec": [audit_event(verb="create", subresource="exec", code=101)],
        "kubectl-cp": [
            audit_event(
                verb="create",
                subresource="exec",
                code=101,
                uri="/api/v1/namespaces/default/pods/web/exec?command=tar&command=cf&command=-",
            )
        ],
        "pod-portforward": [audit_event(verb="create", subresource="portforward", code=101)],
        "ephemeral-container-added": [audit_event(verb="patch", subresource="ephemeralcontainers")],
        "node-proxy-access": [audit_event(resource="nodes", subresource="proxy", namespace="")],
        "privileged-pod-created": [audit_event(verb="create", request=privileged)],
        "cronjob-created": [audit_event(verb="create", resource="cronjobs")],
        "daemonset-created": [audit_event(verb="create", resource="daemonsets")],
        "nodeport-service-created": [
            audit_event(verb="create", resource="services", request={"spec": {"type": "NodePort"}})
        ],
        "ingress-without-tls": [
            audit_event(verb="create", resource="ingresses", request={"spec": {"rules": []}})
        ],
        "secret-enumeration": [audit_event(verb="list", resource="secrets", namespace="", name="")],
        "secret-access-denied": [audit_event(resource="secrets", code=403)],
        "secret-read-cross-namespace": [
            audit_event(resource="secrets", namespace="b", user=account)
        ],
        "secret-read-by-person": [audit_event(resource="secrets")],
        "system-namespace-secret-changed": [
            audit_event(verb="create", resource="secrets", namespace="kube-system")
        ],
        "sa-token-created": [
            audit_event(verb="create", resource="serviceaccounts", subresource="token")
        ],
        "client-certificate-created": [
            audit_event(verb="create", resource="certificatesigningrequests", request=csr)
        ],
        "configmap-credentials-written": [
            audit_event(
                verb="create",
                resource="configmaps",
                request={
                    "data": {"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
                },
            )
        ],
        "cluster-admin-granted": [
            audit_event(
                verb="create",
                resource="clusterrolebindings",
                namespace="",
                request={"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}},
            )
        ],
        "sensitive-role-created": [
            audit_event(
                verb="create", resource="clusterroles", namespace="", request={"rules": everything}
            )
        ],
        "system-role-modified": [
            audit_event(verb="delete", resource="clusterroles", namespace="", name="system:node")
        ],
        "anonymous-request-allowed": [
            audit_event(user="system:anonymous", groups=("system:unauthenticated",))
        ],
        "impersonation-used": [audit_event(impersonated={"username": "bob"})],
        "system-identity-from-public-ip": [audit_event(user="system:node:n1", ip="52.31.4.9")],
        "pod-in-system-namespace": [audit_event(verb="create", namespace="kube-system")],
        "serviceaccount-in-system-namespace": [
            audit_event(verb="create", resource="serviceaccounts", namespace="kube-system")
        ],
        "system-namespace-object-changed": [
            audit_event(verb="patch", resource="configmaps", namespace="kube-system")
        ],
        "system-namespace-foreign-image": [
            audit_event(
                verb="create",
                namespace="kube-system",
                user="system:serviceaccount:kube-system:replicaset-controller",
                request={"spec": {"containers": [{"name": "c", "image": "evil/miner"}]}},
            )
        ],
        "admission-webhook-changed": [
            audit_event(verb="delete", resource="validatingwebhookconfigurations", namespace="")
        ],
        "security-tool-tampered": [
            audit_event(verb="delete", resource="namespaces", namespace="", name="falco")
        ],
        "forbidden-burst": [audit_event(code=403, time=at(0, second)) for second in range(10)],
        "first-seen-source": [
            audit_event(time=at(0, hour=10)),
            audit_event(time=at(0, hour=12), agent="curl/8.0"),
        ],
    }


def test_every_detection_alerts_once_naming_who_what_where_origin_and_containment() -> None:
    samples = _samples()
    assert set(samples) == {d.id for d in builtin_detections()}
    for detection_id, events in samples.items():
        alerts = Detector().process_all(events)
        assert [a.detection_id for a in alerts] == [detection_id], detection_id
        (alert,) = alerts
        context = alert.event_context()
        for key in ("user", "verb", "resource", "source_ip", "user_agent"):
            assert context.get(key), (detection_id, key)
        where = context.get("namespace") or context.get("name")
        assert where or "every namespace" in alert.message, detection_id
        assert alert.message and alert.containment.rstrip().endswith("."), detection_id


# --- stateful ---------------------------------------------------------------------------------------


def denied(second: int, user: str = "mallory", minute: int = 0, ip: str = "10.0.0.1") -> AuditEvent:
    return audit_event(
        resource="pods", user=user, code=403, time=at(minute, second), decision="forbid", ip=ip
    )


def test_forbidden_burst_window_and_one_alert_per_window() -> None:
    nine = [denied(s) for s in range(9)]
    assert ids(*nine) == set()
    alerts = fired(*nine, denied(9), denied(10), denied(11))
    assert [a.detection_id for a in alerts] == ["forbidden-burst"]
    assert "denied 10 requests within 60 s" in alerts[0].message
    spread = [denied(0, minute=m) for m in range(12)]  # one a minute: never 10 in a window
    assert ids(*spread) == set()
    again = [denied(s) for s in range(10)] + [denied(s, minute=2) for s in range(10)]
    assert len(fired(*again)) == 2


def test_forbidden_burst_from_one_source_ip_with_many_identities() -> None:
    spraying = [denied(s, user=f"token-{s}", ip="203.0.113.9") for s in range(10)]
    (alert,) = fired(*spraying)
    assert alert.message.startswith(
        "source IP 203.0.113.9 was denied 10 requests (the last by token-9)"
    )
    assert dict(alert.hit.evidence)["burst_by"] == "source IP"
    spread = [denied(s, user=f"token-{s}", ip=f"10.0.0.{s}") for s in range(10)]
    assert ids(*spread) == set()
    one = [denied(s) for s in range(10)]  # one identity from one address: one alert, both named
    (alert,) = fired(*one)
    assert dict(alert.hit.evidence)["burst_by"] == "identity, source IP"
    nodes = [denied(s, user="system:node:n1") for s in range(10)]
    assert ids(*nodes) == set()


def test_forbidden_burst_per_source_ip_counts_the_peer_not_forwarded_addresses() -> None:
    forged = []
    for second in range(10):
        event = denied(second, user=f"token-{second}", ip="203.0.113.9")
        forged.append(replace(event, source_ips=(f"198.51.100.{second}", "203.0.113.9")))
    (alert,) = fired(*forged)
    assert alert.message.startswith("source IP 203.0.113.9 was denied 10 requests")


def test_forbidden_burst_state_is_bounded() -> None:
    settings = DetectionSettings(max_tracked_identities=3)
    detector = Detector(settings=settings)
    for index in range(50):
        detector.process(denied(0, user=f"u{index}"))
    state = next(state for det, state in detector._states if det.id == "forbidden-burst")
    assert len(state.table) == 3
    assert "user\0u49" in state.table and "user\0u0" not in state.table


def origin(
    minute: int,
    ip: str = "10.0.0.1",
    agent: str = "kubectl/v1.30",
    user: str = "alice",
    hour: int = 10,
) -> AuditEvent:
    return audit_event(
        user=user, ip=ip, agent=agent, time=f"2024-05-01T{hour:02d}:{minute:02d}:00Z"
    )


def test_first_seen_after_warmup_and_learning() -> None:
    learned = [origin(0), origin(5, ip="10.0.0.2")]
    assert ids(*learned) == set()
    later = [*learned, origin(0, hour=12), origin(1, ip="198.51.100.7", hour=12)]
    (alert,) = fired(*later)
    assert alert.detection_id == "first-seen-source" and alert.severity is Severity.MEDIUM
    assert "198.51.100.7" in alert.message
    new_agent = [*learned, origin(0, agent="curl/8.0", hour=12)]
    (alert,) = fired(*new_agent)
    assert alert.severity is Severity.LOW and "'curl'" in alert.message
    # A new identity after the warm-up learns for its own first hour.
    newcomer = [
        *learned,
        origin(0, user="bob", hour=12),
        origin(10, user="bob", ip="10.9.9.9", hour=12),
    ]
    assert ids(*newcomer) == set()
    assert ids(*learned, origin(0, user="system:kube-scheduler", ip="10.2.3.4", hour=12)) == set()
    kube_system = "system:serviceaccount:kube-system:coredns"
    assert ids(*learned, origin(0, user=kube_system, ip="10.2.3.4", hour=12)) == set()
    assert agent_product("kubectl/v1.29.1 (linux/amd64) kubernetes/abc") == "kubectl"


def test_first_seen_origins_per_identity_are_bounded() -> None:
    settings = DetectionSettings(
        max_origins_per_identity=2,
        first_seen_warmup=dt.timedelta(0),
        identity_learning=dt.timedelta(0),
    )
    events = [
        origin(0, ip="10.0.0.1"),
        origin(1, ip="10.0.0.2"),
        origin(2, ip="10.0.0.3"),
        origin(3, ip="10.0.0.1"),
    ]
    alerts = fired(*events, settings=settings)
    # With no warm-up the first origin is new too; 10.0.0.1 was forgotten when the third address
    # came, so it is new again.
    assert [dict(a.hit.evidence)["new_source_ip"] for a in alerts] == [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.1",
    ]


# --- detector and registry ----------------------------------------------------------------------------


def test_detector_judges_an_audit_id_once_and_skips_request_received() -> None:
    started = audit_event(
        verb="create", subresource="exec", code=101, stage="ResponseStarted", audit_id="x"
    )
    completed = audit_event(verb="create", subresource="exec", code=101, audit_id="x")
    received = audit_event(verb="create", subresource="exec", code=101, stage="RequestReceived")
    detector = Detector()
    assert len(detector.process_all([received, started, completed])) == 1
    assert detector.stats.repeated == 1 and detector.stats.judged == 1


def test_a_different_request_under_a_seen_audit_id_is_judged_and_counted() -> None:
    harmless = audit_event(verb="get", resource="pods", audit_id="x")
    attack = audit_event(verb="create", subresource="exec", code=101, audit_id="x")
    attack_again = audit_event(verb="create", subresource="exec", code=101, audit_id="x")
    detector = Detector()
    assert detector.process(harmless) == []
    assert "pod-exec" in [alert.detection_id for alert in detector.process(attack)]
    assert detector.process(attack_again) == []  # the same request's later stage
    assert detector.stats.reused_audit_ids == 1
    assert detector.stats.repeated == 1 and detector.stats.judged == 2


def test_the_reused_audit_id_notice_names_the_first_id_and_where_it_was_read() -> None:
    detector = Detector()
    origin = EventOrigin("audit.log", 7)
    detector.process(audit_event(verb="get", resource="pods", audit_id="x"))
    detector.process(
        replace(audit_event(verb="list", resource="pods", audit_id="x"), origin=origin)
    )
    [notice] = [line for line in detector.notices() if "audit ID" in line]
    assert notice.startswith("1 request came under the audit ID of a different request, it under ")
    assert "audit ID 'x' at audit.log:7" in notice and notice.endswith("it was judged on its own")
    later = replace(audit_event(verb="delete", resource="pods", audit_id="x"), origin=origin)
    detector.process(replace(later, origin=EventOrigin("webhook batch 3")))
    [notice] = [line for line in detector.notices() if "audit ID" in line]
    assert notice.startswith("2 requests came under the audit ID of a different request, the first")
    assert "'x' at audit.log:7" in notice and notice.endswith("each was judged on its own")


def test_requests_remembered_per_audit_id_are_bounded() -> None:
    detector = Detector(audit_id_capacity=2)
    for number in range(50):
        detector.process(audit_event(verb="get", name=f"pod-{number}", audit_id="x"))
    assert detector.stats.judged == 50 and detector.stats.reused_audit_ids == 49
    assert len(detector._judged) == 1
    assert len(detector._judged.get("x") or ()) <= 8


def test_a_failing_detection_is_counted_and_the_others_go_on() -> None:
    def broken(_event: AuditEvent, _state: object) -> Iterator[Hit]:
        raise RuntimeError("value that must not be echoed")

    meta = DetectionMeta(
        "broken",
        "Broken",
        Severity.LOW,
        builtin_detections()[0].meta.technique,
        "execution",
        "Breaks.",
        "Fix it.",
    )
    detector = Detector((Detection(meta, broken), builtin_detections()[0]))
    alerts = detector.process(audit_event(verb="create", subresource="exec", code=101))
    assert [a.detection_id for a in alerts] == ["pod-exec"]
    assert detector.stats.errors == 1
    assert "RuntimeError" in detector.stats.error_messages[0]
    assert "must not be echoed" not in detector.stats.error_messages[0]


def test_min_severity() -> None:
    uri = "/api/v1/namespaces/default/pods/db/portforward?ports=5432"
    event = audit_event(verb="create", subresource="portforward", code=101, uri=uri)
    assert Detector(min_severity=Severity.HIGH).process(event) == []
    assert len(Detector(min_severity=Severity.MEDIUM).process(event)) == 1


def test_registry_metadata() -> None:
    detections = builtin_detections()
    assert len(detections) == 32
    assert len({d.id for d in detections}) == 32
    first = detections[0]
    with pytest.raises(DetectionRegistryError, match="duplicate"):
        registry((first, first))
    bad = Detection(
        DetectionMeta("Bad_Id", "t", Severity.LOW, first.meta.technique, "execution", "x", "y"),
        first.detect,
    )
    with pytest.raises(DetectionRegistryError, match=r"kebab-case.*period"):
        registry((bad,))
