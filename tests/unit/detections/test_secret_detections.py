"""Secrets read, or tried, and credentials written or minted: enumeration (across the cluster or in
bulk), reads denied, ServiceAccounts reading outside their namespace, people reading Secrets,
Secrets written in protected namespaces, tokens, client certificates and credentials in ConfigMaps.
One read is one alert."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from audit_samples import audit_event, raw_event
from detection_samples import at, fired, ids
from kposture.detections import DetectionSettings, Detector, builtin_detections
from kposture.detections.settings import RoutineSecretWrite
from kposture.model import Severity
from kposture.model.audit import AuditEvent

OWN = "system:serviceaccount:shop:api"


def _read(verb: str = "get", **kwargs: Any) -> AuditEvent:
    values: dict[str, Any] = {"resource": "secrets", "namespace": "shop", "name": "db"}
    return audit_event(verb=verb, **{**values, **kwargs})


def test_a_person_reading_a_secret_is_beyond_the_catalogue() -> None:
    (alert,) = fired(_read())
    assert alert.detection_id == "secret-read-by-person" and alert.severity is Severity.MEDIUM
    assert alert.message == "alice from 10.0.0.1 read Secret shop/db"
    assert "Confirm with alice" in alert.containment
    (listed,) = fired(_read("list", name=""))
    assert listed.detection_id == "secret-read-by-person" and listed.severity is Severity.HIGH
    assert listed.message == "alice from 10.0.0.1 read every Secret in namespace shop (list)"
    assert listed.containment.startswith(
        "Rotate the credentials held in namespace shop's Secrets (after a list, every Secret "
        "there) if the read was not expected."
    )
    assert "Rotate the credentials in Secret shop/db if" in alert.containment


def test_listing_every_namespace_is_an_enumeration_and_nothing_else() -> None:
    for user in ("alice", OWN):
        (alert,) = fired(_read("list", namespace="", name="", user=user))
        assert alert.detection_id == "secret-enumeration" and alert.severity is Severity.HIGH
        assert "read the Secrets of every namespace (list across the cluster)" in alert.message
        assert alert.meta.technique.id == "T1552.007"


def test_a_cluster_wide_watch_alerts_once_per_repeat_window() -> None:
    watches = [
        _read("watch", namespace="", name="", user=OWN, time=at(minute)) for minute in (0, 5, 11)
    ]
    alerts = fired(*watches)
    assert [a.event.received_at.minute for a in alerts if a.event.received_at] == [0, 11]


def test_many_distinct_secret_reads_in_a_short_window_are_an_enumeration() -> None:
    reads = [_read(name=f"s{i}", user=OWN, time=at(0, i)) for i in range(10)]
    alerts = [a for a in fired(*reads) if a.detection_id == "secret-enumeration"]
    (alert,) = alerts
    assert (
        "read 10 Secrets within 60 s (shop/s0, shop/s1, shop/s2, shop/s3, shop/s4 and 5 more)"
        in (alert.message)
    )
    assert alert.event.audit_id == reads[-1].audit_id
    again = [_read(name="same", user=OWN, time=at(0, i)) for i in range(30)]
    assert ids(*again) == set()  # the same Secret read again and again is no enumeration
    slow = [_read(name=f"s{i}", user=OWN, time=at(i)) for i in range(12)]
    assert ids(*slow) == set()


def test_a_person_enumerating_gets_the_pattern_besides_each_read() -> None:
    reads = [_read(name=f"s{i}", time=at(0, i)) for i in range(10)]
    found = [a.detection_id for a in fired(*reads)]
    assert found.count("secret-read-by-person") == 10
    assert found.count("secret-enumeration") == 1


def test_enumeration_state_is_bounded() -> None:
    settings = DetectionSettings(max_tracked_identities=3)
    detector = Detector(settings=settings)
    for index in range(20):
        detector.process(_read(user=f"system:serviceaccount:ns{index}:a", namespace=f"ns{index}"))
    state = next(state for det, state in detector._states if det.id == "secret-enumeration")
    assert len(state.bursts) == 3


def test_a_denied_read_asks_to_revoke_credentials_not_to_remove_rights_never_held() -> None:
    (person,) = fired(_read(code=403, decision="forbid"))
    assert person.containment.endswith(
        "Confirm with alice that this was intended; if not, revoke their credentials."
    )
    (account,) = fired(_read(code=403, user=OWN))
    assert "Rotate the tokens of ServiceAccount shop/api if it was not expected to act" in (
        account.containment
    )
    assert "kubectl auth can-i --list --as system:serviceaccount:shop:api -n shop" in (
        account.containment
    )
    assert "Remove " not in account.containment and "remove " not in person.containment


def test_reads_denied_are_probing_one_alert_per_identity_and_namespace_in_the_window() -> None:
    (alert,) = fired(_read(code=403, decision="forbid"))
    assert alert.detection_id == "secret-access-denied" and alert.severity is Severity.MEDIUM
    assert alert.message == "alice from 10.0.0.1 was denied get on Secret shop/db"
    retries = [_read(code=403, user=OWN, time=at(minute)) for minute in (0, 1, 2, 12)]
    assert len(fired(*retries)) == 2
    elsewhere = _read(code=403, user=OWN, namespace="billing", time=at(0))
    other = [_read(code=403, user=OWN, time=at(0)), _read(code=403, user=OWN, name="x", time=at(0))]
    assert len(fired(*other, elsewhere)) == 2  # shop once, billing once
    kubelet = _read(code=403, user="system:node:n1", groups=("system:nodes",))
    assert ids(kubelet) == set()
    assert ids(audit_event(resource="configmaps", code=403)) == set()


def test_thirty_denials_to_one_user_are_one_alert_the_rest_counted_in_the_next() -> None:
    probes = [_read(code=403, name=f"s{i}", time=at(0, i)) for i in range(30)]
    later = _read(code=403, name="s99", time=at(11))
    alerts = [a for a in fired(*probes, later) if a.detection_id == "secret-access-denied"]
    assert [a.message for a in alerts] == [
        "alice from 10.0.0.1 was denied get on Secret shop/s0",
        "alice from 10.0.0.1 was denied get on Secret shop/s99 (29 more Secret reads denied in "
        "namespace shop since the previous alert)",
    ]


def test_service_account_reading_outside_its_namespace() -> None:
    assert ids(_read(user=OWN)) == set()
    (foreign,) = fired(_read(namespace="billing", user=OWN))
    assert foreign.detection_id == "secret-read-cross-namespace"
    assert foreign.severity is Severity.HIGH
    assert "ServiceAccount shop/api outside its own namespace" in foreign.message
    assert "Remove get on secrets in billing from ServiceAccount shop/api" in foreign.containment
    can_i = "kubectl auth can-i --list --as system:serviceaccount:shop:api -n billing"
    assert f"({can_i})" in foreign.containment  # the rights where the read happened
    listed = _read("list", namespace="billing", name="", user=OWN)
    assert ids(listed) == {"secret-read-cross-namespace"}
    assert ids(_read(namespace="billing", user=OWN, code=403)) == {"secret-access-denied"}


@pytest.mark.parametrize(
    ("verb", "user", "namespace"),
    [
        ("list", "system:serviceaccount:kube-system:namespace-controller", ""),
        ("get", "system:serviceaccount:kube-system:generic-garbage-collector", "billing"),
        ("get", "system:node:n1", "shop"),
        ("list", "system:kube-controller-manager", ""),
    ],
)
def test_trusted_readers_and_kubernetes_are_not_judged(
    verb: str, user: str, namespace: str
) -> None:
    assert ids(_read(verb, user=user, namespace=namespace, name="")) == set()


KUBEADM_AGENT = "kubeadm/v1.16.2 (linux/amd64) kubernetes/c97fe50"


def _system_secret(verb: str, **kwargs: Any) -> AuditEvent:
    values: dict[str, Any] = {"namespace": "kube-system", "name": "backdoor", "user": "admin"}
    return audit_event(verb=verb, resource="secrets", **{**values, **kwargs})


def test_secret_written_or_deleted_in_a_protected_namespace() -> None:
    (created,) = fired(_system_secret("create", code=201))
    assert created.detection_id == "system-namespace-secret-changed"
    assert created.severity is Severity.HIGH
    assert created.meta.technique.id == "T1528" and created.meta.tactic == "credential-access"
    assert created.message.startswith("admin from 10.0.0.1 created Secret kube-system/backdoor")
    assert "a person" in created.message
    assert "kubectl get secret backdoor -n kube-system" in created.containment
    (deleted,) = fired(_system_secret("delete"))
    assert deleted.severity is Severity.MEDIUM and "deleted Secret" in deleted.message
    assert "restore or re-issue it" in deleted.containment
    patched = _system_secret("patch", namespace="kube-public", request={"type": "Opaque"})
    assert "changed Secret kube-public/backdoor (type Opaque)" in fired(patched)[0].message
    foreign = "system:serviceaccount:ci:deployer"
    (by_account,) = fired(_system_secret("create", user=foreign))
    assert "ServiceAccount ci/deployer of another namespace" in by_account.message


@pytest.mark.parametrize(
    "event",
    [
        _system_secret("create", user="system:serviceaccount:kube-system:bootstrap-signer"),
        _system_secret("create", user="system:kube-controller-manager"),
        _system_secret("create", namespace="shop"),
        _system_secret("create", code=403),
        _system_secret(
            "create",
            name="bootstrap-token-ne7bxu",
            agent=KUBEADM_AGENT,
            groups=("system:masters", "system:authenticated"),
        ),
        _system_secret(
            "create",
            user="kubernetes-admin",
            name="kubeadm-certs",
            agent=KUBEADM_AGENT,
            groups=("kubeadm:cluster-admins", "system:authenticated"),
        ),
    ],
    ids=["own-account", "component", "other-namespace", "denied", "kubeadm-token", "kubeadm-certs"],
)
def test_secret_writes_that_are_routine_or_not_there(event: AuditEvent) -> None:
    assert "system-namespace-secret-changed" not in ids(event)


def test_a_bootstrap_token_written_by_anything_but_kubeadm_is_judged() -> None:
    event = _system_secret("create", name="bootstrap-token-abcdef")
    assert ids(event) == {"system-namespace-secret-changed"}
    custom = DetectionSettings(
        routine_system_secrets=(
            RoutineSecretWrite("kubectl/*", "bootstrap-token-*", ("system:authenticated",)),
        )
    )
    assert ids(event, settings=custom) == set()


@pytest.mark.parametrize(
    ("user", "groups"),
    [
        ("system:serviceaccount:ci:deployer", ("system:serviceaccounts", "system:masters")),
        ("mallory", ("system:authenticated",)),
    ],
    ids=["service-account", "ordinary-user"],
)
def test_a_kubeadm_user_agent_alone_does_not_make_a_bootstrap_token_routine(
    user: str, groups: tuple[str, ...]
) -> None:
    event = _system_secret(
        "create", name="bootstrap-token-abcdef", agent=KUBEADM_AGENT, user=user, groups=groups
    )
    assert ids(event) == {"system-namespace-secret-changed"}


def test_secret_gate_keeps_what_the_detection_judges() -> None:
    (detection,) = [d for d in builtin_detections() if d.id == "system-namespace-secret-changed"]
    assert detection.gate is not None
    settings = DetectionSettings()

    def gate(user: str, namespace: str = "kube-system") -> bool:
        raw = raw_event(verb="delete", resource="secrets", namespace=namespace, user=user)
        assert detection.gate is not None
        return detection.gate(raw, settings)

    for user in ("admin", "system:serviceaccount:ci:deployer", "system:anonymous"):
        assert gate(user)
        assert "system-namespace-secret-changed" in ids(_system_secret("delete", user=user))
    assert not gate("system:serviceaccount:kube-system:bootstrap-signer")
    assert not gate("system:kube-controller-manager")
    assert not gate("admin", namespace="shop")


def test_token_created() -> None:
    request = audit_event(
        verb="create", resource="serviceaccounts", subresource="token", name="builder", code=201
    )
    (alert,) = fired(request)
    assert alert.detection_id == "sa-token-created" and alert.severity is Severity.MEDIUM
    assert "delete and recreate ServiceAccount default/builder" in alert.containment
    system_account = audit_event(
        verb="create",
        resource="serviceaccounts",
        subresource="token",
        namespace="kube-system",
        name="admin",
    )
    assert fired(system_account)[0].severity is Severity.HIGH
    by_workload = audit_event(
        verb="create", resource="serviceaccounts", subresource="token", user=OWN
    )
    assert ids(by_workload) == {"sa-token-created"}
    kubelet = audit_event(
        verb="create", resource="serviceaccounts", subresource="token", user="system:node:n1"
    )
    assert ids(kubelet) == set()
    token_secret = {
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "t", "annotations": {"kubernetes.io/service-account.name": "ci"}},
    }
    assert ids(audit_event(verb="create", resource="secrets", request=token_secret)) == {
        "sa-token-created"
    }
    by_controller = audit_event(
        verb="create",
        resource="secrets",
        request=token_secret,
        user="system:kube-controller-manager",
    )
    assert ids(by_controller) == set()


def _csr(verb: str, subresource: str = "", **kwargs: Any) -> AuditEvent:
    return audit_event(
        verb=verb,
        resource="certificatesigningrequests",
        subresource=subresource,
        namespace="",
        name="csr-1",
        api_group="certificates.k8s.io",
        **kwargs,
    )


def test_client_certificate_requested() -> None:
    body = {
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "csr-1"},
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]},
    }
    (alert,) = fired(_csr("create", request=body))
    assert alert.detection_id == "client-certificate-created" and alert.severity is Severity.HIGH
    assert alert.message.endswith(
        "requested a client certificate: certificate signing request csr-1 "
        "(signer kubernetes.io/kube-apiserver-client)"
    )
    assert "kubectl certificate deny csr-1" in alert.containment
    legacy = {"spec": {"signerName": "kubernetes.io/legacy-unknown", "usages": ["client auth"]}}
    assert ids(_csr("create", request=legacy)) == {"client-certificate-created"}
    serving = {"spec": {"signerName": "kubernetes.io/kubelet-serving", "usages": ["server auth"]}}
    assert ids(_csr("create", request=serving)) == set()
    assert ids(_csr("create", request=body, user="system:node:n1")) == set()
    assert ids(_csr("create", request=body, user="system:bootstrap:abcdef")) == set()
    detector = Detector()
    assert detector.process(_csr("create")) == []
    assert "certificatesigningrequests (create 1)" in detector.notices()[0]


def test_csr_approved() -> None:
    csr = {
        "kind": "CertificateSigningRequest",
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "mallory"},
        "status": {"conditions": [{"type": "Approved"}]},
    }
    (alert,) = fired(_csr("update", "approval", response=csr))
    assert alert.detection_id == "client-certificate-created" and "mallory" in alert.message
    assert alert.message.endswith(
        "approved certificate signing request csr-1 "
        "(signer kubernetes.io/kube-apiserver-client, requested by mallory)"
    )
    denied = {**csr, "status": {"conditions": [{"type": "Denied"}]}}
    assert ids(_csr("update", "approval", response=denied)) == set()
    controller = "system:serviceaccount:kube-system:certificate-controller"
    assert ids(_csr("update", "approval", response=csr, user=controller)) == set()


@pytest.mark.parametrize(
    ("spec", "ending"),
    [
        (
            {"signerName": "kubernetes.io/kubelet-serving"},
            "csr-1 (signer kubernetes.io/kubelet-serving)",
        ),
        ({"username": "mallory"}, "csr-1 (requested by mallory)"),
        ({"signerName": "", "username": None}, "csr-1"),
        ({}, "csr-1"),
    ],
)
def test_csr_message_names_only_what_is_known(spec: dict[str, Any], ending: str) -> None:
    csr = {"kind": "CertificateSigningRequest", "spec": spec, "status": {}}
    (alert,) = fired(_csr("update", "approval", response=csr))
    assert alert.message.endswith(ending), alert.message
    assert ", )" not in alert.message and "( " not in alert.message


def test_configmap_credentials_name_keys_never_values() -> None:
    value = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----\n"
    config = {
        "kind": "ConfigMap",
        "metadata": {"name": "app"},
        "data": {"tls.key": value, "color": "blue"},
    }
    (alert,) = fired(audit_event(verb="create", resource="configmaps", request=config))
    assert alert.detection_id == "configmap-credentials-written"
    assert alert.severity is Severity.HIGH and alert.meta.technique.id == "T1552"
    assert "tls.key" in alert.message and "MIIEow" not in alert.message
    plain = {"kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"color": "blue"}}
    assert ids(audit_event(verb="create", resource="configmaps", request=plain)) == set()


def test_windows_use_the_events_own_time() -> None:
    settings = DetectionSettings(secret_read_window=dt.timedelta(hours=1))
    reads = [_read(name=f"s{i}", user=OWN, time=at(i)) for i in range(10)]
    assert "secret-enumeration" in ids(*reads, settings=settings)
