"""Flag parsing, control-plane component discovery, cluster signs and tool detection."""

from __future__ import annotations

from kposture.inventory import Inventory
from kposture.inventory.components import (
    API_SERVER,
    ETCD,
    cluster_signs,
    components_of,
    control_plane,
    flag_list,
    last,
    parse_flags,
)
from kposture.inventory.tools import (
    ToolCategory,
    detect_tools,
    gitops_namespaces,
    latest_manager,
)
from support import objects_from_text


def _tokens(*words: str) -> list[tuple[str, tuple[str | int, ...]]]:
    return [(word, ("command", index)) for index, word in enumerate(words)]


def test_flags_forms_equals_space_boolean_and_repeats() -> None:
    flags = parse_flags(
        _tokens(
            "kube-apiserver",
            "--anonymous-auth=false",
            "--audit-log-path",
            "/var/log/audit.log",
            "--profiling",
            "--enable-admission-plugins=NodeRestriction",
            "--enable-admission-plugins=PodSecurity,EventRateLimit",
        )
    )
    assert last(flags, "anonymous-auth").value == "false"  # type: ignore[union-attr]
    audit = last(flags, "audit-log-path")
    assert (
        audit is not None and audit.value == "/var/log/audit.log" and audit.path == ("command", 2)
    )
    assert last(flags, "profiling").value == "true"  # type: ignore[union-attr]
    assert flag_list(flags, "enable-admission-plugins") == [
        "NodeRestriction",
        "PodSecurity",
        "EventRateLimit",
    ]
    assert last(flags, "enable-admission-plugins").path == ("command", 6)  # type: ignore[union-attr]
    assert last(flags, "missing") is None


def test_a_value_equal_sign_inside_the_value_is_kept() -> None:
    flags = parse_flags(_tokens("--feature-gates=A=true,B=false"))
    assert last(flags, "feature-gates").value == "A=true,B=false"  # type: ignore[union-attr]


KUBEADM = """
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver-cp
  namespace: kube-system
  labels: {component: kube-apiserver, tier: control-plane}
spec:
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.30.2
    command: [kube-apiserver, --anonymous-auth=false]
    args: [--profiling=false]
---
apiVersion: v1
kind: Pod
metadata: {name: etcd-cp, namespace: kube-system}
spec:
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.12-0
    command: ["/bin/sh", "-c", "etcd --client-cert-auth=true --data-dir /var/lib/etcd"]
"""


def test_components_from_static_pods_with_paths_into_command_and_args() -> None:
    api, etcd = objects_from_text(KUBEADM)
    (component,) = components_of(api)
    assert component.name == API_SERVER
    assert last(component.flags, "profiling").path == (  # type: ignore[union-attr]
        "spec",
        "containers",
        0,
        "args",
        0,
    )
    (db,) = components_of(etcd)
    assert db.name == ETCD
    found = last(db.flags, "data-dir")
    assert found is not None and found.value == "/var/lib/etcd"
    assert found.path == ("spec", "containers", 0, "command", 2)  # the sh -c string


def test_hyperkube_and_unrelated_containers() -> None:
    (hyper, bench) = objects_from_text(
        """
apiVersion: v1
kind: Pod
metadata: {name: master}
spec:
  containers:
  - {name: api, image: k8s.gcr.io/hyperkube:v1.12, command: [/hyperkube, apiserver, --profiling]}
---
apiVersion: v1
kind: Pod
metadata: {name: kube-bench}
spec:
  containers:
  - {name: kube-bench, image: aquasec/kube-bench, command: [kube-bench, run, --targets, master]}
"""
    )
    assert [c.name for c in components_of(hyper)] == [API_SERVER]
    assert components_of(bench) == ()


def test_cluster_signs_and_anchor() -> None:
    app = objects_from_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: kube-system}\n"
    )
    assert cluster_signs(app) == ()
    assert Inventory(app).cluster_anchor is None
    nodes = objects_from_text("apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n")
    inventory = Inventory(nodes)
    anchor = inventory.cluster_anchor
    assert anchor is not None and anchor.ref.kind == "ClusterFacts"
    assert anchor in list(inventory.evaluation_order())
    assert control_plane(inventory).cluster_like and not control_plane(inventory).components


def test_declared_cluster_facts_is_the_anchor() -> None:
    objs = objects_from_text(
        "apiVersion: kposture.io/v1\nkind: ClusterFacts\nmetadata: {name: cluster}\n"
        "---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\n"
    )
    inventory = Inventory(objs)
    assert inventory.cluster_anchor is objs[0]
    assert sum(o.ref.kind == "ClusterFacts" for o in inventory.evaluation_order()) == 1


TOOLS = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: log-agent, namespace: logging}
spec:
  template:
    spec:
      containers: [{name: a, image: "docker.io/grafana/promtail:2.9.0"}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: clusterpolicies.kyverno.io}
spec: {group: kyverno.io, names: {kind: ClusterPolicy}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    metadata:
      annotations: {vault.hashicorp.com/agent-inject: "true"}
    spec:
      containers: [{name: api, image: shop/api:1}]
"""


def test_detect_tools_with_evidence() -> None:
    tools = detect_tools(Inventory(objects_from_text(TOOLS)))
    (logger,) = tools.of(ToolCategory.LOGGING_AGENT)
    assert logger.tool == "Promtail" and "image" in logger.evidence[0]
    assert [t.tool for t in tools.of(ToolCategory.POLICY_ENGINE)] == ["Kyverno"]
    assert tools.present(ToolCategory.EXTERNAL_SECRETS)
    assert not tools.present(ToolCategory.GITOPS)


def test_gitops_namespaces_and_latest_manager() -> None:
    objs = objects_from_text(
        """
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
spec: {destination: {namespace: shop}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  namespace: other
  labels: {helm.toolkit.fluxcd.io/name: other}
  managedFields:
  - {manager: helm-controller, operation: Update, time: "2024-01-01T00:00:00Z"}
  - {manager: kubectl-edit, operation: Update, time: "2024-02-01T00:00:00Z"}
  - {manager: kube-controller-manager, operation: Update, subresource: status,
     time: "2024-03-01T00:00:00Z"}
"""
    )
    managed = gitops_namespaces(Inventory(objs))
    assert set(managed) == {"shop", "other"} and managed["shop"].startswith("Argo CD")
    entry = latest_manager(objs[1])
    assert entry is not None and entry.manager == "kubectl-edit" and entry.index == 1
