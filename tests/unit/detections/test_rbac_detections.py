"""RBAC changes: cluster-admin or a '*'/'*' role bound, roles written with sensitive rights, and
Kubernetes' default roles and bindings changed or deleted."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from audit_samples import audit_event
from detection_samples import fired, ids
from kposture.detections import DetectionSettings, Detector
from kposture.model import Severity
from kposture.model.audit import AuditEvent
from kposture.reports.alerts import quoted_commands

AGGREGATOR = "system:serviceaccount:kube-system:clusterrole-aggregation-controller"


def binding(
    role: str, kind: str = "ClusterRoleBinding", role_kind: str = "ClusterRole"
) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": "b"},
        "roleRef": {"kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}],
    }


def role(rules: list[dict[str, Any]], kind: str = "ClusterRole", name: str = "r") -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name}, "rules": rules}


def _write(resource: str, body: dict[str, Any], verb: str = "create", **kwargs: Any) -> AuditEvent:
    namespace = "shop" if resource in ("roles", "rolebindings") else ""
    values: dict[str, Any] = {"namespace": namespace, "name": body["metadata"]["name"]}
    return audit_event(verb=verb, resource=resource, request=body, **{**values, **kwargs})


EVERYTHING = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


def test_cluster_admin_bound() -> None:
    (alert,) = fired(_write("clusterrolebindings", binding("cluster-admin")))
    assert alert.detection_id == "cluster-admin-granted" and alert.severity is Severity.CRITICAL
    assert (
        "bound ClusterRole cluster-admin cluster-wide to ServiceAccount tools/ci" in alert.message
    )
    assert "kubectl delete clusterrolebinding b" in alert.containment
    namespaced = _write("rolebindings", binding("cluster-admin", "RoleBinding"))
    (alert,) = fired(namespaced)
    assert "-n shop" in alert.containment and "in namespace shop" in alert.message
    assert ids(_write("clusterrolebindings", binding("view"))) == set()
    assert ids(_write("clusterrolebindings", binding("cluster-admin"), code=403)) == set()
    bootstrap = _write("clusterrolebindings", binding("cluster-admin"), user="system:apiserver")
    assert ids(bootstrap) == set()


def test_a_role_seen_with_everything_is_cluster_admin_when_bound() -> None:
    wildcard_role = _write("clusterroles", role(EVERYTHING, name="god"))
    bound = _write("clusterrolebindings", binding("god"))
    assert [a.detection_id for a in fired(bound)] == []  # the role was never seen
    alerts = fired(wildcard_role, bound)
    assert [a.detection_id for a in alerts] == ["sensitive-role-created", "cluster-admin-granted"]
    assert "god (a '*' verbs on '*' resources role)" in alerts[1].message
    narrowed = _write(
        "clusterroles",
        role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], name="god"),
        verb="update",
    )
    assert [a.detection_id for a in fired(wildcard_role, narrowed, bound)] == [
        "sensitive-role-created"
    ]
    deleted = audit_event(verb="delete", resource="clusterroles", namespace="", name="god")
    assert [a.detection_id for a in fired(wildcard_role, deleted, bound)] == [
        "sensitive-role-created"
    ]
    # A Role is looked up in the binding's namespace; the bootstrap's own writes are learned too.
    namespaced_role = _write(
        "roles", role(EVERYTHING, "Role", "admin-here"), user="system:apiserver"
    )
    namespaced_binding = _write("rolebindings", binding("admin-here", "RoleBinding", "Role"))
    assert [a.detection_id for a in fired(namespaced_role, namespaced_binding)] == [
        "cluster-admin-granted"
    ]


def test_admin_roles_remembered_are_bounded() -> None:
    detector = Detector(settings=DetectionSettings(max_tracked_identities=2))
    for name in ("a", "b", "c"):
        detector.process(_write("clusterroles", role(EVERYTHING, name=name)))
    assert [
        a.detection_id for a in detector.process(_write("clusterrolebindings", binding("a")))
    ] == []
    assert [
        a.detection_id for a in detector.process(_write("clusterrolebindings", binding("c")))
    ] == ["cluster-admin-granted"]


@pytest.mark.parametrize(
    ("rules", "kind", "right"),
    [
        (
            [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}],
            "ClusterRole",
            "exec into pods",
        ),
        (
            [{"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["get"]}],
            "Role",
            "attach to pods",
        ),
        (
            [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
            "Role",
            "read Secrets",
        ),
        (
            [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}],
            "ClusterRole",
            "use the node proxy",
        ),
        (
            [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}],
            "ClusterRole",
            "'*' in resources",
        ),
        (
            [{"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["patch"]}],
            "Role",
            "write DaemonSets",
        ),
        ([{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}], "Role", "create pods"),
        (
            [
                {
                    "apiGroups": ["rbac.authorization.k8s.io"],
                    "resources": ["rolebindings"],
                    "verbs": ["create"],
                }
            ],
            "Role",
            "write RoleBindings",
        ),
        (
            [{"nonResourceURLs": ["/api/*", "/healthz"], "verbs": ["delete"]}],
            "ClusterRole",
            "delete on non-resource URLs /api/*",
        ),
        (
            [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}],
            "ClusterRole",
            "impersonate users",
        ),
    ],
)
def test_sensitive_roles(rules: list[dict[str, Any]], kind: str, right: str) -> None:
    resource = "clusterroles" if kind == "ClusterRole" else "roles"
    (alert,) = fired(_write(resource, role(rules, kind)))
    assert alert.detection_id == "sensitive-role-created" and alert.severity is Severity.HIGH
    assert right in alert.message, alert.message


BIND = {
    "apiGroups": ["rbac.authorization.k8s.io"],
    "resources": ["clusterroles"],
    "verbs": ["bind"],
}


def test_a_right_limited_by_resource_names_is_worded_with_the_names() -> None:
    limited = [{**BIND, "resourceNames": ["view", "cluster-admin"]}]
    (alert,) = fired(_write("clusterroles", role(limited)))
    assert alert.message.endswith("allowing to bind roles named cluster-admin, view")
    (alert,) = fired(_write("clusterroles", role([BIND])))
    assert alert.message.endswith("allowing to bind any role")
    both = [{**BIND, "resourceNames": ["view"]}, BIND]  # one rule limits, the other does not
    (alert,) = fired(_write("clusterroles", role(both)))
    assert alert.message.endswith("allowing to bind any role")
    secrets = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    (alert,) = fired(_write("roles", role([{**secrets, "resourceNames": ["db"]}], "Role")))
    assert alert.message.endswith("allowing to read Secrets named db")


@pytest.mark.parametrize(
    ("rules", "kind"),
    [
        ([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}], "ClusterRole"),
        ([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "update"]}], "Role"),
        (
            [{"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}],
            "ClusterRole",
        ),
        ([{"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]}], "ClusterRole"),
        ([{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}], "Role"),
        ([{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}], "ClusterRole"),
    ],
    ids=["reader", "configmap-writer", "events", "node-status", "role-on-cluster-scope", "healthz"],
)
def test_roles_without_sensitive_rights_are_quiet(rules: list[dict[str, Any]], kind: str) -> None:
    resource = "clusterroles" if kind == "ClusterRole" else "roles"
    assert ids(_write(resource, role(rules, kind))) == set()


def test_the_aggregation_controller_writing_admin_is_not_judged() -> None:
    secrets = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    update = _write("clusterroles", role(secrets, name="admin"), verb="update", user=AGGREGATOR)
    assert ids(update) == set()


def test_system_role_modified() -> None:
    deleted = audit_event(
        verb="delete", resource="clusterroles", namespace="", name="system:kube-aggregator"
    )
    (alert,) = fired(deleted)
    assert alert.detection_id == "system-role-modified" and "deleted" in alert.message
    assert alert.severity is Severity.HIGH
    export = "kubectl get clusterrole system:kube-aggregator -o yaml > default-rbac.yaml"
    assert f"({export})" in alert.containment  # each quoted command complete, to paste
    assert "(kubectl auth reconcile -f default-rbac.yaml)" in alert.containment
    changed = audit_event(
        verb="patch", resource="clusterrolebindings", namespace="", name="cluster-admin"
    )
    assert fired(changed)[0].severity is Severity.HIGH
    assert ids(audit_event(verb="delete", resource="clusterroles", name="my-role")) == set()
    by_component = audit_event(
        verb="update", resource="clusterroles", name="system:node", user="system:apiserver"
    )
    assert ids(by_component) == set()
    by_workload = audit_event(
        verb="delete",
        resource="clusterroles",
        namespace="",
        name="view",
        user="system:serviceaccount:ci:deployer",
    )
    assert ids(by_workload) == {"system-role-modified"}


@pytest.mark.parametrize("name", ["x;touch${IFS}pwned", "evil(1)", "crb'q", 'rb"dq'])
def test_a_binding_name_is_shell_quoted_in_the_delete_command(name: str) -> None:
    """RBAC object names may hold any character but / and %: the writer chooses them, and a
    responder pastes the command, so it must delete that binding and run nothing else."""
    body = {**binding("cluster-admin", "RoleBinding"), "metadata": {"name": name}}
    (alert,) = fired(_write("rolebindings", body))
    command = f"kubectl delete rolebinding {shlex.quote(name)} -n shop"
    assert command in alert.containment
    assert shlex.split(command)[3] == name
    (line,) = [c for c in quoted_commands(alert.containment) if c.startswith("kubectl delete")]
    assert line == command
