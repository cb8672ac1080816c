"""Service-account and namespace rules: precedence, cross-object lookups, paths, no secret data."""

from __future__ import annotations

from kposture.model import format_path
from support import objects_from_text, violations

POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: web{namespace}}}
spec:
{spec}  containers: [{{name: app, image: web:1}}]
"""
ACCOUNT = """\
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {name}{namespace}}}
{extra}
"""


def _pod(spec: str = "", namespace: str = "") -> str:
    return POD.format(spec=spec, namespace=f", namespace: {namespace}" if namespace else "")


def _account(name: str, extra: str = "", namespace: str = "") -> str:
    ns = f", namespace: {namespace}" if namespace else ""
    return ACCOUNT.format(name=name, namespace=ns, extra=extra)


def test_default_service_account_paths() -> None:
    unset = violations("default-service-account", objects_from_text(_pod()))
    assert [format_path(v.path) for v in unset] == ["spec.serviceAccountName"]
    assert "sets no serviceAccountName" in unset[0].message
    deprecated = violations(
        "default-service-account", objects_from_text(_pod("  serviceAccount: default\n"))
    )
    assert [format_path(v.path) for v in deprecated] == ["spec.serviceAccount"]


def test_automount_pod_wins_over_account() -> None:
    text = _pod("  automountServiceAccountToken: false\n  serviceAccountName: web\n") + _account(
        "web", "automountServiceAccountToken: true"
    )
    assert not violations("service-account-token-automount", objects_from_text(text))
    text = _pod("  automountServiceAccountToken: true\n  serviceAccountName: web\n") + _account(
        "web", "automountServiceAccountToken: false"
    )
    found = violations("service-account-token-automount", objects_from_text(text))
    assert len(found) == 1 and "sets automountServiceAccountToken: true" in found[0].message


def test_automount_account_decides_when_pod_is_silent() -> None:
    silent = _pod("  serviceAccountName: web\n")
    disabled = _account("web", "automountServiceAccountToken: false")
    assert not violations("service-account-token-automount", objects_from_text(silent + disabled))
    found = violations(
        "service-account-token-automount", objects_from_text(silent + _account("web"))
    )
    assert "leaves it unset" in found[0].message
    assert format_path(found[0].path) == "spec.automountServiceAccountToken"


def test_automount_account_missing_from_scan_is_said() -> None:
    found = violations(
        "service-account-token-automount", objects_from_text(_pod("  serviceAccountName: web\n"))
    )
    assert "default/web is not in the scan" in found[0].message
    assert ("service_account", "default/web") in found[0].evidence


def test_automount_namespace_less_means_default() -> None:
    disabled = "automountServiceAccountToken: false"
    # Pod without namespace, account in default; and the other way round.
    text = _pod() + _account("default", disabled, namespace="default")
    assert not violations("service-account-token-automount", objects_from_text(text))
    text = _pod(namespace="default") + _account("default", disabled)
    assert not violations("service-account-token-automount", objects_from_text(text))
    text = _pod(namespace="shop") + _account("default", disabled)
    assert violations("service-account-token-automount", objects_from_text(text))


def test_binding_to_default_account() -> None:
    text = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
  - {kind: ServiceAccount, name: web, namespace: shop}
  - {kind: ServiceAccount, name: default}
  - {kind: User, name: "system:serviceaccount:ops:default"}
  - {kind: User, name: "system:serviceaccount:ops:default-ish"}
"""
    found = violations("default-service-account-bound", objects_from_text(text))
    assert [format_path(v.path) for v in found] == ["subjects[1]", "subjects[2]"]
    assert ("service_account", "shop/default") in found[0].evidence
    assert ("service_account", "ops/default") in found[1].evidence
    assert "Role reader" in found[0].message


def test_token_secret_never_prints_data() -> None:
    text = """\
apiVersion: v1
kind: Secret
metadata:
  name: t
  annotations: {kubernetes.io/service-account.name: web}
type: kubernetes.io/service-account-token
data: {token: c3VwZXItc2VjcmV0LXRva2Vu}
"""
    found = violations("long-lived-token-secret", objects_from_text(text))
    assert len(found) == 1
    rendered = repr(found)
    assert "c3VwZXItc2VjcmV0LXRva2Vu" not in rendered and "super-secret" not in rendered
    assert "ServiceAccount web" in found[0].message


def test_default_namespace_explicit_and_missing() -> None:
    explicit = violations("default-namespace", objects_from_text(_pod(namespace="default")))
    assert "in the default namespace" in explicit[0].message
    missing = violations("default-namespace", objects_from_text(_pod()))
    assert "names no namespace" in missing[0].message
    assert format_path(missing[0].path) == "metadata.namespace"
    assert not violations("default-namespace", objects_from_text(_pod(namespace="shop")))


STATIC_PODS = {
    "owned-by-node": "ownerReferences: [{apiVersion: v1, kind: Node, name: cp, uid: u, "
    "controller: true}]",
    "mirror-annotation": "annotations: {kubernetes.io/config.mirror: abc}",
    "file-source": "annotations: {kubernetes.io/config.source: file}",
}


def test_static_pods_get_no_service_account_findings() -> None:
    for case, extra in STATIC_PODS.items():
        text = (
            f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: cache-node-1\n  namespace: shop\n"
            f"  {extra}\nspec:\n  containers: [{{name: c, image: redis:7}}]\n"
        )
        for rule_id in ("default-service-account", "service-account-token-automount"):
            assert violations(rule_id, objects_from_text(text)) == [], (case, rule_id)
    # The same pod without the static-pod signs is judged.
    plain = "apiVersion: v1\nkind: Pod\nmetadata: {name: cache, namespace: shop}\n"
    plain += "spec:\n  containers: [{name: c, image: redis:7}]\n"
    assert violations("default-service-account", objects_from_text(plain))
    assert violations("service-account-token-automount", objects_from_text(plain))
