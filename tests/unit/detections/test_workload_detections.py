"""Detections of access into pods and nodes, and of workloads written: exec and attach, kubectl cp,
port-forward, debug containers, the node proxy, privileged pods, CronJobs, DaemonSets, exposed
Services and Ingresses without TLS."""

from __future__ import annotations

from typing import Any

import pytest

from audit_samples import audit_event
from detection_samples import fired, ids, pod
from kposture.detections.workload_access import tar_direction
from kposture.model import Severity
from kposture.model.audit import AuditEvent
from kposture.model.quarantine import label_command
from kposture.reports.alerts import quoted_commands

CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"
WORKLOAD_ACCOUNT = "system:serviceaccount:shop:api"


def _exec(command: str = "command=sh&command=-c", code: int = 101, **kwargs: Any) -> AuditEvent:
    uri = f"/api/v1/namespaces/default/pods/web/exec?{command}&container=app"
    return audit_event(verb="create", subresource="exec", code=code, uri=uri, **kwargs)


def test_exec_and_attach_sessions() -> None:
    (alert,) = fired(_exec())
    assert alert.detection_id == "pod-exec" and alert.severity is Severity.HIGH
    assert (
        alert.message
        == "alice from 10.0.0.1 opened an exec session into pod default/web running 'sh -c'"
    )
    assert "kposture respond isolate web -n default" in alert.containment
    assert dict(alert.hit.evidence)["container"] == "app"
    assert ids(audit_event(verb="get", subresource="attach", code=101)) == {"pod-exec"}
    assert ids(_exec(user=WORKLOAD_ACCOUNT)) == {"pod-exec"}
    assert ids(audit_event(verb="get", subresource="log")) == set()


def test_denied_exec_alerts_too_without_isolating_anything() -> None:
    (alert,) = fired(_exec(code=403, decision="forbid"))
    assert alert.detection_id == "pod-exec" and alert.severity is Severity.HIGH
    assert alert.message.endswith(
        "tried to open an exec session into pod default/web running 'sh -c' (denied)"
    )
    assert "Nothing ran" in alert.containment and "isolate" not in alert.containment
    assert dict(alert.hit.evidence)["outcome"] == "denied"


@pytest.mark.parametrize(
    "user",
    ["system:kube-controller-manager", "system:node:n1", "system:serviceaccount:kube-system:x"],
)
def test_kubernetes_own_identities_are_not_judged_for_sessions(user: str) -> None:
    assert ids(_exec(user=user)) == set()
    assert ids(_exec("command=tar&command=cf&command=-&command=/etc", user=user)) == set()


@pytest.mark.parametrize(
    ("command", "direction"),
    [
        (["tar", "cf", "-", "/var/lib/data"], "out of"),
        (["tar", "-xmf", "-", "-C", "/tmp"], "into"),
        (["/bin/tar", "--no-same-owner", "-xmf", "-"], "into"),
        (["tar", "-c", "-f", "-", "-C", "/etc", "passwd"], "out of"),
        (["tar", "--version"], "in or out of"),
        (["sh", "-c", "tar cf - /"], None),
        (["tarball"], None),
        ([], None),
    ],
)
def test_tar_direction(command: list[str], direction: str | None) -> None:
    assert tar_direction(command) == direction


def test_kubectl_cp_is_reported_instead_of_the_exec() -> None:
    out = _exec("command=tar&command=cf&command=-&command=%2Fvar%2Flib%2Fdata")
    (alert,) = fired(out)
    assert alert.detection_id == "kubectl-cp" and alert.severity is Severity.HIGH
    assert "copy files out of pod default/web" in alert.message
    assert "'tar cf - /var/lib/data'" in alert.message
    assert alert.meta.technique.id == "T1105"
    assert "rotate what it exposed" in alert.containment
    into = _exec("command=tar&command=-xmf&command=-&command=-C&command=%2Ftmp")
    (alert,) = fired(into)
    assert "copy files into pod default/web" in alert.message
    assert "Examine what was written into the pod" in alert.containment
    (denied,) = fired(_exec("command=tar&command=cf&command=-&command=x", code=403))
    assert denied.detection_id == "kubectl-cp" and denied.message.endswith("(denied)")


def test_port_forward() -> None:
    uri = "/api/v1/namespaces/default/pods/db/portforward?ports=5432"
    (alert,) = fired(audit_event(verb="create", subresource="portforward", code=101, uri=uri))
    assert alert.detection_id == "pod-portforward" and alert.severity is Severity.MEDIUM
    assert alert.meta.technique.id == "T1090" and "ports 5432" in alert.message
    assert ids(audit_event(verb="create", subresource="portforward", code=403)) == set()
    kubelet = audit_event(verb="create", subresource="portforward", user="system:node:n1")
    assert ids(kubelet) == set()


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
    assert alert.detection_id == "node-proxy-access" and alert.severity is Severity.CRITICAL
    metrics = audit_event(
        verb="get",
        resource="nodes",
        subresource="proxy",
        namespace="",
        name="node-1",
        uri="/api/v1/nodes/node-1/proxy/metrics",
        user="system:serviceaccount:monitoring:prometheus",
    )
    assert fired(metrics)[0].severity is Severity.HIGH
    assert ids(audit_event(resource="nodes", subresource="proxy", user="system:apiserver")) == set()


@pytest.mark.parametrize(
    ("spec", "severity"),
    [
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, "critical"),
        (
            {
                "containers": [
                    {"name": "c", "securityContext": {"capabilities": {"add": ["sys_admin"]}}}
                ]
            },
            "critical",
        ),
        ({"hostPID": True, "containers": [{"name": "c"}]}, "critical"),
        ({"hostIPC": True, "containers": [{"name": "c"}]}, "high"),
        ({"hostNetwork": True, "containers": [{"name": "c"}]}, "high"),
        ({"volumes": [{"name": "v", "hostPath": {"path": "/var/run/docker.sock"}}]}, "critical"),
        ({"volumes": [{"name": "v", "hostPath": {"path": "/etc/"}}]}, "critical"),
    ],
)
def test_privileged_pods(spec: dict[str, Any], severity: str) -> None:
    (alert,) = fired(audit_event(verb="create", code=201, request=pod(spec)))
    assert alert.detection_id == "privileged-pod-created"
    assert alert.severity.value == severity
    assert [ref.id for ref in alert.meta.references] == ["T1611", "T1610"]


@pytest.mark.parametrize(
    "spec",
    [
        {"volumes": [{"name": "v", "hostPath": {"path": "/data/cache"}}]},
        {
            "containers": [
                {"name": "c", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}}
            ]
        },
        {"containers": [{"name": "c", "securityContext": {"privileged": False}}]},
    ],
    ids=["plain-host-path", "harmless-capability", "unprivileged"],
)
def test_pods_that_do_not_hand_over_the_node_are_quiet(spec: dict[str, Any]) -> None:
    assert ids(audit_event(verb="create", code=201, request=pod(spec))) == set()


def test_privileged_pods_are_judged_whoever_creates_them() -> None:
    privileged = pod({"containers": [{"name": "c", "securityContext": {"privileged": True}}]})
    assert ids(audit_event(verb="create", user=CONTROLLER, request=privileged)) == {
        "privileged-pod-created"
    }
    assert ids(audit_event(verb="create", code=403, request=pod({"hostPID": True}))) == set()


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
    assert "scale Deployment shop/agent to zero" in alert.containment
    owned = pod(
        {"hostPID": True},
        ownerReferences=[{"kind": "ReplicaSet", "name": "web-1", "controller": True}],
    )
    (alert,) = fired(audit_event(verb="create", code=201, request=owned))
    assert "belongs to ReplicaSet/web-1" in alert.containment


def _workload(kind: str, resource: str, spec: dict[str, Any], **kwargs: Any) -> AuditEvent:
    body = {"kind": kind, "metadata": {"name": "agent", "namespace": "shop"}, "spec": spec}
    return audit_event(
        verb="create", resource=resource, namespace="shop", name="agent", request=body, **kwargs
    )


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
    alerts = [
        a
        for a in fired(_workload(kind, resource, spec))
        if a.detection_id == "privileged-pod-created"
    ]
    (alert,) = alerts
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


TEMPLATE = {"template": {"spec": {"containers": [{"name": "c", "image": "evil/miner:1"}]}}}


def test_cronjob_created_or_changed() -> None:
    spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": TEMPLATE}}
    (alert,) = fired(_workload("CronJob", "cronjobs", spec))
    assert alert.detection_id == "cronjob-created" and alert.severity is Severity.MEDIUM
    assert alert.meta.technique.id == "T1053.007"
    assert (
        "created CronJob shop/agent (schedule '*/5 * * * *'; images evil/miner:1)" in alert.message
    )
    assert "kubectl patch cronjob agent -n shop" in alert.containment
    changed = audit_event(verb="patch", resource="cronjobs", namespace="shop", name="agent")
    (alert,) = fired(changed)
    assert alert.message == "alice from 10.0.0.1 changed CronJob shop/agent"
    assert (
        ids(
            _workload(
                "CronJob",
                "cronjobs",
                spec,
                user="system:serviceaccount:kube-system:cronjob-controller",
            )
        )
        == set()
    )
    assert ids(_workload("CronJob", "cronjobs", spec, user=WORKLOAD_ACCOUNT)) == {"cronjob-created"}
    assert ids(audit_event(verb="delete", resource="cronjobs", namespace="shop")) == set()
    assert ids(audit_event(verb="update", resource="cronjobs", subresource="status")) == set()


def test_daemonset_created() -> None:
    (alert,) = fired(_workload("DaemonSet", "daemonsets", TEMPLATE))
    assert alert.detection_id == "daemonset-created" and alert.severity is Severity.MEDIUM
    assert (
        "created DaemonSet shop/agent (images evil/miner:1), which runs a pod on every node"
        in alert.message
    )
    assert "kubectl patch daemonset agent -n shop" in alert.containment
    bodiless = audit_event(verb="create", resource="daemonsets", namespace="shop", name="agent")
    assert fired(bodiless)[0].message.endswith(
        "created DaemonSet shop/agent, which runs a pod on every node"
    )
    assert ids(audit_event(verb="patch", resource="daemonsets", namespace="shop")) == set()
    assert (
        ids(_workload("DaemonSet", "daemonsets", TEMPLATE, user="system:kube-controller-manager"))
        == set()
    )


def _service(kind: str, verb: str = "create", **kwargs: Any) -> AuditEvent:
    service = {
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": kind, "ports": [{"port": 80, "nodePort": 30080}]},
    }
    return audit_event(verb=verb, resource="services", request=service, **kwargs)


def test_services_exposed_on_node_ports_or_load_balancers() -> None:
    (alert,) = fired(_service("NodePort"))
    assert alert.detection_id == "nodeport-service-created" and "30080" in alert.message
    assert alert.severity is Severity.MEDIUM and "on every node" in alert.message
    (balancer,) = fired(_service("LoadBalancer"))
    assert "through a cloud load balancer (type LoadBalancer" in balancer.message
    assert ids(_service("ClusterIP")) == set()
    assert ids(_service("NodePort", verb="update")) == {"nodeport-service-created"}
    labels_only = audit_event(
        verb="patch",
        resource="services",
        request={"metadata": {"labels": {"a": "b"}}},
        response={"kind": "Service", "metadata": {"name": "web"}, "spec": {"type": "NodePort"}},
    )
    assert ids(labels_only) == set()
    assert ids(_service("NodePort", user="system:serviceaccount:kube-system:x")) == set()


def _ingress(spec: dict[str, Any], **kwargs: Any) -> AuditEvent:
    body = {"kind": "Ingress", "metadata": {"name": "shop"}, "spec": spec}
    return audit_event(
        verb="create", resource="ingresses", api_group="networking.k8s.io", request=body, **kwargs
    )


def test_ingress_without_tls() -> None:
    rules = [{"host": "shop.example.com"}, {"host": "api.example.com"}]
    (alert,) = fired(_ingress({"rules": rules}))
    assert alert.detection_id == "ingress-without-tls" and alert.severity is Severity.LOW
    assert alert.meta.technique.id == "T1190"
    assert "api.example.com, shop.example.com served over plain HTTP" in alert.message
    assert "Add a tls section to Ingress default/shop" in alert.containment
    with_tls = {"rules": rules, "tls": [{"hosts": ["shop.example.com"], "secretName": "tls"}]}
    assert ids(_ingress(with_tls)) == set()
    assert ids(_ingress({"rules": rules}, code=403)) == set()
    assert ids(_ingress({"rules": rules}, user="system:serviceaccount:kube-system:x")) == set()


def test_pod_alert_containment_holds_the_label_command_respond_isolate_prints() -> None:
    (alert,) = fired(_exec())
    command = label_command("web", "default")
    assert command == "kubectl label pod web -n default kposture.io/quarantine=web --overwrite"
    assert command in alert.containment
    assert alert.containment.index(command) < alert.containment.index("kposture respond isolate")


def test_a_pod_with_the_nodes_rights_is_stopped_and_its_node_cordoned_not_isolated() -> None:
    bare = pod({"containers": [{"name": "c", "securityContext": {"privileged": True}}]})
    (alert,) = fired(audit_event(verb="create", code=201, request=bare))
    assert "respond isolate" not in alert.containment and "kubectl label" not in alert.containment
    assert "A NetworkPolicy will not contain this pod" in alert.containment
    assert "kubectl get pod p -n default -o wide" in alert.containment
    assert "kubectl delete pod p -n default" in alert.containment
    assert "cordon it with kubectl cordon" in alert.containment and "forensics" in alert.containment
    owned = pod(
        {"hostNetwork": True},
        ownerReferences=[{"kind": "ReplicaSet", "name": "web-1", "controller": True}],
    )
    (alert,) = fired(audit_event(verb="create", code=201, request=owned))
    assert "kubectl scale replicaset web-1 -n default --replicas=0" in alert.containment
    assert "kubectl cordon" in alert.containment and "respond isolate" not in alert.containment


def test_a_host_pods_node_is_named_when_the_event_holds_it_and_cordoned_before_the_pod_stops() -> (
    None
):
    owned = pod(
        {"hostNetwork": True, "nodeName": "node-1"},
        ownerReferences=[{"kind": "ReplicaSet", "name": "web-1", "controller": True}],
    )
    (alert,) = fired(audit_event(verb="create", code=201, response=owned))
    commands = quoted_commands(alert.containment)
    assert commands.index("kubectl cordon node-1") < commands.index(
        "kubectl scale replicaset web-1 -n default --replicas=0"
    )
    assert "kubectl drain node-1 --ignore-daemonsets" in commands


PLACEHOLDERS = {"NODE", "NAME", "POD", "NAMESPACE"}


@pytest.mark.parametrize(
    "spec",
    [
        {"hostNetwork": True},
        {"containers": [{"name": "c", "securityContext": {"privileged": True}}]},
        {"containers": [{"name": "c", "image": "nginx"}]},
    ],
)
def test_no_command_under_a_pod_alert_holds_a_placeholder(spec: dict[str, Any]) -> None:
    """What is not known is said in prose: a command printed under the alert runs as it is."""
    body = pod(spec, namespace="kube-system", labels={"app": "x"})
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "x-"
    for owner in ([], [{"kind": "ReplicaSet", "name": "x-1", "controller": True}]):
        body["metadata"]["ownerReferences"] = owner
        event = audit_event(verb="create", namespace="kube-system", name="", request=body)
        alerts = fired(event)
        assert alerts
        for alert in alerts:
            for command in quoted_commands(alert.containment):
                assert not PLACEHOLDERS & set(command.split()), (alert.detection_id, command)


def _generated(**meta: Any) -> AuditEvent:
    body = pod({"hostPID": True, "containers": [{"name": "c"}]}, namespace="kube-system", **meta)
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "falco-6886ccc7df-"
    return audit_event(
        verb="create", namespace="kube-system", name="", request=body, user=CONTROLLER
    )


def test_a_pod_created_with_a_generated_name_is_not_named_by_its_prefix() -> None:
    labels = {"app": "falco", "pod-template-hash": "6886ccc7df"}
    owner = [{"kind": "ReplicaSet", "name": "falco-6886ccc7df", "controller": True}]
    (alert,) = [
        a
        for a in fired(_generated(labels=labels, ownerReferences=owner))
        if a.detection_id == "privileged-pod-created"
    ]
    assert "Pod kube-system/falco-6886ccc7df-* that" in alert.message
    assert "name is not in the audit event" in alert.containment
    assert "It belongs to ReplicaSet/falco-6886ccc7df" in alert.containment
    assert (
        "kubectl get pods -n kube-system -l app=falco,pod-template-hash=6886ccc7df -o wide"
        in alert.containment
    )
    assert "kubectl scale replicaset falco-6886ccc7df -n kube-system" in alert.containment
    assert "falco-6886ccc7df- " not in alert.containment + " "  # never the prefix as a pod
    (alert,) = [a for a in fired(_generated()) if a.detection_id == "privileged-pod-created"]
    assert "generateName falco-6886ccc7df- names its controller falco-6886ccc7df" in (
        alert.containment
    )
    assert (
        "kubectl get pods -n kube-system -o wide | grep '^falco-6886ccc7df-'" in alert.containment
    )


HOST_PID_SPEC = {"hostPID": True, "containers": [{"name": "c"}]}


def _built_in(username: str) -> str:
    return f"system:serviceaccount:kube-system:{username}"


def _owned(
    resource: str,
    kind: str,
    owner: tuple[str, str, str],
    *,
    user: str,
    name: str = "",
    api_version: str = "apps/v1",
    **kwargs: Any,
) -> AuditEvent:
    """A write of ``kind`` owned by ``owner`` (apiVersion, kind, name), as its controller makes it:
    pods with a generated name, a ReplicaSet or Job with its own."""
    owner_version, owner_kind, owner_name = owner
    metadata: dict[str, Any] = {
        "namespace": "shop",
        "ownerReferences": [
            {
                "apiVersion": owner_version,
                "kind": owner_kind,
                "name": owner_name,
                "uid": "0b5e0ad4-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{owner_name}-"
    spec: dict[str, Any] = dict(HOST_PID_SPEC)
    if kind != "Pod":
        spec = {"template": {"spec": HOST_PID_SPEC}}
    body = {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}
    group = api_version.rpartition("/")[0]
    return audit_event(
        verb="create",
        resource=resource,
        namespace="shop",
        name=name,
        user=user,
        request=body,
        code=201,
        api_group=group,
        **kwargs,
    )


def _privileged_alerts(*events: AuditEvent) -> list[str]:
    return [
        alert.message for alert in fired(*events) if alert.detection_id == "privileged-pod-created"
    ]


def _deployment_with_replicas(replicas: int = 3) -> list[AuditEvent]:
    deployment = _workload("Deployment", "deployments", HOST_PID_TEMPLATE, api_group="apps")
    replica_set = _owned(
        "replicasets",
        "ReplicaSet",
        ("apps/v1", "Deployment", "agent"),
        user=_built_in("deployment-controller"),
        name="agent-5d8f",
    )
    pods = [
        _owned(
            "pods",
            "Pod",
            ("apps/v1", "ReplicaSet", "agent-5d8f"),
            user=_built_in("replicaset-controller"),
            api_version="v1",
        )
        for _ in range(replicas)
    ]
    return [deployment, replica_set, *pods]


def test_a_privileged_deployment_alerts_once_not_again_for_its_replicaset_and_pods() -> None:
    (message,) = _privileged_alerts(*_deployment_with_replicas(3))
    assert message.startswith("alice from 10.0.0.1 created Deployment shop/agent that")


@pytest.mark.parametrize(
    ("kind", "resource", "group", "spec", "controller", "child"),
    [
        ("DaemonSet", "daemonsets", "apps", HOST_PID_TEMPLATE, "daemon-set-controller", "Pod"),
        ("StatefulSet", "statefulsets", "apps", HOST_PID_TEMPLATE, "statefulset-controller", "Pod"),
        ("Job", "jobs", "batch", HOST_PID_TEMPLATE, "job-controller", "Pod"),
        (
            "CronJob",
            "cronjobs",
            "batch",
            {"jobTemplate": {"spec": HOST_PID_TEMPLATE}},
            "cronjob-controller",
            "Job",
        ),
    ],
)
def test_each_workload_a_person_wrote_is_the_alert_not_what_its_controller_creates(
    kind: str, resource: str, group: str, spec: dict[str, Any], controller: str, child: str
) -> None:
    written = _workload(kind, resource, spec, api_group=group)
    owner = (f"{group}/v1", kind, "agent")
    if child == "Pod":
        children = [
            _owned("pods", "Pod", owner, user=_built_in(controller), api_version="v1")
            for _ in range(2)
        ]
    else:  # a CronJob's Job, then the Job's pod
        job = _owned(
            "jobs",
            "Job",
            owner,
            user=_built_in(controller),
            name="agent-2890",
            api_version="batch/v1",
        )
        job_pod = _owned(
            "pods",
            "Pod",
            ("batch/v1", "Job", "agent-2890"),
            user=_built_in("job-controller"),
            api_version="v1",
        )
        children = [job, job_pod]
    (message,) = _privileged_alerts(written, *children)
    assert f"created {kind} shop/agent that" in message


def test_the_controller_manager_own_identity_counts_as_the_controller() -> None:
    events = _deployment_with_replicas(1)
    events[1:] = [
        _owned(
            "replicasets",
            "ReplicaSet",
            ("apps/v1", "Deployment", "agent"),
            user="system:kube-controller-manager",
            name="agent-5d8f",
        ),
        _owned(
            "pods",
            "Pod",
            ("apps/v1", "ReplicaSet", "agent-5d8f"),
            user="system:kube-controller-manager",
            api_version="v1",
        ),
    ]
    assert len(_privileged_alerts(*events)) == 1


def test_a_controller_created_pod_alerts_when_its_owner_was_not_seen_alerting() -> None:
    # Falco's files: only the ReplicaSet controller's pod, the Deployment written before the log.
    alone = _deployment_with_replicas(1)[2]
    (message,) = _privileged_alerts(alone)
    assert message.startswith(f"{_built_in('replicaset-controller')} from 10.0.0.1 created Pod")
    # Another Deployment's pods are not silenced by the first one's alert.
    other = _owned(
        "pods",
        "Pod",
        ("apps/v1", "ReplicaSet", "other-7c9d"),
        user=_built_in("replicaset-controller"),
        api_version="v1",
    )
    assert len(_privileged_alerts(*_deployment_with_replicas(1), other)) == 2


def test_pods_an_operator_or_a_person_makes_for_an_alerted_owner_still_alert() -> None:
    events = _deployment_with_replicas(1)
    operator_pod = _owned(
        "pods",
        "Pod",
        ("example.com/v1", "Database", "agent"),
        user="system:serviceaccount:operators:db-operator",
        api_version="v1",
    )
    # A kind this detection does not cover, though the built-in controller's name and the owner's
    # name match an alerted workload.
    same_name_crd = _owned(
        "pods",
        "Pod",
        ("example.com/v1", "ReplicaSet", "agent-5d8f"),
        user=_built_in("replicaset-controller"),
        api_version="v1",
    )
    forged = _owned(
        "pods",
        "Pod",
        ("apps/v1", "ReplicaSet", "agent-5d8f"),
        user="mallory",
        api_version="v1",
    )
    wrong_controller = _owned(
        "pods",
        "Pod",
        ("apps/v1", "ReplicaSet", "agent-5d8f"),
        user=_built_in("job-controller"),
        api_version="v1",
    )
    impersonated = _owned(
        "pods",
        "Pod",
        ("apps/v1", "ReplicaSet", "agent-5d8f"),
        user="mallory",
        impersonated={"username": _built_in("replicaset-controller")},
        api_version="v1",
    )
    late = [operator_pod, same_name_crd, forged, wrong_controller, impersonated]
    assert len(_privileged_alerts(*events, *late)) == 1 + len(late)


def test_a_person_changing_a_deployment_alerts_once_for_the_rollout() -> None:
    patch = audit_event(
        verb="patch",
        resource="deployments",
        namespace="shop",
        name="agent",
        api_group="apps",
        request={"kind": "Deployment", "metadata": {"name": "agent"}, "spec": HOST_PID_TEMPLATE},
    )
    rollout = _deployment_with_replicas(2)[1:]
    (message,) = _privileged_alerts(patch, *rollout)
    assert message.startswith("alice from 10.0.0.1 changed Deployment shop/agent that")
