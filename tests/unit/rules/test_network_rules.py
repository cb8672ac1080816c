"""Network rules: namespace and workload coverage, mesh modes and exposure, with their paths."""

from __future__ import annotations

from kposture.model import Severity, format_path
from support import objects_from_text, violations

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: web:1}]}
"""
INGRESS_ONLY = """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-in, namespace: shop}
spec: {podSelector: {}}
"""


def test_namespace_rule_on_implied_namespace() -> None:
    found = violations("namespace-without-network-policy", objects_from_text(DEPLOYMENT))
    assert len(found) == 1 and "namespace shop holds 1 workload" in found[0].message
    assert not violations(
        "namespace-without-network-policy", objects_from_text(DEPLOYMENT + INGRESS_ONLY)
    )


def test_workload_isolation_messages_and_path() -> None:
    found = violations("workload-not-isolated", objects_from_text(DEPLOYMENT))
    assert "has no NetworkPolicy" in found[0].message
    assert format_path(found[0].path) == "spec.template.metadata.labels"
    egress_only = INGRESS_ONLY.replace(
        "{podSelector: {}}", "{podSelector: {}, policyTypes: [Egress]}"
    )
    found = violations("workload-not-isolated", objects_from_text(DEPLOYMENT + egress_only))
    assert "none of the 1 NetworkPolicies" in found[0].message


def test_ingress_only_policy_leaves_egress_open() -> None:
    objects = objects_from_text(DEPLOYMENT + INGRESS_ONLY)
    assert not violations("workload-not-isolated", objects)
    assert violations("workload-egress-unrestricted", objects)


def test_mesh_paths() -> None:
    text = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p, namespace: shop}
spec:
  mtls: {mode: PERMISSIVE}
  portLevelMtls: {8080: {mode: DISABLE}, 9090: {mode: STRICT}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: d, namespace: shop}
spec:
  host: web
  trafficPolicy:
    portLevelSettings: [{port: {number: 80}, tls: {mode: DISABLE}}]
"""
    found = violations("mesh-mtls-not-strict", objects_from_text(text))
    assert [format_path(v.path) for v in found] == [
        "spec.mtls.mode",
        "spec.portLevelMtls.8080.mode",
        "spec.trafficPolicy.portLevelSettings[0].tls.mode",
    ]
    assert "port 80" in found[2].message


def test_exposure_tls_distinction() -> None:
    ingress = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec: {rules: [{host: a.example.com}]}
"""
    plain = violations("service-exposed", objects_from_text(ingress))
    assert "plain HTTP" in plain[0].message and ("tls", "false") in plain[0].evidence
    secure = ingress.replace("spec: {", "spec: {tls: [{hosts: [a.example.com]}], ")
    found = violations("service-exposed", objects_from_text(secure))
    assert "HTTPS" in found[0].message and ("tls", "true") in found[0].evidence


def test_ingress_without_tls_is_low() -> None:
    text = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec: {rules: [{host: a.example.com}]}
"""
    found = violations("service-exposed", objects_from_text(text))
    assert found[0].severity is Severity.LOW
    secure = text.replace("spec: {", "spec: {tls: [{hosts: [a.example.com]}], ")
    assert violations("service-exposed", objects_from_text(secure))[0].severity is None


ALLOW_ALL = """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{}], egress: [{}]}
"""


def test_allow_everything_policy_is_not_isolation_and_is_named() -> None:
    objects = objects_from_text(DEPLOYMENT + ALLOW_ALL)
    (ingress,) = violations("workload-not-isolated", objects)
    assert ingress.message == (
        "the pods accept traffic from anywhere: NetworkPolicy allow-all allows all ingress: its "
        "ingress rule 0 admits every source on every port"
    )
    assert ingress.evidence == (("policy", "allow-all"),)
    assert format_path(ingress.path) == "spec.template.metadata.labels"
    (egress,) = violations("workload-egress-unrestricted", objects)
    assert "NetworkPolicy allow-all allows all egress" in egress.message
    assert "every destination on every port" in egress.message


def test_every_source_on_some_ports_is_isolation() -> None:
    some_ports = ALLOW_ALL.replace(
        "ingress: [{}], egress: [{}]",
        "ingress: [{ports: [{port: 8080}]}], egress: [{ports: [{port: 53, protocol: UDP}]}]",
    )
    objects = objects_from_text(DEPLOYMENT + some_ports)
    assert not violations("workload-not-isolated", objects)
    assert not violations("workload-egress-unrestricted", objects)


def test_host_network_pods_are_left_to_host_network() -> None:
    text = """
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver-cp, namespace: kube-system}
spec:
  hostNetwork: true
  containers: [{name: kube-apiserver, image: registry.k8s.io/kube-apiserver:v1.30.2}]
"""
    objs = objects_from_text(text)
    assert violations("workload-not-isolated", objs) == []
    assert violations("workload-egress-unrestricted", objs) == []
    assert violations("host-network", objs)
    judged = objects_from_text(text.replace("hostNetwork: true", "hostNetwork: false"))
    assert violations("workload-not-isolated", judged)
    assert violations("workload-egress-unrestricted", judged)
