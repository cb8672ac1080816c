"""Changes in the protected namespaces and tampering with the cluster's defences: workloads and
ServiceAccounts created in kube-system, other objects written there, foreign images run there by
controllers, admission webhooks changed, agents deleted or scaled to zero."""

from __future__ import annotations

from typing import Any

import pytest

from audit_samples import audit_event
from detection_samples import fired, ids, pod
from kposture.detections import DetectionSettings
from kposture.model import Severity
from kposture.model.audit import AuditEvent

CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"
FOREIGN = pod({"containers": [{"name": "c", "image": "nginx"}]}, namespace="kube-system")
SYSTEM = pod({"containers": [{"name": "c", "image": "registry.k8s.io/coredns/coredns:v1.11.1"}]})


def test_workload_created_in_a_protected_namespace() -> None:
    event = audit_event(verb="create", namespace="kube-system", name="", request=FOREIGN)
    (alert,) = fired(event)
    assert alert.detection_id == "pod-in-system-namespace" and alert.severity is Severity.HIGH
    assert alert.message == (
        "alice from 10.0.0.1 created Pod kube-system/p in a protected namespace with images from "
        "outside the system registries: nginx"
    )
    assert "kposture respond isolate p -n kube-system" in alert.containment
    daemonset = audit_event(verb="create", resource="daemonsets", namespace="kube-public", name="x")
    alerts = {alert.detection_id: alert for alert in fired(daemonset)}
    assert set(alerts) == {"pod-in-system-namespace", "daemonset-created"}  # where, and what
    assert (
        "kubectl patch daemonset x -n kube-public" in alerts["pod-in-system-namespace"].containment
    )
    assert ids(audit_event(verb="create", namespace="shop", request=FOREIGN)) == set()


def test_a_generated_pod_in_a_protected_namespace_is_found_isolated_then_its_owner_stopped() -> (
    None
):
    body = pod(
        {"containers": [{"name": "c", "image": "nginx"}]},
        namespace="kube-system",
        labels={"app": "miner"},
        ownerReferences=[{"kind": "ReplicaSet", "name": "miner-1", "controller": True}],
    )
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "miner-1-"
    event = audit_event(verb="create", namespace="kube-system", name="", request=body)
    (alert,) = [a for a in fired(event) if a.detection_id == "pod-in-system-namespace"]
    steps = alert.containment
    assert "POD" not in steps and "NAMESPACE" not in steps
    find = "kubectl get pods -n kube-system -l app=miner -o wide"
    assert f"({find})" in steps
    assert "kposture respond isolate with that name, -n kube-system and --cluster" in steps
    assert steps.index("isolate") < steps.index("kubectl scale replicaset miner-1 -n kube-system")


def test_a_host_pod_in_a_protected_namespace_is_contained_by_its_node_not_a_network_policy() -> (
    None
):
    body = pod({"hostPID": True, "containers": [{"name": "c"}]}, namespace="kube-system")
    event = audit_event(verb="create", namespace="kube-system", name="p", request=body)
    (alert,) = [a for a in fired(event) if a.detection_id == "pod-in-system-namespace"]
    assert "A NetworkPolicy will not contain this pod" in alert.containment
    assert "respond isolate" not in alert.containment
    assert alert.containment.index("kubectl cordon") < alert.containment.index("kubectl delete pod")


def test_a_workload_in_a_protected_namespace_has_its_pods_inspected_before_it_is_scaled() -> None:
    body: dict[str, Any] = {
        "kind": "Deployment",
        "metadata": {"name": "falco", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": "falco", "tier": "agent"}}},
    }
    logged = audit_event(
        verb="create", resource="deployments", namespace="kube-system", name="falco", request=body
    )
    (alert,) = [a for a in fired(logged) if a.detection_id == "pod-in-system-namespace"]
    steps = alert.containment
    inspect = "kubectl get pods -n kube-system -l app=falco,tier=agent -o wide"
    scale = "kubectl scale deployment falco -n kube-system --replicas=0"
    assert inspect in steps and scale in steps
    assert steps.index("First inspect its pods while they run") < steps.index(inspect)
    assert steps.index(inspect) < steps.index("Then scale Deployment kube-system/falco to zero")
    bare = audit_event(verb="create", resource="deployments", namespace="kube-system", name="falco")
    (unlogged,) = [a for a in fired(bare) if a.detection_id == "pod-in-system-namespace"]
    describe = "kubectl describe deployment falco -n kube-system"
    assert unlogged.containment.index(describe) < unlogged.containment.index(scale)


def test_serviceaccount_created_in_a_protected_namespace() -> None:
    account = audit_event(
        verb="create", resource="serviceaccounts", namespace="kube-system", name="x"
    )
    (alert,) = fired(account)
    assert alert.detection_id == "serviceaccount-in-system-namespace"
    assert alert.severity is Severity.MEDIUM and alert.meta.technique.id == "T1136"
    assert "kubectl delete serviceaccount x -n kube-system" in alert.containment
    by_workload = audit_event(
        verb="create",
        resource="serviceaccounts",
        namespace="kube-system",
        name="x",
        user="system:serviceaccount:ci:deployer",
    )
    assert ids(by_workload) == {"serviceaccount-in-system-namespace"}
    own = audit_event(
        verb="create",
        resource="serviceaccounts",
        namespace="kube-system",
        user="system:serviceaccount:kube-system:tokens-controller",
    )
    assert ids(own) == set()


@pytest.mark.parametrize(
    ("verb", "resource", "subresource", "severity"),
    [
        ("patch", "configmaps", "", "medium"),
        ("create", "rolebindings", "", "high"),
        ("update", "daemonsets", "", "high"),
        ("delete", "deployments", "", "medium"),
        ("patch", "deployments", "scale", "medium"),
        ("delete", "serviceaccounts", "", "medium"),
        ("create", "networkpolicies", "", "medium"),
    ],
)
def test_other_writes_in_a_protected_namespace(
    verb: str, resource: str, subresource: str, severity: str
) -> None:
    event = audit_event(
        verb=verb, resource=resource, subresource=subresource, namespace="kube-system", name="x"
    )
    (alert,) = fired(event)
    assert alert.detection_id == "system-namespace-object-changed"
    assert alert.severity.value == severity


@pytest.mark.parametrize(
    "event",
    [
        audit_event(verb="create", subresource="exec", namespace="kube-system", code=101),
        audit_event(
            verb="create", resource="pods", subresource="eviction", namespace="kube-system"
        ),
        audit_event(verb="update", resource="pods", subresource="status", namespace="kube-system"),
        audit_event(verb="patch", resource="configmaps", namespace="kube-system", user=CONTROLLER),
        audit_event(verb="get", resource="configmaps", namespace="kube-system"),
    ],
    ids=["exec", "eviction", "status", "by-kubernetes", "read"],
)
def test_writes_reported_elsewhere_or_routine_are_not_object_changes(event: AuditEvent) -> None:
    assert "system-namespace-object-changed" not in ids(event)


def test_foreign_images_run_by_controllers() -> None:
    event = audit_event(
        verb="create", namespace="kube-system", name="", user=CONTROLLER, request=FOREIGN
    )
    (alert,) = fired(event)
    assert alert.detection_id == "system-namespace-foreign-image"
    system = audit_event(verb="create", namespace="kube-system", user=CONTROLLER, request=SYSTEM)
    assert ids(system) == set()
    by_person = audit_event(verb="create", namespace="kube-system", request=FOREIGN)
    assert ids(by_person) == {"pod-in-system-namespace"}


def test_webhook_changes() -> None:
    deleted = audit_event(
        verb="delete", resource="validatingwebhookconfigurations", namespace="", name="kyverno"
    )
    (alert,) = fired(deleted)
    assert alert.detection_id == "admission-webhook-changed" and alert.severity is Severity.HIGH
    created = audit_event(verb="create", resource="validatingwebhookconfigurations", name="x")
    assert fired(created)[0].severity is Severity.HIGH
    assert ids(audit_event(resource="validatingwebhookconfigurations")) == set()  # a read
    by_apiserver = audit_event(
        verb="update", resource="mutatingwebhookconfigurations", user="system:apiserver"
    )
    assert ids(by_apiserver) == set()


def _scale(replicas: int, **kwargs: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "verb": "patch",
        "resource": "deployments",
        "subresource": "scale",
        "namespace": "falco",
        "name": "falco-exporter",
        "request": {"spec": {"replicas": replicas}},
    }
    return audit_event(**{**values, **kwargs})


def test_security_tools_deleted_or_scaled_to_zero() -> None:
    (alert,) = fired(
        audit_event(verb="delete", resource="namespaces", namespace="falco", name="falco")
    )
    assert alert.detection_id == "security-tool-tampered"
    assert "Redeploy namespace falco" in alert.containment
    daemonset = audit_event(
        verb="delete", resource="daemonsets", namespace="monitoring", name="datadog-agent"
    )
    assert ids(daemonset) == {"security-tool-tampered"}
    (scaled,) = fired(_scale(0))
    assert scaled.detection_id == "security-tool-tampered" and scaled.severity is Severity.HIGH
    assert "scaled to zero Deployment falco/falco-exporter" in scaled.message
    assert ids(_scale(2)) == set()
    patched = _scale(0, subresource="", namespace="kyverno", name="kyverno-admission-controller")
    assert ids(patched) == {"security-tool-tampered"}
    assert ids(_scale(0, namespace="shop", name="web")) == set()
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
    ) == {"security-tool-tampered"}
