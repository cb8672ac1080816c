"""Each built-in detection on minimal events: what fires, what does not, and the containment named.
Stateful detections: windows, one alert per window, bounded identities, warm-up and learning."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from audit_samples import audit_event, raw_event
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
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit, IncidentAlert


def fired(*events: AuditEvent, settings: DetectionSettings | None = None) -> list[IncidentAlert]:
    return Detector(settings=settings).process_all(events)


def ids(*events: AuditEvent, **kwargs: Any) -> set[str]:
    return {alert.detection_id for alert in fired(*events, **kwargs)}


def pod(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta}, "spec": spec}


def at(minute: int, second: int = 0) -> str:
    return f"2024-05-01T10:{minute:02d}:{second:02d}Z"


# --- workload access -----------------------------------------------------------------------------


def test_exec_attach_portforward() -> None:
    exec_event = audit_event(
        verb="create",
        subresource="exec",
        code=101,
        uri="/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&container=app",
    )
    (alert,) = fired(exec_event)
    assert alert.detection_id == "pod-exec-attach"
    assert "'sh -c'" in alert.message and alert.severity is Severity.HIGH
    assert "kposture respond isolate web -n default" in alert.containment
    assert ids(audit_event(verb="get", subresource="attach", code=101)) == {"pod-exec-attach"}
    forward = fired(audit_event(verb="create", subresource="portforward", code=101))
    assert forward[0].severity is Severity.MEDIUM
    assert ids(audit_event(verb="create", subresource="exec", code=403)) == set()
    assert ids(audit_event(verb="get", subresource="log")) == set()


def test_ephemeral_container_and_node_proxy() -> None:
    debug = audit_event(
        verb="patch",
        subresource="ephemeralcontainers",
        response=pod({"ephemeralContainers": [{"name": "debugger-x", "image": "busybox"}]}),
    )
    (alert,) = fired(debug)
    assert alert.detection_id == "ephemeral-container-added"
    assert dict(alert.hit.evidence)["containers"] == "debugger-x"
    proxy = audit_event(
        verb="create",
        resource="nodes",
        subresource="proxy",
        namespace="",
        name="node-1",
        uri="/api/v1/nodes/node-1/proxy/run/default/web/app",
    )
    (alert,) = fired(proxy)
    assert alert.detection_id == "node-proxy-used" and alert.severity is Severity.CRITICAL
    assert ids(audit_event(resource="nodes", subresource="proxy", user="system:apiserver")) == set()


@pytest.mark.parametrize(
    ("spec", "severity"),
    [
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, "critical"),
        ({"hostPID": True, "containers": [{"name": "c"}]}, "high"),
        ({"hostNetwork": True, "containers": [{"name": "c"}]}, "high"),
        ({"volumes": [{"name": "v", "hostPath": {"path": "/var/run/docker.sock"}}]}, "critical"),
        ({"volumes": [{"name": "v", "hostPath": {"path": "/etc/"}}]}, "critical"),
        ({"volumes": [{"name": "v", "hostPath": {"path": "/data/cache"}}]}, "medium"),
    ],
)
def test_privileged_workloads(spec: dict[str, Any], severity: str) -> None:
    (alert,) = fired(audit_event(verb="create", code=201, request=pod(spec)))
    assert alert.detection_id == "privileged-workload-created"
    assert alert.severity.value == severity


def test_privileged_controller_and_owned_pod_containment() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "agent", "namespace": "shop"},
        "spec": {"template": {"spec": {"hostIPC": True, "containers": [{"name": "c"}]}}},
    }
    (alert,) = fired(
        audit_event(verb="create", resource="deployments", namespace="shop", request=deployment)
    )
    assert "Scale Deployment shop/agent to zero" in alert.containment
    owned = pod(
        {"hostPID": True},
        ownerReferences=[{"kind": "ReplicaSet", "name": "web-1", "controller": True}],
    )
    (alert,) = fired(audit_event(verb="create", code=201, request=owned))
    assert "belongs to ReplicaSet/web-1" in alert.containment
    plain = pod({"containers": [{"name": "c", "securityContext": {"privileged": False}}]})
    assert ids(audit_event(verb="create", request=plain)) == set()
    assert ids(audit_event(verb="create", code=403, request=pod({"hostPID": True}))) == set()


def _workload(kind: str, resource: str, spec: dict[str, Any]) -> AuditEvent:
    body = {"kind": kind, "metadata": {"name": "agent", "namespace": "shop"}, "spec": spec}
    return audit_event(verb="create", resource=resource, namespace="shop", request=body)


HOST_PID_TEMPLATE = {"template": {"spec": {"hostPID": True, "containers": [{"name": "c"}]}}}


@pytest.mark.parametrize(
    ("kind", "resource", "spec", "command"),
    [
        (
            "CronJob",
            "cronjobs",
            {"jobTemplate": {"spec": HOST_PID_TEMPLATE}},
            """kubectl patch cronjob agent -n shop -p '{"spec":{"suspend":true}}'""",
        ),
        (
            "DaemonSet",
            "daemonsets",
            HOST_PID_TEMPLATE,
            "kubectl patch daemonset agent -n shop -p "
            """'{"spec":{"template":{"spec":{"nodeSelector":{"kposture.io/stopped":"true"}}}}}'""",
        ),
        (
            "StatefulSet",
            "statefulsets",
            HOST_PID_TEMPLATE,
            "kubectl scale statefulset agent -n shop --replicas=0",
        ),
        (
            "Job",
            "jobs",
            HOST_PID_TEMPLATE,
            """kubectl patch job agent -n shop -p '{"spec":{"suspend":true}}'""",
        ),
    ],
)
def test_privileged_workload_containment_is_a_command_that_works_for_its_kind(
    kind: str, resource: str, spec: dict[str, Any], command: str
) -> None:
    (alert,) = fired(_workload(kind, resource, spec))
    assert command in alert.containment
    if kind in ("CronJob", "DaemonSet", "Job"):
        assert "Scale" not in alert.containment and "to zero" not in alert.containment


def test_pod_owned_by_a_daemonset_is_not_told_to_scale_it() -> None:
    owned = pod(
        {"hostNetwork": True},
        namespace="shop",
        ownerReferences=[{"kind": "DaemonSet", "name": "agent", "controller": True}],
    )
    (alert,) = fired(audit_event(verb="create", namespace="shop", request=owned))
    assert "belongs to DaemonSet/agent" in alert.containment
    assert "kubectl patch daemonset agent -n shop" in alert.containment
    assert "to zero" not in alert.containment


def test_nodeport_service() -> None:
    service = {
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]},
    }
    (alert,) = fired(audit_event(verb="create", resource="services", request=service))
    assert alert.detection_id == "nodeport-service-created" and "30080" in alert.message
    cluster_ip = {"kind": "Service", "metadata": {"name": "web"}, "spec": {"type": "ClusterIP"}}
    assert ids(audit_event(verb="create", resource="services", request=cluster_ip)) == set()


# --- credential access -----------------------------------------------------------------------------


def test_secret_reads() -> None:
    assert ids(audit_event(resource="secrets", name="db")) == {"secret-read"}
    (listed,) = fired(audit_event(verb="list", resource="secrets", namespace="", name=""))
    assert listed.severity is Severity.HIGH and "every namespace" in listed.message
    own = "system:serviceaccount:shop:api"
    assert ids(audit_event(resource="secrets", namespace="shop", user=own)) == set()
    (foreign,) = fired(audit_event(resource="secrets", namespace="billing", user=own))
    assert "ServiceAccount shop/api outside its own namespace" in foreign.message
    assert "Remove get on secrets from ServiceAccount shop/api" in foreign.containment
    controller = "system:serviceaccount:kube-system:namespace-controller"
    assert ids(audit_event(verb="list", resource="secrets", user=controller)) == set()
    assert (
        ids(audit_event(resource="secrets", user="system:node:n1", groups=("system:nodes",)))
        == set()
    )
    assert ids(audit_event(resource="secrets", code=403)) == set()


def test_token_created() -> None:
    request = audit_event(
        verb="create", resource="serviceaccounts", subresource="token", name="builder", code=201
    )
    (alert,) = fired(request)
    assert alert.detection_id == "service-account-token-created"
    assert "delete and recreate ServiceAccount default/builder" in alert.containment
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
        "service-account-token-created"
    }
    by_controller = audit_event(
        verb="create",
        resource="secrets",
        request=token_secret,
        user="system:kube-controller-manager",
    )
    assert ids(by_controller) == set()


def test_csr_approved() -> None:
    csr = {
        "kind": "CertificateSigningRequest",
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "mallory"},
        "status": {"conditions": [{"type": "Approved"}]},
    }
    event = audit_event(
        verb="update",
        resource="certificatesigningrequests",
        subresource="approval",
        namespace="",
        name="csr-1",
        api_group="certificates.k8s.io",
        response=csr,
    )
    (alert,) = fired(event)
    assert alert.detection_id == "csr-approved" and "mallory" in alert.message
    assert alert.message.endswith(
        "approved certificate signing request csr-1 "
        "(signer kubernetes.io/kube-apiserver-client, requested by mallory)"
    )
    denied = {**csr, "status": {"conditions": [{"type": "Denied"}]}}
    assert (
        ids(
            audit_event(
                verb="update",
                resource="certificatesigningrequests",
                subresource="approval",
                response=denied,
            )
        )
        == set()
    )


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
    event = audit_event(
        verb="update",
        resource="certificatesigningrequests",
        subresource="approval",
        namespace="",
        name="csr-1",
        response=csr,
    )
    (alert,) = fired(event)
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
    assert alert.detection_id == "configmap-credentials"
    assert "tls.key" in alert.message and "MIIEow" not in alert.message
    plain = {"kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"color": "blue"}}
    assert ids(audit_event(verb="create", resource="configmaps", request=plain)) == set()


# --- RBAC changes ------------------------------------------------------------------------------------


def binding(role: str, kind: str = "ClusterRoleBinding") -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}],
    }


def role(rules: list[dict[str, Any]], kind: str = "ClusterRole", **meta: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "r", **meta}, "rules": rules}


def test_cluster_admin_and_wildcards() -> None:
    event = audit_event(
        verb="create",
        resource="clusterrolebindings",
        namespace="",
        name="b",
        request=binding("cluster-admin"),
    )
    (alert,) = fired(event)
    assert alert.detection_id == "cluster-admin-granted" and alert.severity is Severity.CRITICAL
    assert "kubectl delete clusterrolebinding b" in alert.containment
    assert "ServiceAccount tools/ci" in alert.message
    namespaced = audit_event(
        verb="create",
        resource="rolebindings",
        namespace="shop",
        request=binding("cluster-admin", "RoleBinding"),
    )
    assert "-n shop" in fired(namespaced)[0].containment
    assert (
        ids(audit_event(verb="create", resource="clusterrolebindings", request=binding("view")))
        == set()
    )
    wildcard = role([{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}])
    assert ids(audit_event(verb="create", resource="clusterroles", request=wildcard)) == {
        "cluster-admin-granted"
    }
    by_apiserver = audit_event(
        verb="create", resource="clusterroles", request=wildcard, user="system:apiserver"
    )
    assert ids(by_apiserver) == set()


def test_risky_and_write_roles() -> None:
    exec_role = role([{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}])
    (alert,) = fired(audit_event(verb="create", resource="clusterroles", request=exec_role))
    assert alert.detection_id == "risky-role-written" and "exec into pods" in alert.message
    secrets = role([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}], "Role")
    assert ids(audit_event(verb="create", resource="roles", request=secrets)) == {
        "risky-role-written"
    }
    # A Role grants nothing on cluster-scoped resources.
    node_proxy = role([{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}], "Role")
    assert ids(audit_event(verb="create", resource="roles", request=node_proxy)) == set()
    writer = role(
        [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}]
    )
    (alert,) = fired(audit_event(verb="create", resource="clusterroles", request=writer))
    assert alert.detection_id == "write-role-written" and alert.severity is Severity.LOW
    reader = role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])
    assert ids(audit_event(verb="create", resource="clusterroles", request=reader)) == set()


def test_system_rbac_modified() -> None:
    deleted = audit_event(
        verb="delete", resource="clusterroles", namespace="", name="system:kube-aggregator"
    )
    (alert,) = fired(deleted)
    assert alert.detection_id == "system-rbac-modified" and "deleted" in alert.message
    changed = audit_event(
        verb="patch", resource="clusterrolebindings", namespace="", name="cluster-admin"
    )
    assert fired(changed)[0].severity is Severity.HIGH
    assert ids(audit_event(verb="delete", resource="clusterroles", name="my-role")) == set()
    by_component = audit_event(
        verb="update", resource="clusterroles", name="system:node", user="system:apiserver"
    )
    assert ids(by_component) == set()


# --- identity ----------------------------------------------------------------------------------------


def test_anonymous_requests() -> None:
    anonymous = {"user": "system:anonymous", "groups": ("system:unauthenticated",)}
    (alert,) = fired(audit_event(verb="create", resource="namespaces", namespace="", **anonymous))
    assert alert.detection_id == "anonymous-request-allowed" and alert.severity is Severity.CRITICAL
    assert ids(audit_event(resource="secrets", **anonymous)) >= {"anonymous-request-allowed"}
    health = AuditEvent(
        audit_id="h",
        stage="ResponseComplete",
        verb="get",
        request_uri="/healthz",
        user=audit_event(**anonymous).user,
        response_code=200,
    )
    assert ids(health) == set()
    assert ids(audit_event(resource="secrets", code=403, **anonymous)) == set()


def test_impersonation() -> None:
    event = audit_event(impersonated={"username": "bob", "groups": ["dev"]})
    (alert,) = fired(event)
    assert alert.detection_id == "impersonation" and alert.severity is Severity.MEDIUM
    assert "alice from 10.0.0.1 acted as bob" in alert.message
    admin = audit_event(impersonated={"username": "x", "groups": ["system:masters"]})
    assert fired(admin)[0].severity is Severity.HIGH


# --- tampering --------------------------------------------------------------------------------------


def test_webhook_changes() -> None:
    deleted = audit_event(
        verb="delete", resource="validatingwebhookconfigurations", namespace="", name="kyverno"
    )
    (alert,) = fired(deleted)
    assert alert.detection_id == "admission-webhook-changed" and alert.severity is Severity.HIGH
    created = audit_event(verb="create", resource="validatingwebhookconfigurations", name="x")
    assert fired(created)[0].severity is Severity.MEDIUM
    assert ids(audit_event(resource="validatingwebhookconfigurations")) == set()  # a read


def test_agents_deleted() -> None:
    (alert,) = fired(
        audit_event(verb="delete", resource="namespaces", namespace="falco", name="falco")
    )
    assert (
        alert.detection_id == "security-agent-deleted"
        and "Redeploy namespace falco" in alert.containment
    )
    daemonset = audit_event(
        verb="delete", resource="daemonsets", namespace="monitoring", name="datadog-agent"
    )
    assert ids(daemonset) == {"security-agent-deleted"}
    assert (
        ids(audit_event(verb="delete", resource="namespaces", namespace="shop", name="shop"))
        == set()
    )
    gc = audit_event(
        verb="delete",
        resource="pods",
        name="falco-abc",
        user="system:serviceaccount:kube-system:generic-garbage-collector",
    )
    assert ids(gc) == set()
    custom = DetectionSettings(agent_names=("my-edr",))
    assert ids(
        audit_event(verb="delete", resource="daemonsets", name="my-edr"), settings=custom
    ) == {"security-agent-deleted"}


def test_protected_namespaces() -> None:
    account = audit_event(
        verb="create", resource="serviceaccounts", namespace="kube-system", name="x"
    )
    assert ids(account) == {"system-namespace-changed"}
    controller = "system:serviceaccount:kube-system:replicaset-controller"
    foreign = pod({"containers": [{"name": "c", "image": "nginx"}]}, namespace="kube-system")
    event = audit_event(
        verb="create", namespace="kube-system", name="", user=controller, request=foreign
    )
    assert ids(event) == {"system-namespace-foreign-image"}
    system = pod(
        {"containers": [{"name": "c", "image": "registry.k8s.io/coredns/coredns:v1.11.1"}]}
    )
    event = audit_event(verb="create", namespace="kube-system", user=controller, request=system)
    assert ids(event) == set()


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
        _system_secret("get"),
        _system_secret("create", code=403),
        _system_secret(
            "create",
            name="bootstrap-token-ne7bxu",
            agent="kubeadm/v1.16.2 (linux/amd64) kubernetes/c97fe50",
        ),
    ],
    ids=["own-account", "component", "other-namespace", "read", "denied", "kubeadm-token"],
)
def test_secret_writes_that_are_routine_or_not_there(event: AuditEvent) -> None:
    assert "system-namespace-secret-changed" not in ids(event)


def test_a_bootstrap_token_written_by_anything_but_kubeadm_is_judged() -> None:
    event = _system_secret("create", name="bootstrap-token-abcdef")
    assert ids(event) == {"system-namespace-secret-changed"}
    custom = DetectionSettings(routine_system_secrets=(("kubectl/*", "bootstrap-token-*"),))
    assert ids(event, settings=custom) == set()


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
        "cluster-admin-granted, risky-role-written, write-role-written could not judge them: "
        "they need audit level RequestResponse for clusterroles (see the audit policy in "
        "docs/detections.md)",
        "3 write(s) of configmaps (create 2, patch 1) were logged without their body, so "
        "configmap-credentials could not judge them: it needs audit level Request for "
        "configmaps (see the audit policy in docs/detections.md)",
    ]
    assert Detector().notices() == []


def test_every_detection_that_needs_a_body_says_which_audit_level() -> None:
    needing = [d for d in builtin_detections() if d.needs_body is not None]
    assert {d.id for d in needing} >= {"configmap-credentials", "privileged-workload-created"}
    for detection in needing:
        assert detection.needs_body is not None
        level = detection.needs_body.level
        assert f"Needs the audit level {level} for" in detection.meta.description, detection.id


# --- stateful ---------------------------------------------------------------------------------------


def denied(second: int, user: str = "mallory", minute: int = 0) -> AuditEvent:
    return audit_event(
        resource="secrets", user=user, code=403, time=at(minute, second), decision="forbid"
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


def test_forbidden_burst_state_is_bounded() -> None:
    settings = DetectionSettings(max_tracked_identities=3)
    detector = Detector(settings=settings)
    for index in range(50):
        detector.process(denied(0, user=f"u{index}"))
    state = next(state for det, state in detector._states if det.id == "forbidden-burst")
    assert len(state.table) == 3
    assert "u49" in state.table and "u0" not in state.table


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
    assert alert.detection_id == "identity-new-origin" and alert.severity is Severity.MEDIUM
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
    assert ids(*learned, origin(0, user="system:kube-scheduler", ip="1.2.3.4", hour=12)) == set()
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
    assert [a.detection_id for a in alerts] == ["pod-exec-attach"]
    assert detector.stats.errors == 1
    assert "RuntimeError" in detector.stats.error_messages[0]
    assert "must not be echoed" not in detector.stats.error_messages[0]


def test_min_severity() -> None:
    writer = role([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}])
    event = audit_event(verb="create", resource="clusterroles", request=writer)
    assert Detector(min_severity=Severity.MEDIUM).process(event) == []


def test_registry_metadata() -> None:
    detections = builtin_detections()
    assert len(detections) == 22
    assert len({d.id for d in detections}) == 22
    first = detections[0]
    with pytest.raises(DetectionRegistryError, match="duplicate"):
        registry((first, first))
    bad = Detection(
        DetectionMeta("Bad_Id", "t", Severity.LOW, first.meta.technique, "execution", "x", "y"),
        first.detect,
    )
    with pytest.raises(DetectionRegistryError, match=r"kebab-case.*period"):
        registry((bad,))
