"""RBAC semantics: the PolicyRule matcher against the Kubernetes authorizer's decisions, scope (what
a namespaced grant can reach), ClusterRole aggregation, roleRef resolution with built-in defaults,
default recognition and CSR subjects."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
import yaml

from kposture.inventory import (
    Inventory,
    PolicyRule,
    Target,
    aggregated_roles,
    bound_role,
    csr_subject,
    describe_grant,
    effective_rules,
    find_grant,
    full_access,
    is_full_access,
    is_kubernetes_default,
    policy_rule,
    subjects,
)
from kposture.inventory.rbac_scope import Scope, is_cluster_scoped, reachable
from support import objects_from_text

FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures"


def rule(verbs: str, groups: str = '""', resources: str = "", **extra: str) -> PolicyRule:
    text = f"verbs: [{verbs}]\napiGroups: [{groups}]\nresources: [{resources}]\n"
    text += "".join(f"{key}: [{value}]\n" for key, value in extra.items())
    parsed = policy_rule(yaml.safe_load(text))
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("written", "verb", "group", "resource", "allowed"),
    [
        (rule("get"), "get", "", "pods", False),  # no resources listed
        (rule("get", resources="pods"), "get", "", "pods", True),
        (rule("get", resources="pods"), "list", "", "pods", False),
        (rule('"*"', resources="pods"), "escalate", "", "pods", True),
        (rule("get", '"*"', "pods"), "get", "apps", "pods", True),
        (rule("get", "apps", "pods"), "get", "", "pods", False),  # core is "", not any
        (rule("create", resources='"*"'), "create", "", "pods/exec", True),
        (rule("create", resources="pods"), "create", "", "pods/exec", False),
        (rule("create", resources='"*/exec"'), "create", "", "pods/exec", True),
        (rule("create", resources='"*/exec"'), "create", "", "pods", False),
        (rule("create", resources='"pods/*"'), "create", "", "pods/exec", False),  # not expanded
        (rule("create", resources="pods/exec"), "create", "", "pods/exec", True),
    ],
)
def test_matcher_decides_as_the_authorizer(
    written: PolicyRule, verb: str, group: str, resource: str, allowed: bool
) -> None:
    assert written.allows(verb, group, resource, "web") is allowed
    assert written.grants(verb, group, resource) is allowed


def test_resource_names_restrict_but_still_grant_named_access() -> None:
    named = rule("get, create, deletecollection", resources="pods, pods/exec", resourceNames="web")
    assert named.allows("get", "", "pods", "web")
    assert not named.allows("get", "", "pods", "db")
    assert named.grants("get", "", "pods") and named.names_only
    assert named.grants("create", "", "pods/exec")  # exec on the named pod
    assert not named.grants("create", "", "pods")  # a create carries no name
    assert not named.grants("deletecollection", "", "pods")


def test_non_resource_urls() -> None:
    urls = PolicyRule(verbs=("get",), non_resource_urls=("/healthz", "/metrics*"))
    assert urls.allows_url("get", "/healthz")
    assert urls.allows_url("get", "/metrics/cadvisor")
    assert not urls.allows_url("get", "/version")
    assert not urls.allows_url("post", "/healthz")
    assert not urls.grants("get", "", "healthz")


def test_find_and_describe_grant() -> None:
    written = rule("get, list, update", '"*"', "configmaps, secrets")
    grant = find_grant(written, (Target(("get", "list", "watch"), "", ("secrets",)),))
    assert grant is not None
    assert grant.resources == (1,) and grant.verbs == (0, 1)
    assert describe_grant(written, grant) == (
        'verbs [get list] on secrets in apiGroup "*", which covers get/list on secrets'
    )
    plain = rule("get, list", resources="secrets")
    plain_grant = find_grant(plain, (Target(("get", "list", "watch"), "", ("secrets",)),))
    assert plain_grant is not None
    assert describe_grant(plain, plain_grant) == 'verbs [get list] on secrets in apiGroup ""'
    assert find_grant(plain, (Target(("create",), "", ("secrets",)),)) is None


@pytest.mark.parametrize(
    ("verb", "group", "resource", "in_namespace"),
    [
        ("get", "", "secrets", True),
        ("get", "", "nodes/proxy", False),
        ("create", "", "persistentvolumes", False),
        ("update", "certificates.k8s.io", "certificatesigningrequests/approval", False),
        ("patch", "admissionregistration.k8s.io", "validatingwebhookconfigurations", False),
        ("escalate", "rbac.authorization.k8s.io", "clusterroles", False),
        ("bind", "rbac.authorization.k8s.io", "clusterroles", True),  # checked in the binding's
        ("impersonate", "", "users", False),
        ("impersonate", "", "serviceaccounts", True),
        ("get", "", "namespaces", True),  # its own Namespace object, by name
        ("delete", "", "namespaces", True),
        ("list", "", "namespaces", False),
        ("create", "", "namespaces", False),
        ("get", "example.com", "widgets", True),  # unknown groups are taken as namespaced
    ],
)
def test_namespaced_grants_reach_no_cluster_scoped_resource(
    verb: str, group: str, resource: str, in_namespace: bool
) -> None:
    assert reachable(Scope.CLUSTER, verb, group, resource)
    assert reachable(Scope.NAMESPACE, verb, group, resource) is in_namespace
    assert is_cluster_scoped(group, resource) is (
        resource not in ("secrets", "serviceaccounts", "widgets")
    )


def test_find_grant_is_scope_aware() -> None:
    everything = rule('"*"', '"*"', '"*"')
    targets = (Target(("get",), "", ("nodes/proxy", "pods/exec")),)
    cluster = find_grant(everything, targets)
    namespaced = find_grant(everything, targets, Scope.NAMESPACE)
    assert cluster is not None and cluster.covered == (("get", "nodes/proxy"), ("get", "pods/exec"))
    assert namespaced is not None and namespaced.covered == (("get", "pods/exec"),)
    assert find_grant(everything, (Target(("get",), "", ("nodes",)),), Scope.NAMESPACE) is None


def test_full_access() -> None:
    assert is_full_access(rule('"*"', '"*"', '"*"'))
    assert is_full_access(rule("get, list, watch, create, update, patch, delete", '"*"', '"*"'))
    assert not is_full_access(rule("get, list", '"*"', '"*"'))
    assert not is_full_access(rule('"*"', '""', '"*"'))
    assert not is_full_access(rule('"*"', '"*"', '"*"', resourceNames="x"))


AGGREGATION = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: top}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {agg: top}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: middle, labels: {agg: top}}
aggregationRule:
  clusterRoleSelectors:
  - matchExpressions:
    - {key: agg, operator: In, values: [middle]}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: leaf, labels: {agg: middle}}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
- {apiGroups: [""], resources: [configmaps], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cycle, labels: {agg: middle}}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {agg: top}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [list]}
"""


def test_aggregation_is_transitive_deduplicated_and_survives_cycles() -> None:
    objects = objects_from_text(AGGREGATION)
    inventory = Inventory(objects)
    top = objects[0]
    assert {obj.ref.name for _, obj in aggregated_roles(top, inventory)} == {
        "middle",
        "leaf",
        "cycle",
    }
    rules = effective_rules(top, inventory)
    assert [r.rule.resources for r in rules] == [("configmaps",), ("secrets",), ("deployments",)]
    own, secrets, deployments = rules
    assert own.path == ("rules", 0) and own.origin.name == "leaf"  # a copy: attributed to leaf
    assert secrets.path == ("aggregationRule", "clusterRoleSelectors", 0)
    assert secrets.origin.name == "leaf" and secrets.aggregated
    assert deployments.origin.name == "cycle"


def test_aggregation_memo_is_per_inventory() -> None:
    objects = objects_from_text(AGGREGATION)
    top = objects[0]
    assert len(effective_rules(top, Inventory(objects))) == 3
    assert len(effective_rules(top, Inventory([top]))) == 1


def test_empty_selector_selects_every_other_cluster_role() -> None:
    objects = objects_from_text(
        """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: everything}
aggregationRule:
  clusterRoleSelectors: [{}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: unlabelled}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
"""
    )
    inventory = Inventory(objects)
    assert [obj.ref.name for _, obj in aggregated_roles(objects[0], inventory)] == ["unlabelled"]
    assert full_access(effective_rules(objects[0], inventory)) is not None


BINDINGS = """
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: ci, namespace: shop}
- {kind: Group, name: devs}
"""


def test_bound_role_falls_back_to_builtin_defaults() -> None:
    (binding,) = objects_from_text(BINDINGS)
    role = bound_role(binding, Inventory([binding]))
    assert role is not None and role.known and role.obj is None
    assert full_access(role.rules) is not None
    assert [s.display() for s in subjects(binding)] == ["ServiceAccount shop/ci", "Group devs"]


def test_scanned_cluster_admin_is_reconciled_unless_opted_out() -> None:
    harmless = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cluster-admin, annotations: {rbac.authorization.kubernetes.io/autoupdate: "AUTO"}}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get]}
"""
    for autoupdate, full in (("true", True), ("false", False)):
        objects = objects_from_text(BINDINGS + harmless.replace("AUTO", autoupdate))
        role = bound_role(objects[0], Inventory(objects))
        assert role is not None and role.obj is not None
        assert (full_access(role.rules) is not None) is full


def test_bound_role_scope_and_default_rules() -> None:
    (binding,) = objects_from_text(BINDINGS.replace("cluster-admin", "edit"))
    role = bound_role(binding, Inventory([binding]))
    assert role is not None and role.scope is Scope.NAMESPACE and role.default
    assert role.default_rules() == role.rules  # built-in, not scanned: all of it is default
    scanned = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
"""
    objects = objects_from_text(
        BINDINGS.replace("RoleBinding", "ClusterRoleBinding").replace("cluster-admin", "reader")
        + scanned
    )
    user = bound_role(objects[0], Inventory(objects))
    assert user is not None and user.scope is Scope.CLUSTER
    assert not user.default and user.default_rules() == ()


def test_unknown_role_and_invalid_reference() -> None:
    (binding,) = objects_from_text(
        BINDINGS.replace("ClusterRole, name: cluster-admin", "Role, name: gone")
    )
    role = bound_role(binding, Inventory([binding]))
    assert role is not None and not role.known and role.rules == ()


def test_defaults_need_name_and_markers() -> None:
    text = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: NAME
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
  annotations: {rbac.authorization.kubernetes.io/autoupdate: "AUTO"}
"""

    def default(name: str, autoupdate: str = "true", markers: bool = True) -> bool:
        source = text.replace("NAME", name).replace("AUTO", autoupdate)
        if not markers:
            source = source.split("  labels")[0]
        (obj,) = objects_from_text(source)
        return is_kubernetes_default(obj)

    assert default("system:node") and default("admin")
    assert not default("my-admin")
    assert not default("system:node", markers=False)
    assert not default("view", autoupdate="false")


def test_csr_subject_reads_the_requested_groups() -> None:
    fixture = FIXTURES / "system-masters-group" / "fail-csr.yaml"
    (csr,) = objects_from_text(fixture.read_text(encoding="utf-8"))
    subject = csr_subject(csr.raw["spec"]["request"])
    assert subject is not None
    assert subject.organizations == ("system:masters", "dev")
    assert subject.common_name == "mallory"
    assert csr_subject("not base64 at all") is None
    assert (
        csr_subject(
            base64.b64encode(
                b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"
            ).decode()
        )
        is None
    )
    assert csr_subject(None) is None


def test_csr_subject_matches_openssl() -> None:
    """Cross-check the DER walker against openssl's own reading, when openssl is installed."""
    fixture = FIXTURES / "system-masters-group" / "pass-csr.yaml"
    (csr,) = objects_from_text(fixture.read_text(encoding="utf-8"))
    pem = base64.b64decode(csr.raw["spec"]["request"])
    try:
        out = subprocess.run(
            ["openssl", "req", "-noout", "-subject", "-nameopt", "RFC2253"],
            input=pem,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("openssl not available")
    subject = csr_subject(csr.raw["spec"]["request"])
    assert subject is not None
    assert f"O={subject.organizations[0]}" in out and f"CN={subject.common_name}" in out
