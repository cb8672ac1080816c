"""A seeded synthetic cluster for the RBAC benchmark: what ``kubectl get KIND -A -o json`` lists.

Owns the generator only (``bench/rbac_benchmark.py`` times it). The default shape: 500 user
namespaces (plus the system ones), 5,000 roles, 50,000 bindings, one ServiceAccount per ten bindings
and a few thousand workloads running as them. Roles are a realistic mix: namespaced Roles in every
namespace; ClusterRoles with the Kubernetes defaults (``cluster-admin``, ``admin``/``edit``/``view``
aggregated through the ``aggregate-to-*`` labels, ``system:`` roles with the bootstrap markers and
their default bindings), user ClusterRoles aggregated into the defaults or into team roles; rules
with wildcards, subresources, ``resourceNames`` and non-resource URLs. Bindings name Users, Groups
(``system:serviceaccounts:<ns>`` too) and ServiceAccounts (some without a namespace, some of other
namespaces); about 2% name a role that does not exist. An aggregating ClusterRole carries the rules
its selectors reach, as the aggregation controller of a live cluster writes them.

Every item looks like a live listing's: ``uid``, ``resourceVersion``, ``creationTimestamp``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

RBAC_V1 = "rbac.authorization.k8s.io/v1"
BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete"]
ALL_VERBS = [*READ, *WRITE, "deletecollection"]
RARE_VERBS = ["escalate", "bind", "impersonate", "use", "approve", "sign"]

# (group, resources) the rules pick from; subresources written as the authorizer matches them.
VOCABULARY: list[tuple[str, list[str]]] = [
    (
        "",
        [
            "pods",
            "pods/log",
            "pods/exec",
            "pods/attach",
            "pods/portforward",
            "pods/status",
            "secrets",
            "configmaps",
            "services",
            "services/proxy",
            "endpoints",
            "persistentvolumeclaims",
            "serviceaccounts",
            "serviceaccounts/token",
            "events",
            "limitranges",
            "resourcequotas",
            "replicationcontrollers",
            "replicationcontrollers/scale",
        ],
    ),
    (
        "apps",
        [
            "deployments",
            "deployments/scale",
            "deployments/status",
            "statefulsets",
            "statefulsets/scale",
            "daemonsets",
            "replicasets",
            "controllerrevisions",
        ],
    ),
    ("batch", ["jobs", "cronjobs", "jobs/status"]),
    ("autoscaling", ["horizontalpodautoscalers"]),
    ("networking.k8s.io", ["ingresses", "networkpolicies"]),
    ("policy", ["poddisruptionbudgets"]),
    ("rbac.authorization.k8s.io", ["roles", "rolebindings"]),
    ("coordination.k8s.io", ["leases"]),
    ("discovery.k8s.io", ["endpointslices"]),
    ("monitoring.coreos.com", ["servicemonitors", "prometheusrules", "podmonitors"]),
    ("cert-manager.io", ["certificates", "issuers", "certificaterequests"]),
    ("argoproj.io", ["applications", "appprojects", "rollouts"]),
]
CLUSTER_VOCABULARY: list[tuple[str, list[str]]] = [
    ("", ["nodes", "nodes/proxy", "nodes/status", "namespaces", "persistentvolumes"]),
    ("rbac.authorization.k8s.io", ["clusterroles", "clusterrolebindings"]),
    ("storage.k8s.io", ["storageclasses", "csidrivers"]),
    ("apiextensions.k8s.io", ["customresourcedefinitions"]),
    ("admissionregistration.k8s.io", ["validatingwebhookconfigurations"]),
    ("certificates.k8s.io", ["certificatesigningrequests", "certificatesigningrequests/approval"]),
]
NON_RESOURCE_URLS = ["/metrics", "/healthz", "/healthz/*", "/version", "/api", "/api/*", "/logs/*"]

# The system: ClusterRoles a kube-apiserver bootstraps (controller roles are bound to kube-system
# ServiceAccounts of the same name), with one representative rule each.
CONTROLLERS = [
    "attachdetach-controller",
    "certificate-controller",
    "clusterrole-aggregation-controller",
    "cronjob-controller",
    "daemon-set-controller",
    "deployment-controller",
    "disruption-controller",
    "endpoint-controller",
    "endpointslice-controller",
    "expand-controller",
    "generic-garbage-collector",
    "horizontal-pod-autoscaler",
    "job-controller",
    "namespace-controller",
    "node-controller",
    "persistent-volume-binder",
    "pod-garbage-collector",
    "pv-protection-controller",
    "pvc-protection-controller",
    "replicaset-controller",
    "replication-controller",
    "resourcequota-controller",
    "route-controller",
    "service-account-controller",
    "service-controller",
    "statefulset-controller",
    "ttl-controller",
]


class Generator:
    """Builds the objects; ``random.Random(seed)`` makes every run list the same cluster."""

    def __init__(self, seed: int, roles: int, bindings: int, namespaces: int, workloads: int):
        self.rng = random.Random(seed)
        self.uuids = random.Random(seed + 1)
        self.roles = roles
        self.bindings = bindings
        self.namespaces = [f"team-{i:03d}" for i in range(namespaces)]
        self.workloads = workloads
        self.users = [f"user-{i:04d}@example.com" for i in range(max(100, bindings // 10))]
        self.groups = [f"group-{i:03d}" for i in range(max(20, namespaces))]
        self.serial = 1000
        self.cluster_roles: list[dict[str, Any]] = []
        self.ns_roles: dict[str, list[str]] = {ns: [] for ns in self.namespaces}
        self.service_accounts: dict[str, list[str]] = {}

    # --- metadata ---------------------------------------------------------------------------------

    def meta(self, name: str, namespace: str = "", **extra: Any) -> dict[str, Any]:
        self.serial += 1
        meta: dict[str, Any] = {"name": name}
        if namespace:
            meta["namespace"] = namespace
        meta["uid"] = str(uuid.UUID(int=self.uuids.getrandbits(128), version=4))
        meta["resourceVersion"] = str(self.serial)
        meta["creationTimestamp"] = "2026-11-20T08:00:00Z"
        meta.update(extra)
        return meta

    def item(
        self, api_version: str, kind: str, meta: dict[str, Any], **body: Any
    ) -> dict[str, Any]:
        return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}

    # --- rules ------------------------------------------------------------------------------------

    def rule(self, cluster: bool = False) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if cluster and roll < 0.04:
            urls = rng.sample(NON_RESOURCE_URLS, rng.randint(1, 3))
            return {"nonResourceURLs": urls, "verbs": ["get"]}
        vocabulary = CLUSTER_VOCABULARY if cluster and roll < 0.30 else VOCABULARY
        group, resources = rng.choice(vocabulary)
        if roll > 0.97:
            groups, picked = ["*"], ["*"]
        elif roll > 0.93:
            groups, picked = [group], ["*"]
        elif roll > 0.91:
            groups, picked = ["*"], ["*/scale"]
        else:
            groups = [group]
            picked = rng.sample(resources, rng.randint(1, min(5, len(resources))))
            if rng.random() < 0.1:
                other, more = rng.choice(vocabulary)
                groups.append(other)
                picked.extend(rng.sample(more, 1))
        verb_roll = rng.random()
        if verb_roll < 0.45:
            verbs = list(READ)
        elif verb_roll < 0.75:
            verbs = rng.sample(ALL_VERBS, rng.randint(1, len(ALL_VERBS)))
        elif verb_roll < 0.90:
            verbs = ["*"]
        elif verb_roll < 0.95:
            verbs = ["get"]
        else:
            verbs = [rng.choice(RARE_VERBS), *rng.sample(READ, 1)]
        rule: dict[str, Any] = {"apiGroups": groups, "resources": picked, "verbs": verbs}
        if rng.random() < 0.08 and "*" not in picked:
            rule["resourceNames"] = [f"obj-{rng.randrange(50)}" for _ in range(rng.randint(1, 3))]
        return rule

    def rules(self, cluster: bool = False) -> list[dict[str, Any]]:
        return [self.rule(cluster) for _ in range(self.rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6, 8)))]

    # --- roles ------------------------------------------------------------------------------------

    def default_cluster_roles(self) -> Iterator[dict[str, Any]]:
        def default(name: str, rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            labels = dict(BOOTSTRAP, **extra.pop("labels", {}))
            meta = self.meta(name, labels=labels, annotations=dict(AUTOUPDATE))
            return self.item(RBAC_V1, "ClusterRole", meta, rules=rules, **extra)

        star = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
        yield default("cluster-admin", [star, {"nonResourceURLs": ["*"], "verbs": ["*"]}])
        chain = {"admin": None, "edit": "admin", "view": "edit"}
        for name, into in chain.items():
            labels = {f"{AGGREGATE}{into}": "true"} if into else {}
            selector = {"matchLabels": {f"{AGGREGATE}{name}": "true"}}
            yield default(
                name,
                [],
                labels=labels,
                aggregationRule={"clusterRoleSelectors": [selector]},
            )
            yield default(
                f"system:aggregate-to-{name}",
                [self.rule() for _ in range(6)],
                labels={f"{AGGREGATE}{name}": "true"},
            )
        yield default(
            "system:discovery",
            [
                {
                    "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/version"],
                    "verbs": ["get"],
                }
            ],
        )
        yield default(
            "system:public-info-viewer",
            [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version"], "verbs": ["get"]}],
        )
        review = ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]
        yield default(
            "system:basic-user",
            [{"apiGroups": ["authorization.k8s.io"], "resources": review, "verbs": ["create"]}],
        )
        node = [
            {"apiGroups": [""], "resources": ["nodes", "nodes/status"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["pods", "secrets", "configmaps"], "verbs": READ},
        ]
        yield default("system:node", node)
        for controller in CONTROLLERS:
            yield default(f"system:controller:{controller}", self.rules(cluster=True))
        for component in ("kube-scheduler", "kube-controller-manager", "kube-dns", "monitoring"):
            yield default(f"system:{component}", self.rules(cluster=True))

    def default_bindings(self) -> Iterator[dict[str, Any]]:
        def binding(name: str, role: str, subjects: list[dict[str, Any]]) -> dict[str, Any]:
            meta = self.meta(name, labels=dict(BOOTSTRAP), annotations=dict(AUTOUPDATE))
            ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
            return self.item(RBAC_V1, "ClusterRoleBinding", meta, roleRef=ref, subjects=subjects)

        def group(name: str) -> dict[str, Any]:
            return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}

        yield binding("cluster-admin", "cluster-admin", [group("system:masters")])
        yield binding("system:discovery", "system:discovery", [group("system:authenticated")])
        yield binding("system:basic-user", "system:basic-user", [group("system:authenticated")])
        everyone = [group("system:authenticated"), group("system:unauthenticated")]
        yield binding("system:public-info-viewer", "system:public-info-viewer", everyone)
        yield binding("system:node", "system:node", [group("system:nodes")])
        for controller in CONTROLLERS:
            name = f"system:controller:{controller}"
            account = {"kind": "ServiceAccount", "name": controller, "namespace": "kube-system"}
            yield binding(name, name, [account])

    def cluster_role(self, i: int) -> dict[str, Any]:
        rng = self.rng
        name = f"custom-{i:04d}"
        labels: dict[str, str] = {"app.kubernetes.io/part-of": f"product-{i % 40}"}
        roll = rng.random()
        body: dict[str, Any] = {}
        if roll < 0.06:
            # A team role that aggregates the team's pieces (written by the controller, see below).
            team = f"example.com/aggregate-to-team-{i % 25}"
            body["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {team: "true"}}]}
            rules: list[dict[str, Any]] = []
        else:
            rules = self.rules(cluster=True)
            if roll < 0.20:
                labels[f"example.com/aggregate-to-team-{i % 25}"] = "true"
            elif roll < 0.32:
                labels[f"{AGGREGATE}{rng.choice(('view', 'edit', 'admin'))}"] = "true"
        return self.item(
            RBAC_V1, "ClusterRole", self.meta(name, labels=labels), rules=rules, **body
        )

    def aggregate(self, cluster_roles: list[dict[str, Any]]) -> None:
        """Write each aggregating ClusterRole's rules as the aggregation controller does: the
        union of the rules of every ClusterRole its selectors reach, to a fixpoint."""
        aggregating = [r for r in cluster_roles if "aggregationRule" in r]
        for _ in range(4):
            for role in aggregating:
                wanted = [s["matchLabels"] for s in role["aggregationRule"]["clusterRoleSelectors"]]
                merged: list[dict[str, Any]] = []
                for other in cluster_roles:
                    labels = other["metadata"].get("labels", {})
                    if other is role or not any(
                        all(labels.get(k) == v for k, v in selector.items()) for selector in wanted
                    ):
                        continue
                    merged.extend(r for r in other["rules"] if r not in merged)
                role["rules"] = merged

    def role(self, namespace: str, i: int) -> dict[str, Any]:
        name = f"role-{i:02d}"
        self.ns_roles[namespace].append(name)
        return self.item(
            RBAC_V1,
            "Role",
            self.meta(name, namespace, labels={"team": namespace}),
            rules=self.rules(),
        )

    # --- bindings ---------------------------------------------------------------------------------

    def subject(self, namespace: str) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.40:
            return {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "User",
                "name": rng.choice(self.users),
            }
        if roll < 0.60:
            if rng.random() < 0.03:
                # All ServiceAccounts of a namespace; everyone (system:authenticated) only
                # through the default bindings, or every identity would hold everything.
                name = f"system:serviceaccounts:{namespace or rng.choice(self.namespaces)}"
            else:
                name = rng.choice(self.groups)
            return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}
        home = namespace or rng.choice(self.namespaces)
        if rng.random() < 0.1:
            home = rng.choice(self.namespaces)
        account = rng.choice(self.service_accounts[home])
        if namespace and home == namespace and rng.random() < 0.3:
            return {"kind": "ServiceAccount", "name": account}  # defaulted to the binding's
        return {"kind": "ServiceAccount", "name": account, "namespace": home}

    def role_ref(self, namespace: str) -> dict[str, str]:
        rng = self.rng
        group = "rbac.authorization.k8s.io"
        if rng.random() < 0.02:
            kind = "Role" if namespace and rng.random() < 0.5 else "ClusterRole"
            return {"apiGroup": group, "kind": kind, "name": f"missing-{rng.randrange(1000)}"}
        if namespace and rng.random() < 0.6 and self.ns_roles[namespace]:
            return {"apiGroup": group, "kind": "Role", "name": rng.choice(self.ns_roles[namespace])}
        if rng.random() < 0.3:
            name = rng.choice(("view", "view", "edit", "admin", "cluster-admin"))
        else:
            name = rng.choice(self.cluster_roles)["metadata"]["name"]
        return {"apiGroup": group, "kind": "ClusterRole", "name": name}

    def binding(self, kind: str, namespace: str, i: int) -> dict[str, Any]:
        subjects = [self.subject(namespace) for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3)))]
        meta = self.meta(f"binding-{i:05d}", namespace)
        return self.item(RBAC_V1, kind, meta, roleRef=self.role_ref(namespace), subjects=subjects)

    # --- workloads --------------------------------------------------------------------------------

    def workload(self, i: int) -> dict[str, Any]:
        rng = self.rng
        namespace = rng.choice(self.namespaces)
        account = rng.choice(self.service_accounts[namespace])
        labels = {"app": f"app-{i:04d}"}
        spec: dict[str, Any] = {
            "serviceAccountName": account,
            "containers": [
                {"name": "app", "image": f"registry.example.com/app-{i % 90}:1.{i % 9}"}
            ],
        }
        if rng.random() < 0.3:
            spec["automountServiceAccountToken"] = False
        template = {"metadata": {"labels": labels}, "spec": spec}
        roll = rng.random()
        meta = self.meta(f"app-{i:04d}", namespace, labels=labels)
        selector = {"matchLabels": labels}
        if roll < 0.70:
            return self.item(
                "apps/v1",
                "Deployment",
                meta,
                spec={"replicas": 2, "selector": selector, "template": template},
            )
        if roll < 0.80:
            return self.item(
                "apps/v1",
                "StatefulSet",
                meta,
                spec={"serviceName": meta["name"], "selector": selector, "template": template},
            )
        if roll < 0.88:
            return self.item(
                "apps/v1", "DaemonSet", meta, spec={"selector": selector, "template": template}
            )
        if roll < 0.95:
            job = {"template": dict(template, spec=dict(spec, restartPolicy="OnFailure"))}
            return self.item(
                "batch/v1",
                "CronJob",
                meta,
                spec={"schedule": "0 * * * *", "jobTemplate": {"spec": job}},
            )
        return self.item("v1", "Pod", meta, spec=spec)

    # --- the cluster ------------------------------------------------------------------------------

    def cluster(self) -> dict[str, list[dict[str, Any]]]:
        """The items by kind, in the order a listing returns them."""
        every_ns = [*SYSTEM_NAMESPACES, *self.namespaces]
        by_kind: dict[str, list[dict[str, Any]]] = {
            "Namespace": [self.item("v1", "Namespace", self.meta(ns)) for ns in every_ns]
        }
        accounts = max(1, self.bindings // 10 // len(self.namespaces))
        service_accounts = []
        for ns in every_ns:
            names = ["default"] + [f"sa-{i:02d}" for i in range(accounts - 1)]
            if ns == "kube-system":
                names += CONTROLLERS
            self.service_accounts[ns] = names
            service_accounts.extend(
                self.item("v1", "ServiceAccount", self.meta(n, ns)) for n in names
            )
        by_kind["ServiceAccount"] = service_accounts
        defaults = list(self.default_cluster_roles())
        user_cluster_roles = self.roles // 10 - len(defaults)
        custom = [self.cluster_role(i) for i in range(max(0, user_cluster_roles))]
        self.cluster_roles = custom or defaults
        cluster_roles = defaults + custom
        self.aggregate(cluster_roles)
        by_kind["ClusterRole"] = cluster_roles
        roles = []
        for i in range(self.roles - len(cluster_roles)):
            namespace = self.namespaces[i % len(self.namespaces)]
            roles.append(self.role(namespace, i // len(self.namespaces)))
        by_kind["Role"] = roles
        default_bindings = list(self.default_bindings())
        cluster_bindings = self.bindings // 10 - len(default_bindings)
        by_kind["ClusterRoleBinding"] = default_bindings + [
            self.binding("ClusterRoleBinding", "", i) for i in range(max(0, cluster_bindings))
        ]
        by_kind["RoleBinding"] = [
            self.binding("RoleBinding", self.rng.choice(self.namespaces), i)
            for i in range(self.bindings - len(by_kind["ClusterRoleBinding"]))
        ]
        workloads = [self.workload(i) for i in range(self.workloads)]
        for item in workloads:
            by_kind.setdefault(item["kind"], []).append(item)
        by_kind["ClusterFacts"] = [
            {
                "apiVersion": "kposture.io/v1",
                "kind": "ClusterFacts",
                "metadata": {"name": "cluster"},
                "context": "bench",
                "serverVersion": "v1.30.2",
                "listing": {"namespaces": None, "unlisted": []},
            }
        ]
        return by_kind


def generate(
    seed: int = 5,
    *,
    roles: int = 5_000,
    bindings: int = 50_000,
    namespaces: int = 500,
    workloads: int = 3_000,
) -> dict[str, list[dict[str, Any]]]:
    """The synthetic cluster's items by kind (see the module docstring)."""
    return Generator(seed, roles, bindings, namespaces, workloads).cluster()
