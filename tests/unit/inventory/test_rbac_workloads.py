"""Workloads whose ServiceAccount holds risky capabilities: token mount, exposure, ranking."""

from __future__ import annotations

from kposture.inventory import Inventory
from kposture.inventory.rbac_workloads import exposures, risky_workloads
from kposture.inventory.service_accounts import service_account_of, token_mount
from support import objects_from_text

OBJECTS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admin-sa}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: deployer, namespace: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secrets, namespace: shop}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: all-sas, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secrets}
subjects: [{kind: Group, name: "system:serviceaccounts:shop"}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: quiet, namespace: shop}
automountServiceAccountToken: false
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: quiet, namespace: shop}
spec:
  template:
    metadata: {labels: {app: quiet}}
    spec:
      serviceAccountName: quiet
      containers: [{name: c, image: nginx}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: deploy, namespace: ci}
spec:
  template:
    spec:
      serviceAccount: deployer
      containers: [{name: c, image: kubectl}]
---
apiVersion: v1
kind: Pod
metadata: {name: idle, namespace: other}
spec:
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: NodePort, selector: {app: web}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /api
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
"""


def _inventory() -> Inventory:
    return Inventory(objects_from_text(OBJECTS))


def test_ranking_mounted_first_then_severity_times_exposure() -> None:
    found = risky_workloads(_inventory())
    assert [(w.workload.ref.name, w.service_account, w.token_mounted, w.score) for w in found] == [
        ("web", "default", True, 12),  # high (4) x reached from outside (3)
        ("deploy", "deployer", True, 5),  # critical (5) x not exposed (1)
        ("quiet", "quiet", False, 4),
    ]
    web = found[0]
    assert [(h.capability.id, h.scope, h.subject.name) for h in web.holdings] == [
        ("read-secrets", "shop", "system:serviceaccounts:shop")
    ]
    assert found[2].token_reason == "the ServiceAccount sets automountServiceAccountToken: false"


def test_exposure_through_service_and_ingress_route() -> None:
    inventory = _inventory()
    web = inventory.get("Deployment", "shop", "web")
    assert web is not None
    assert [(e.kind, e.type, e.external, e.route) for e in exposures(web, inventory)] == [
        ("Service", "NodePort", True, ""),
        ("Ingress", "Ingress", True, "shop.example.com/api -> web"),
    ]


def test_namespace_filter_and_owned_pod_left_to_its_owner() -> None:
    extra = """\
apiVersion: v1
kind: Pod
metadata:
  name: deploy-x1
  namespace: ci
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: deploy, controller: true}]
spec:
  serviceAccount: deployer
  containers: [{name: c, image: kubectl}]
"""
    inventory = Inventory(objects_from_text(OBJECTS + "---\n" + extra))
    assert [w.workload.ref.name for w in risky_workloads(inventory, "ci")] == ["deploy"]


def test_service_account_and_token_rules() -> None:
    assert service_account_of({}) == ("default", "serviceAccountName")
    assert service_account_of({"serviceAccount": "old"}) == ("old", "serviceAccount")
    assert service_account_of({"serviceAccountName": "new", "serviceAccount": "old"})[0] == "new"
    assert token_mount({"automountServiceAccountToken": False}, None)[0] is False
    assert token_mount({}, None) == (
        True,
        "automounted (the API default; the ServiceAccount is not in the inputs)",
    )
