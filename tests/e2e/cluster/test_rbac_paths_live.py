"""Escalation paths walked on the real API server: kposture's ``escalation_paths`` against what
kube-apiserver 1.20 actually lets each identity do, hop by hop.

RBAC objects (namespaces and cluster objects prefixed ``kp-paths-``) set up one path of each kind
that 1.20 without a kubelet can walk, each to full access: create pods (and Deployments) in a
namespace holding a cluster-admin ServiceAccount (user alice); create that ServiceAccount's token,
``resourceNames``-restricted (bob); read Secrets where a ServiceAccount that reads every Secret
keeps its legacy token Secret, written by kube-controller-manager's token controller (carol, and
that ServiceAccount itself); impersonate a group, with a user to impersonate (group
kp-paths-impersonators); bind cluster-admin with create on ClusterRoleBindings (dave); bind
``admin`` in a namespace with create on RoleBindings there (erin). Controls: a harmless role
(zed), bind restricted to ``view`` (vic), escalate without update (esme) and group impersonation
without a user to impersonate (kp-paths-group-only): no path, and the server refuses.

kposture reads the cluster with its own cluster source (as ``rbac paths --cluster`` does; the CLI
runs once too, and its JSON must name the same paths) and must report exactly the expected paths
for these starts. Then each reported path is walked with the server deciding every hop. Each start
acts with its own credential: a client certificate (CN = user, O = groups) signed by the test
cluster's CA, so a hop may itself impersonate. Before the walk the start cannot list Secrets; each
hop is the real request: create a Pod and a Deployment with ``serviceAccountName``, the TokenRequest
API, GET of the token Secret, ``Impersonate-User``/``Impersonate-Group: system:masters``, create a
ClusterRoleBinding or RoleBinding. Obtained tokens are kept in memory only, never printed. The end
identity proves the goal by a SelfSubjectAccessReview for every verb on every resource and a list
of Secrets in every namespace. One hop cannot yield a credential here: pods never run (no kubelet),
so a pod created as a ServiceAccount proves the hop by its creation (admitted with that account's
token mounted, and the Deployment's pod made by the controller), and the ServiceAccount's goal is
proved by a SubjectAccessReview for it (erin, as ``admin`` of her namespace, also impersonates it,
which 1.20's ``admin`` allows). Finally one permission each of dave, bob and the impersonators is
removed: kposture's path disappears and the walk fails at that hop with 403.

The server crashes on pretty-printed JSON (the ``curl`` user agent or ``?pretty``; its vendored
json-iterator mis-iterates maps when built with Go >= 1.18): requests here send their own agent.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import ssl
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from e2e.cluster.harness import KubeCluster
from kposture.cli.scanning import load_inputs
from kposture.inventory import Inventory
from kposture.inventory.rbac_moves import MASTERS, SELF_BOUND_ADMIN, Move, Node
from kposture.inventory.rbac_paths import EscalationPath, escalation_paths

pytestmark = pytest.mark.e2e

PREFIX = "kp-paths-"
NS_PODS, NS_SECRETS, NS_BIND = f"{PREFIX}pods", f"{PREFIX}secrets", f"{PREFIX}bind"
ROOT = f"{PREFIX}root"  # cluster-admin ServiceAccount in NS_PODS
KEEPER = f"{PREFIX}secret-keeper"  # reads every Secret; token Secret in NS_SECRETS
BIND_ROOT = f"{PREFIX}bind-root"  # cluster-admin ServiceAccount in NS_BIND
STAND_IN = f"{PREFIX}stand-in"  # the user the impersonators may impersonate
IMPERSONATORS, GROUP_ONLY = f"{PREFIX}impersonators", f"{PREFIX}group-only"
ALICE, BOB, CAROL, DAVE, ERIN = (f"{PREFIX}{n}" for n in ("alice", "bob", "carol", "dave", "erin"))
ZED, VIC, ESME = (f"{PREFIX}{n}" for n in ("zed", "vic", "esme"))
AGENT = "kposture-e2e-rbac-paths"
RBAC_V1 = "rbac.authorization.k8s.io/v1"


def _user(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def _group(name: str) -> dict[str, str]:
    return {"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def _sa(namespace: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _role(name: str, rules: list[dict[str, Any]], namespace: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    kind = "Role" if namespace else "ClusterRole"
    return {"apiVersion": RBAC_V1, "kind": kind, "metadata": meta, "rules": rules}


def _binding(
    name: str, role_kind: str, role: str, subjects: list[dict[str, str]], namespace: str = ""
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": RBAC_V1,
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": subjects,
    }


def _rule(
    groups: str, resources: list[str], verbs: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": [groups], "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


RBAC = "rbac.authorization.k8s.io"
BINDER_RULES = [
    _rule(RBAC, ["clusterroles"], ["bind"], ["cluster-admin"]),
    _rule(RBAC, ["clusterrolebindings"], ["create"]),
]
IMPERSONATOR_RULES = [
    _rule("", ["groups"], ["impersonate"]),
    _rule("", ["users"], ["impersonate"], [STAND_IN]),
]
TOKEN_RULES = [_rule("", ["serviceaccounts/token"], ["create"], [ROOT])]


def objects() -> list[dict[str, Any]]:
    """The RBAC objects and ServiceAccounts of the test (namespaces are created first)."""
    account = {"apiVersion": "v1", "kind": "ServiceAccount"}
    return [
        {**account, "metadata": {"name": ROOT, "namespace": NS_PODS}},
        {**account, "metadata": {"name": KEEPER, "namespace": NS_SECRETS}},
        {**account, "metadata": {"name": BIND_ROOT, "namespace": NS_BIND}},
        _binding(ROOT, "ClusterRole", "cluster-admin", [_sa(NS_PODS, ROOT)]),
        _binding(BIND_ROOT, "ClusterRole", "cluster-admin", [_sa(NS_BIND, BIND_ROOT)]),
        _role(f"{PREFIX}read-all-secrets", [_rule("", ["secrets"], ["get", "list", "watch"])]),
        _binding(KEEPER, "ClusterRole", f"{PREFIX}read-all-secrets", [_sa(NS_SECRETS, KEEPER)]),
        # alice: create pods and Deployments where a cluster-admin ServiceAccount lives
        _role(
            "pod-creator",
            [_rule("", ["pods"], ["create"]), _rule("apps", ["deployments"], ["create"])],
            NS_PODS,
        ),
        _binding("pod-creator", "Role", "pod-creator", [_user(ALICE)], NS_PODS),
        # bob: a token for that ServiceAccount only
        _role("token-minter", TOKEN_RULES, NS_PODS),
        _binding("token-minter", "Role", "token-minter", [_user(BOB)], NS_PODS),
        # carol: read the Secrets of a namespace with a legacy token Secret
        _role("secret-reader", [_rule("", ["secrets"], ["get", "list"])], NS_SECRETS),
        _binding("secret-reader", "Role", "secret-reader", [_user(CAROL)], NS_SECRETS),
        # the impersonators: groups, with a user to impersonate; the group-only ones: groups only
        _role(f"{PREFIX}impersonator", IMPERSONATOR_RULES),
        _binding(
            f"{PREFIX}impersonator", "ClusterRole", f"{PREFIX}impersonator", [_group(IMPERSONATORS)]
        ),
        _role(f"{PREFIX}group-impersonator", [_rule("", ["groups"], ["impersonate"])]),
        _binding(
            f"{PREFIX}group-impersonator",
            "ClusterRole",
            f"{PREFIX}group-impersonator",
            [_group(GROUP_ONLY)],
        ),
        # dave: bind cluster-admin, create ClusterRoleBindings
        _role(f"{PREFIX}binder", BINDER_RULES),
        _binding(f"{PREFIX}binder", "ClusterRole", f"{PREFIX}binder", [_user(DAVE)]),
        # erin: bind admin in her namespace, create RoleBindings there; vic: bind view only;
        # esme: escalate on roles, no update
        _role(
            "ns-binder",
            [
                _rule(RBAC, ["clusterroles"], ["bind"], ["admin"]),
                _rule(RBAC, ["rolebindings"], ["create"]),
            ],
            NS_BIND,
        ),
        _binding("ns-binder", "Role", "ns-binder", [_user(ERIN)], NS_BIND),
        _role(
            "view-binder",
            [
                _rule(RBAC, ["clusterroles"], ["bind"], ["view"]),
                _rule(RBAC, ["rolebindings"], ["create"]),
            ],
            NS_BIND,
        ),
        _binding("view-binder", "Role", "view-binder", [_user(VIC)], NS_BIND),
        _role(
            "escalator",
            [_rule(RBAC, ["roles"], ["escalate"]), _rule(RBAC, ["rolebindings"], ["create"])],
            NS_BIND,
        ),
        _binding("escalator", "Role", "escalator", [_user(ESME)], NS_BIND),
        # zed: harmless
        _role("viewer", [_rule("", ["pods", "configmaps"], ["get", "list"])], NS_PODS),
        _binding("viewer", "Role", "viewer", [_user(ZED)], NS_PODS),
    ]


EXPECTED_STARTS = {
    Node("User", "", ALICE),
    Node("User", "", BOB),
    Node("User", "", CAROL),
    Node("Group", "", IMPERSONATORS),
    Node("User", "", DAVE),
    Node("User", "", ERIN),
    Node("ServiceAccount", NS_SECRETS, KEEPER),
}
CONTROLS = {
    Node("User", "", ZED),
    Node("User", "", VIC),
    Node("User", "", ESME),
    Node("Group", "", GROUP_ONLY),
}


# --- talking to the server -----------------------------------------------------------------------


@dataclass
class Api:
    """Requests as one identity: a bearer token or a client certificate, plus impersonation."""

    cluster: KubeCluster
    label: str
    token: str = field(default="", repr=False)
    cert: tuple[Path, Path] | None = None
    impersonate_user: str = ""
    impersonate_groups: tuple[str, ...] = ()

    def as_(self, label: str, user: str, groups: tuple[str, ...] = ()) -> Api:
        """The same credential impersonating ``user`` (and ``groups``)."""
        return Api(self.cluster, label, self.token, self.cert, user, groups)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        url = urllib.parse.urlsplit(self.cluster.server)
        context = ssl.create_default_context(cafile=str(self.cluster.ca_file))
        if self.cert is not None:
            context.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        headers = {"Accept": "application/json", "User-Agent": AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=30)
        try:
            conn.putrequest(method, path)
            for name, value in headers.items():
                conn.putheader(name, value)
            if self.impersonate_user:
                conn.putheader("Impersonate-User", self.impersonate_user)
            for group in self.impersonate_groups:
                conn.putheader("Impersonate-Group", group)
            payload = json.dumps(body).encode() if body is not None else b""
            conn.putheader("Content-Length", str(len(payload)))
            conn.endheaders(payload)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            doc = {"raw": data[:200].decode(errors="replace")}
        return response.status, doc

    def expect(self, status: int, method: str, path: str, body: Any = None) -> dict[str, Any]:
        got, doc = self.request(method, path, body)
        # Only Status messages are shown: never a body that may hold a Secret or a token.
        message = doc.get("message", "") if doc.get("kind") == "Status" else ""
        assert got == status, f"{self.label}: {method} {path}: {got} (wanted {status}) {message}"
        return doc

    def may(self, attributes: dict[str, str]) -> bool:
        """A SelfSubjectAccessReview as this identity."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        return bool(self.expect(201, "POST", path, review)["status"].get("allowed"))

    def full_access(self) -> bool:
        """Every verb on every resource (cluster-admin, or system:masters)."""
        return self.may({"verb": "*", "group": "*", "resource": "*"})

    def wait_until_may(self, attributes: dict[str, str]) -> None:
        """The RBAC authorizer reads an informer cache: a new binding takes a moment to count."""
        deadline = time.monotonic() + 15
        while not self.may(attributes):
            assert time.monotonic() < deadline, f"{self.label}: still not allowed {attributes}"
            time.sleep(0.2)

    def lists_every_secret(self) -> int:
        status, _ = self.request("GET", "/api/v1/secrets?limit=1")  # the body is dropped unread
        return status


def mint_cert(
    cluster: KubeCluster, folder: Path, user: str, groups: tuple[str, ...]
) -> tuple[Path, Path]:
    """A client certificate for ``user`` in ``groups``, signed by the test cluster's CA (the x509
    authenticator reads CN as the user and O as the groups)."""
    pki = cluster.state_dir / "pki"
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, user)]
        + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    crt, pem = folder / f"{user}.crt", folder / f"{user}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return crt, pem


def start_api(cluster: KubeCluster, folder: Path, start: Node) -> Api:
    """The start identity with its own credential: users as themselves, a group through a member."""
    if start.kind == "Group":
        member = f"{start.name}-member"
        return Api(
            cluster,
            f"{member} (group {start.name})",
            cert=mint_cert(cluster, folder, member, (start.name,)),
        )
    return Api(cluster, start.name, cert=mint_cert(cluster, folder, start.name, ()))


def sar(admin: Api, user: str, groups: tuple[str, ...], attributes: dict[str, str]) -> bool:
    """A SubjectAccessReview: what the server decides for ``user`` in ``groups``."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": list(groups), "resourceAttributes": attributes},
    }
    doc = admin.expect(201, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(doc["status"].get("allowed"))


def sar_full_access(admin: Api, user: str, groups: tuple[str, ...]) -> bool:
    return sar(admin, user, groups, {"verb": "*", "group": "*", "resource": "*"})


def wait_for_sar(
    admin: Api, user: str, groups: tuple[str, ...], attributes: dict[str, str], want: bool
) -> None:
    """Until the authorizer's cache has caught up with a change of roles or bindings."""
    deadline = time.monotonic() + 15
    while sar(admin, user, groups, attributes) != want:
        assert time.monotonic() < deadline, f"{user} {groups} {attributes}: never {want}"
        time.sleep(0.2)


def sa_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def sa_groups(namespace: str) -> tuple[str, ...]:
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")


# --- walking a path -----------------------------------------------------------------------------


@dataclass
class Reached:
    """Where the walk stands: an identity with a credential (``api``), or one that only a
    SubjectAccessReview can speak for (a pod that never runs hands out no token)."""

    node: Node
    api: Api | None
    user: str = ""
    groups: tuple[str, ...] = ()


def pod(name: str, account: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": account,
            "containers": [{"name": "c", "image": "registry.invalid/never-pulled:0"}],
        },
    }


def deployment(name: str, account: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod(name, account)["spec"]},
        },
    }


def run_pods_as(actor: Api, admin: Api, namespace: str, account: str, log: list[str]) -> None:
    """Create a Pod and a Deployment running as ``account``: the server admits them with its token
    mounted, and the controller makes the Deployment's pod as that account."""
    name = f"{PREFIX}{actor.label.split()[0].removeprefix(PREFIX)}"
    made = actor.expect(201, "POST", f"/api/v1/namespaces/{namespace}/pods", pod(name, account))
    volumes = [v.get("secret", {}).get("secretName", "") for v in made["spec"].get("volumes", [])]
    assert any(v.startswith(f"{account}-token-") for v in volumes), volumes
    actor.expect(
        201, "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment(name, account)
    )
    deadline = time.monotonic() + 60
    while True:
        pods = admin.expect(
            200, "GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3D{name}"
        )
        if any(p["spec"].get("serviceAccountName") == account for p in pods["items"]):
            break
        assert time.monotonic() < deadline, f"no pod of Deployment {namespace}/{name} as {account}"
        time.sleep(0.5)
    log.append(f"{actor.label}: created Pod and Deployment {namespace}/{name} as {account}")


def token_from_secret(actor: Api, ref_namespace: str, ref_name: str) -> str:
    doc = actor.expect(200, "GET", f"/api/v1/namespaces/{ref_namespace}/secrets/{ref_name}")
    return base64.b64decode(doc["data"]["token"]).decode()


def hop(actor_move: Move, final: Move, here: Reached, admin: Api, log: list[str]) -> Reached:
    """Perform one hop as the server sees it: ``actor_move`` holds the permission used,
    ``final`` reaches the next identity."""
    assert actor_move.holding is not None
    assert here.api is not None, f"{here.node.display()} holds no credential to act with"
    me = here.api
    capability = actor_move.holding.capability.id
    target = final.target
    if capability == "create-workloads":
        run_pods_as(me, admin, target.namespace, target.name, log)
        return Reached(
            target, None, sa_user(target.namespace, target.name), sa_groups(target.namespace)
        )
    if capability == "create-tokens":
        path = f"/api/v1/namespaces/{target.namespace}/serviceaccounts/{target.name}/token"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
        token = me.expect(201, "POST", path, body)["status"]["token"]
        log.append(f"{me.label}: TokenRequest for {target.display()}: 201")
        return Reached(target, Api(me.cluster, target.display(), token=token))
    if capability == "read-secrets":
        secret = final.evidence[0]
        token = token_from_secret(me, secret.namespace, secret.name)
        log.append(
            f"{me.label}: read Secret {secret.namespace}/{secret.name} (token of {target.display()})"
        )
        return Reached(target, Api(me.cluster, target.display(), token=token))
    if capability == "impersonate":
        assert target == MASTERS, target
        log.append(f"{me.label}: impersonates {STAND_IN} in group system:masters")
        return Reached(
            target, me.as_(f"{me.label} as system:masters", STAND_IN, ("system:masters",))
        )
    if capability == "escalate-bind" and target == SELF_BOUND_ADMIN:
        subject = me.label
        body = _binding(f"{subject}-walked", "ClusterRole", "cluster-admin", [_user(subject)])
        me.expect(201, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body)
        log.append(f"{me.label}: created ClusterRoleBinding {subject}-walked → cluster-admin")
        me.wait_until_may({"verb": "*", "group": "*", "resource": "*"})
        return Reached(target, me)
    if capability == "escalate-bind":
        namespace = target.namespace
        subject = me.label
        body = _binding(f"{subject}-walked", "ClusterRole", "admin", [_user(subject)], namespace)
        me.expect(
            201,
            "POST",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
            body,
        )
        log.append(f"{me.label}: created RoleBinding {namespace}/{subject}-walked → admin")
        me.wait_until_may({"verb": "create", "resource": "pods", "namespace": namespace})
        run_pods_as(me, admin, namespace, target.name, log)
        # 1.20's admin may impersonate the namespace's ServiceAccounts: a real request as it.
        return Reached(target, me.as_(target.display(), sa_user(namespace, target.name)))
    raise AssertionError(f"no walk for {capability}: {actor_move.action}")


def walk(path: EscalationPath, start: Api, admin: Api) -> list[str]:
    """Walk ``path`` from ``start``; every hop is a real request. Returns what was done."""
    log: list[str] = []
    here = Reached(path.start, start)
    actor: Move | None = None
    for move in path.moves:
        if move.holding is not None:
            actor = move
        if move.target.is_identity or move.target == SELF_BOUND_ADMIN:
            assert actor is not None, f"no permission before {move.target.display()}"
            here = hop(actor, move, here, admin, log)
            actor = None
    if here.api is not None:
        assert here.api.full_access(), f"{here.node.display()}: SelfSubjectAccessReview * denied"
        assert here.api.lists_every_secret() == 200, f"{here.node.display()}: cannot list Secrets"
        log.append(f"{here.api.label}: full access (SelfSubjectAccessReview), lists every Secret")
    else:
        assert sar_full_access(admin, here.user, here.groups), (
            f"{here.node.display()}: SAR * denied"
        )
        log.append(
            f"{here.node.display()}: full access (SubjectAccessReview: no kubelet, no token)"
        )
    return log


# --- the cluster ----------------------------------------------------------------------------------


def read_inventory(cluster: KubeCluster) -> Inventory:
    loaded = load_inputs(
        [], cluster=True, kubeconfig=str(cluster.kubeconfig), context=cluster.admin_context
    )
    return Inventory(loaded.objects)


def wait_for_token_secrets(cluster: KubeCluster) -> None:
    """kube-controller-manager's token controller writes each account's legacy token Secret."""
    deadline = time.monotonic() + 60
    for namespace, name in ((NS_PODS, ROOT), (NS_SECRETS, KEEPER), (NS_BIND, BIND_ROOT)):
        while not cluster.kubectl(
            "get", "serviceaccount", name, "-n", namespace, "-o", "jsonpath={.secrets[*].name}"
        ).stdout.strip():
            assert time.monotonic() < deadline, f"no token Secret for {namespace}/{name}"
            time.sleep(0.5)


def ours(inventory: Inventory) -> dict[Node, EscalationPath]:
    found: dict[Node, EscalationPath] = {}
    for path in escalation_paths(inventory):
        if path.start.name.startswith(PREFIX):
            assert path.start not in found, f"two paths from {path.start.display()}"
            found[path.start] = path
    return found


def cleanup(cluster: KubeCluster) -> None:
    names = [d["metadata"]["name"] for d in objects() if "namespace" not in d["metadata"]]
    walked = [f"{DAVE}-walked"]
    cluster.kubectl(
        "delete", "clusterrolebinding", "--ignore-not-found", *names, *walked, check=False
    )
    cluster.kubectl("delete", "clusterrole", "--ignore-not-found", *names, check=False)
    cluster.kubectl(
        "delete",
        "namespace",
        "--wait=false",
        "--ignore-not-found",
        NS_PODS,
        NS_SECRETS,
        NS_BIND,
        check=False,
    )


@pytest.fixture
def paths_cluster(kube_cluster: KubeCluster) -> Iterator[KubeCluster]:
    if not kube_cluster.controller_manager:
        pytest.skip(
            "needs kube-controller-manager (token Secrets, Deployment pods, namespace deletion)"
        )
    cleanup(kube_cluster)
    for namespace in (NS_PODS, NS_SECRETS, NS_BIND):  # a namespace still terminating from before
        deadline = time.monotonic() + 60
        while kube_cluster.kubectl("get", "namespace", namespace, check=False).returncode == 0:
            assert time.monotonic() < deadline, f"namespace {namespace} is still terminating"
            time.sleep(0.5)
    kube_cluster.ensure_namespaces(NS_PODS, NS_SECRETS, NS_BIND)
    try:
        kube_cluster.apply(yaml.safe_dump_all(objects()))
        wait_for_token_secrets(kube_cluster)
        admin = Api(kube_cluster, "admin", token=kube_cluster.admin_token)
        last = {"verb": "create", "group": RBAC, "resource": "rolebindings", "namespace": NS_BIND}
        wait_for_sar(admin, ESME, (), last, True)  # the authorizer has seen the bindings
        yield kube_cluster
    finally:
        cleanup(kube_cluster)


def check_shapes(found: dict[Node, EscalationPath]) -> None:
    """The reported paths, hop by hop, as the fixture sets them up."""

    def hops(start: Node) -> list[tuple[str, Node]]:
        return [(m.action, m.target) for m in found[start].moves if m.action != "includes"]

    root, bind_root = (
        Node("ServiceAccount", NS_PODS, ROOT),
        Node("ServiceAccount", NS_BIND, BIND_ROOT),
    )
    keeper = Node("ServiceAccount", NS_SECRETS, KEEPER)
    assert found[Node("User", "", ALICE)].end == root
    assert found[Node("User", "", ALICE)].first.action.startswith(f"creates pods in {NS_PODS}")
    assert hops(Node("User", "", BOB)) == [("creates a token for", root)]
    carol = hops(Node("User", "", CAROL))
    assert carol[0] == (f"reads Secrets in {NS_SECRETS}", Node("TokenSecrets", NS_SECRETS, ""))
    assert carol[1] == ("reads the token Secret of", keeper)
    assert carol[2][0] == "reads Secrets in every namespace"
    assert carol[-1][0] == "reads the token Secret of"
    assert found[Node("User", "", CAROL)].held.holding is not None  # a cluster-admin binding
    assert hops(keeper) == carol[2:]
    assert hops(Node("Group", "", IMPERSONATORS)) == [("impersonates", MASTERS)]
    assert hops(Node("User", "", DAVE))[0][1] == SELF_BOUND_ADMIN
    erin = found[Node("User", "", ERIN)]
    assert erin.first.action.startswith("binds itself ")
    assert f"a role that creates pods in {NS_BIND}" in erin.first.action
    assert erin.end == bind_root
    assert all(p.goal.id == "full-access" for p in found.values())


def run_cli(cluster: KubeCluster) -> dict[str, Any]:
    kposture = Path(sys.executable).parent / "kposture"
    done = subprocess.run(
        [
            str(kposture),
            "rbac",
            "paths",
            "--cluster",
            f"--kubeconfig={cluster.kubeconfig}",
            f"--context={cluster.admin_context}",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def test_escalation_paths_walk_on_the_live_server(
    paths_cluster: KubeCluster, tmp_path: Path
) -> None:
    cluster = paths_cluster
    started = time.monotonic()
    admin = Api(cluster, "admin", token=cluster.admin_token)
    inventory = read_inventory(cluster)
    found = ours(inventory)
    assert set(found) == EXPECTED_STARTS, (
        f"missing {sorted(n.display() for n in EXPECTED_STARTS - set(found))}, "
        f"unexpected {sorted(n.display() for n in set(found) - EXPECTED_STARTS)}"
    )
    assert not set(found) & CONTROLS
    check_shapes(found)

    # The CLI reads the cluster itself and reports the same paths.
    cli = run_cli(cluster)
    assert cli["schema"] == "kposture.rbac-paths/v1"
    cli_paths = {
        (p["start"]["kind"], p["start"]["namespace"], p["start"]["name"]): p
        for p in cli["paths"]
        if p["start"]["name"].startswith(PREFIX)
    }
    assert set(cli_paths) == {(n.kind, n.namespace, n.name) for n in EXPECTED_STARTS}
    for node, path in found.items():
        listed = cli_paths[node.kind, node.namespace, node.name]
        assert listed["goal"]["id"] == path.goal.id
        assert listed["reached"] == {
            "kind": path.end.kind,
            "namespace": path.end.namespace,
            "name": path.end.name,
        }
        assert [h["action"] for h in listed["hops"]] == [
            m.action for m in path.moves if m.action != "includes"
        ]

    # Every start is refused the goal itself, then walks its path to it.
    walked: list[str] = []
    for start in sorted(EXPECTED_STARTS):
        if start.kind == "ServiceAccount":
            continue  # walked as the second half of carol's path, with its own token
        me = start_api(cluster, tmp_path, start)
        assert not me.full_access(), f"{me.label} already holds full access"
        assert me.lists_every_secret() == 403, me.label
        walked += walk(found[start], me, admin)
    keeper = found[Node("ServiceAccount", NS_SECRETS, KEEPER)]
    secret = next(
        m for m in found[Node("User", "", CAROL)].moves if m.target == keeper.start
    ).evidence[0]
    keeper_api = Api(
        cluster,
        keeper.start.display(),
        token=token_from_secret(admin, secret.namespace, secret.name),
    )
    assert not keeper_api.full_access()
    walked += walk(keeper, keeper_api, admin)

    # The controls hold nothing kposture follows, and the server agrees at the first hop.
    for control in CONTROLS:
        me = start_api(cluster, tmp_path, control)
        assert not me.full_access(), me.label
    vic = start_api(cluster, tmp_path, Node("User", "", VIC))
    bind_admin = _binding(f"{VIC}-walked", "ClusterRole", "admin", [_user(VIC)], NS_BIND)
    rolebindings = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS_BIND}/rolebindings"
    vic.expect(403, "POST", rolebindings, bind_admin)
    esme = start_api(cluster, tmp_path, Node("User", "", ESME))
    esme.expect(403, "POST", rolebindings, {**bind_admin, "subjects": [_user(ESME)]})
    group_only = start_api(cluster, tmp_path, Node("Group", "", GROUP_ONLY))
    masters = group_only.as_("group-only as system:masters", STAND_IN, ("system:masters",))
    masters.expect(403, "GET", "/api/v1/namespaces/default/configmaps")
    itself = group_only.as_("group-only as itself", f"{GROUP_ONLY}-member", ("system:masters",))
    itself.expect(403, "GET", "/api/v1/namespaces/default/configmaps")
    bob = start_api(cluster, tmp_path, Node("User", "", BOB))
    token_body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    bob.expect(
        403, "POST", f"/api/v1/namespaces/{NS_PODS}/serviceaccounts/default/token", token_body
    )

    # Take one permission away: the path disappears, and the walk fails at that hop.
    cluster.kubectl("delete", "clusterrolebinding", f"{DAVE}-walked")
    cluster.apply(json.dumps(_role(f"{PREFIX}binder", BINDER_RULES[:1])))
    cluster.apply(json.dumps(_role(f"{PREFIX}impersonator", IMPERSONATOR_RULES[:1])))
    cluster.apply(
        json.dumps(_role("token-minter", [_rule("", ["serviceaccounts"], ["get"])], NS_PODS))
    )
    wait_for_sar(
        admin, DAVE, (), {"verb": "create", "group": RBAC, "resource": "clusterrolebindings"}, False
    )
    wait_for_sar(
        admin,
        "m",
        (IMPERSONATORS,),
        {"verb": "impersonate", "resource": "users", "name": STAND_IN},
        False,
    )
    token_attributes = {
        "verb": "create",
        "resource": "serviceaccounts",
        "subresource": "token",
        "namespace": NS_PODS,
        "name": ROOT,
    }
    wait_for_sar(admin, BOB, (), token_attributes, False)
    after = ours(read_inventory(cluster))
    for gone in (Node("User", "", DAVE), Node("Group", "", IMPERSONATORS), Node("User", "", BOB)):
        assert gone not in after, after[gone].describe()
    assert Node("User", "", ALICE) in after  # the rest stays
    dave = start_api(cluster, tmp_path, Node("User", "", DAVE))
    with pytest.raises(AssertionError, match="403"):
        walk(found[Node("User", "", DAVE)], dave, admin)
    impersonators = start_api(cluster, tmp_path, Node("Group", "", IMPERSONATORS))
    with pytest.raises(AssertionError, match="403"):
        walk(found[Node("Group", "", IMPERSONATORS)], impersonators, admin)
    with pytest.raises(AssertionError, match="403"):
        walk(found[Node("User", "", BOB)], bob, admin)
    print("\n".join(walked))
    print(f"rbac paths live walk: {len(found)} paths walked in {time.monotonic() - started:.1f}s")
