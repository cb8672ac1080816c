"""East-west traffic: NetworkPolicy coverage of namespaces and workloads, service-mesh mTLS modes,
and Services, Ingresses and Routes that expose pods outside the cluster (CIS Kubernetes Benchmark
5.3.2, OWASP Kubernetes Top 10 K07).

Owns the network rules. Coverage comes from ``inventory.network`` (every NetworkPolicy of the scan,
indexed by namespace once per inventory); the rules only phrase what it finds. ``hostNetwork`` pods
are left to ``host-network``: NetworkPolicy cannot isolate the node's network. Mesh settings are
judged on the object that weakens mTLS (an Istio PeerAuthentication or DestinationRule, a Linkerd
annotation on a Namespace or pod template), so the finding points at the offending field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from kposture.inventory import (
    WORKLOAD_KINDS,
    Inventory,
    PolicyView,
    coverage,
    effective_namespace,
    pod_spec,
    pod_template_metadata,
    policies_in,
    service_type,
    workloads_by_namespace,
)
from kposture.model import (
    Domain,
    JsonPath,
    K8sObject,
    Reference,
    Severity,
    Stage,
    Violation,
)
from kposture.rules._references import CIS, K07, MITRE, NETWORK_SEPARATION, NSA
from kposture.rules._templates import rule_meta
from kposture.rules.base import Rule

NETWORK_POLICIES = Reference(NSA, "Network separation and hardening", "Network policies")
PUBLIC_FACING = Reference(MITRE, "T1190")
"""MITRE ATT&CK: exploit public-facing application."""
LINKERD_POLICY = "config.linkerd.io/default-inbound-policy"
LINKERD_WEAK = frozenset({"all-unauthenticated", "cluster-unauthenticated"})
ISTIO_WEAK = frozenset({"PERMISSIVE", "DISABLE"})
MESH_KINDS: tuple[str, ...] = (
    "PeerAuthentication",
    "DestinationRule",
    "Namespace",
    *WORKLOAD_KINDS,
)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _spec(obj: K8sObject) -> Mapping[str, Any]:
    return _mapping(obj.raw.get("spec"))


# --- NetworkPolicy coverage -----------------------------------------------------------------------


def _controller_key(obj: K8sObject) -> tuple[str, str] | None:
    refs = obj.metadata.get("ownerReferences")
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return str(ref.get("kind", "")), str(ref.get("name", ""))
    return None


def _top_level_workloads(workloads: tuple[K8sObject, ...]) -> list[K8sObject]:
    """The workloads of one namespace that no other of them controls: a Deployment stands for its
    ReplicaSets and their pods, whatever their count."""
    present = {(w.ref.kind, w.ref.name) for w in workloads}
    return [w for w in workloads if _controller_key(w) not in present]


def _namespace_without_policy(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    namespace = obj.ref.name
    workloads = workloads_by_namespace(inventory).get(effective_namespace(namespace), ())
    if not workloads or policies_in(inventory, namespace):
        return
    count = len(_top_level_workloads(workloads))
    # The count is in the message only: the evidence is part of the fingerprint, which must not
    # change whenever a Deployment scales.
    yield Violation(
        f"namespace {namespace} holds {count} workload{'s' if count != 1 else ''} and no "
        "NetworkPolicy, so every pod in it accepts traffic from any pod in the cluster",
        ("metadata", "name"),
    )


Evidence = tuple[tuple[str, str], ...]


def _open_policy(policies: tuple[PolicyView, ...], direction: str) -> tuple[str, Evidence]:
    """The sentence and evidence naming the first policy that allows all traffic."""
    policy = policies[0]
    rule = policy.open_ingress if direction == "ingress" else policy.open_egress
    assert rule is not None  # callers pass only open policies
    noun = "source" if direction == "ingress" else "destination"
    peers = f"every {noun}" if rule.peers == "any peer" else rule.peers
    sentence = (
        f"NetworkPolicy {policy.obj.ref.name} allows all {direction}: its {direction} rule "
        f"{rule.index} admits {peers} on every port"
    )
    return sentence, (("policy", policy.obj.ref.name),)


def _host_network(obj: K8sObject) -> bool:
    """Pods on the node's network namespace: NetworkPolicy cannot select their traffic, and
    ``host-network`` already reports them."""
    ref = pod_spec(obj)
    return ref is not None and ref.spec.get("hostNetwork") is True


def _not_isolated(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    if pod_template_metadata(obj) is None or _host_network(obj):
        return
    found = coverage(obj, inventory)
    if found.isolated_ingress:
        return
    evidence: Evidence = ()
    if found.ingress_open:
        detail, evidence = _open_policy(found.ingress_open, "ingress")
    elif found.policies_in_namespace:
        detail = (
            f"none of the {found.policies_in_namespace} NetworkPolicies of namespace "
            f"{found.namespace} selects its pods for ingress"
        )
    else:
        detail = f"namespace {found.namespace} has no NetworkPolicy"
    yield Violation(f"the pods accept traffic from anywhere: {detail}", _labels_path(obj), evidence)


def _egress_unrestricted(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    if pod_template_metadata(obj) is None or _host_network(obj):
        return
    found = coverage(obj, inventory)
    if found.restricted_egress:
        return
    if found.egress_open:
        detail, evidence = _open_policy(found.egress_open, "egress")
        yield Violation(
            f"the pods may connect anywhere: {detail} (other namespaces, the API server, cloud "
            "metadata endpoints, the internet)",
            _labels_path(obj),
            evidence,
        )
        return
    yield Violation(
        "no NetworkPolicy with policyTypes Egress selects the pods, so they may connect anywhere "
        "(other namespaces, the API server, cloud metadata endpoints, the internet)",
        _labels_path(obj),
    )


def _labels_path(obj: K8sObject) -> JsonPath:
    meta = pod_template_metadata(obj)
    return (*meta.path, "labels") if meta is not None else ("metadata", "labels")


# --- service mesh ---------------------------------------------------------------------------------


def _peer_authentication(obj: K8sObject) -> Iterator[Violation]:
    spec = _spec(obj)
    mode = _mapping(spec.get("mtls")).get("mode")
    if mode in ISTIO_WEAK:
        yield Violation(
            f"PeerAuthentication sets mtls.mode: {mode}, so plain-text traffic is accepted",
            ("spec", "mtls", "mode"),
            (("mode", str(mode)),),
        )
    for port, settings in _mapping(spec.get("portLevelMtls")).items():
        port_mode = _mapping(settings).get("mode")
        if port_mode in ISTIO_WEAK:
            yield Violation(
                f"PeerAuthentication sets mode {port_mode} on port {port}",
                ("spec", "portLevelMtls", str(port), "mode"),
                (("mode", str(port_mode)), ("port", str(port))),
            )


def _tls_disabled(policy: object, path: JsonPath, where: str) -> Iterator[Violation]:
    mode = _mapping(_mapping(policy).get("tls")).get("mode")
    if mode == "DISABLE":
        yield Violation(
            f"DestinationRule disables TLS {where}", (*path, "tls", "mode"), (("where", where),)
        )


def _destination_rule(obj: K8sObject) -> Iterator[Violation]:
    spec = _spec(obj)
    policy = spec.get("trafficPolicy")
    base: JsonPath = ("spec", "trafficPolicy")
    yield from _tls_disabled(policy, base, "for the host")
    ports = _mapping(policy).get("portLevelSettings")
    for index, settings in enumerate(ports if isinstance(ports, list) else []):
        port = _mapping(_mapping(settings).get("port")).get("number", index)
        yield from _tls_disabled(settings, (*base, "portLevelSettings", index), f"on port {port}")
    subsets = spec.get("subsets")
    for index, subset in enumerate(subsets if isinstance(subsets, list) else []):
        name = _mapping(subset).get("name", index)
        yield from _tls_disabled(
            _mapping(subset).get("trafficPolicy"),
            ("spec", "subsets", index, "trafficPolicy"),
            f"for subset {name}",
        )


def _linkerd(annotations: Mapping[str, Any], path: JsonPath, what: str) -> Iterator[Violation]:
    value = annotations.get(LINKERD_POLICY)
    if value in LINKERD_WEAK:
        yield Violation(
            f"{what} sets {LINKERD_POLICY}: {value}, so Linkerd admits unauthenticated traffic",
            (*path, "annotations", LINKERD_POLICY),
            (("policy", str(value)),),
        )


def _mesh_mtls(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    kind = obj.ref.kind
    if kind == "PeerAuthentication":
        yield from _peer_authentication(obj)
    elif kind == "DestinationRule":
        yield from _destination_rule(obj)
    elif kind == "Namespace":
        yield from _linkerd(obj.annotations, ("metadata",), "the namespace")
    else:
        meta = pod_template_metadata(obj)
        if meta is not None:
            yield from _linkerd(_mapping(meta.spec.get("annotations")), meta.path, "the pod")


# --- exposure -------------------------------------------------------------------------------------


def _service_exposed(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    kind = obj.ref.kind
    spec = _spec(obj)
    if kind == "Service":
        exposure = service_type(obj)
        if exposure in ("LoadBalancer", "NodePort"):
            where = (
                "on every node's IP" if exposure == "NodePort" else "through a cloud load balancer"
            )
            yield Violation(
                f"Service of type {exposure} is reachable from outside the cluster {where}",
                ("spec", "type"),
                (("exposure", exposure),),
            )
        external = spec.get("externalIPs")
        if isinstance(external, list) and external:
            yield Violation(
                f"Service accepts traffic on external IPs {', '.join(map(str, external))}",
                ("spec", "externalIPs"),
                (("exposure", "externalIPs"),),
            )
    elif kind in ("Ingress", "Route"):
        yield from _http_exposure(obj, spec)


def _http_exposure(obj: K8sObject, spec: Mapping[str, Any]) -> Iterator[Violation]:
    tls = spec.get("tls")
    has_tls = bool(tls)
    noun = "Ingress" if obj.ref.kind == "Ingress" else "OpenShift Route"
    if has_tls:
        yield Violation(
            f"{noun} exposes pods over HTTPS outside the cluster",
            ("spec", "tls"),
            (("exposure", obj.ref.kind), ("tls", "true")),
        )
    else:
        # Plain HTTP is worse than the TLS case: this finding carries low severity instead of the
        # rule's info, and the evidence says so for threat vectors.
        yield Violation(
            f"{noun} exposes pods outside the cluster over plain HTTP (no spec.tls): "
            "traffic and credentials can be read or altered in transit",
            ("spec", "tls"),
            (("exposure", obj.ref.kind), ("tls", "false")),
            severity=Severity.LOW,
        )


# --- metadata -------------------------------------------------------------------------------------


_meta = partial(rule_meta, domain=Domain.EAST_WEST_TRAFFIC)


DEFAULT_DENY = (
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n"
    "  namespace: shop\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"
)

RULES: tuple[Rule, ...] = (
    Rule(
        _meta(
            "namespace-without-network-policy",
            "Namespace with workloads and no NetworkPolicy",
            Severity.MEDIUM,
            Stage.CRAWL,
            ("Namespace",),
            remediation=(
                "Add a default-deny NetworkPolicy to the namespace and allow only the traffic "
                "its workloads need."
            ),
            description=(
                "Without any NetworkPolicy every pod in the namespace accepts connections from "
                "every pod in the cluster, so one compromised workload anywhere can reach its "
                "databases and admin ports directly. Declared namespaces and namespaces that "
                "scanned objects use without declaring are judged; objects with no namespace "
                "count as default, which is judged only when declared."
            ),
            references=(Reference(CIS, "5.3.2"), K07, NETWORK_POLICIES),
            fix_snippet=DEFAULT_DENY,
        ),
        _namespace_without_policy,
    ),
    Rule(
        _meta(
            "workload-not-isolated",
            "Workload not isolated by an ingress NetworkPolicy",
            Severity.MEDIUM,
            Stage.WALK,
            WORKLOAD_KINDS,
            remediation=(
                "Select the workload's pods with a NetworkPolicy whose policyTypes include Ingress."
            ),
            description=(
                "Pods no ingress NetworkPolicy selects accept traffic from any pod in the "
                "cluster, the path of lateral movement after a first compromise. A policy counts "
                "when its podSelector (matchLabels and matchExpressions; {} selects every pod) "
                "matches the pod template's labels and its effective policyTypes include "
                "Ingress; an egress-only policy does not isolate ingress. Policies add up, so the "
                "pods are not isolated when any selecting policy has an ingress rule that allows "
                "every source on every port: a rule with no (or an empty) from list, or whose "
                "peers include namespaceSelector: {} without a narrowing podSelector or an "
                "ipBlock of 0.0.0.0/0 or ::/0 without except, and no ports (the finding names "
                "the policy). A rule allowing every source on listed ports only still isolates: it "
                "exposes those ports on purpose and closes the others. Unlike Polaris a policy "
                "with no ingress rules (deny all) counts as isolating. Pods with hostNetwork: "
                "true are skipped: they use the node's network, which NetworkPolicy cannot "
                "isolate (host-network reports them)."
            ),
            references=(Reference(CIS, "5.3.2"), K07, NETWORK_POLICIES),
            fix_snippet=DEFAULT_DENY,
        ),
        _not_isolated,
    ),
    Rule(
        _meta(
            "workload-egress-unrestricted",
            "Workload egress not restricted by a NetworkPolicy",
            Severity.LOW,
            Stage.RUN,
            WORKLOAD_KINDS,
            remediation=(
                "Select the workload's pods with a NetworkPolicy whose policyTypes include Egress "
                "and allow only the destinations they need."
            ),
            description=(
                "Pods no egress NetworkPolicy selects may open connections anywhere: to other "
                "namespaces, the API server, the cloud metadata endpoint that hands out node "
                "credentials, or the internet for exfiltration and command and control. "
                "policyTypes default to Ingress only, plus Egress when the policy has egress "
                "rules; a policy with policyTypes Egress and no rules (deny all) counts. Egress "
                "is still unrestricted when any selecting policy has an egress rule that allows "
                "every destination on every port (no or an empty to list, namespaceSelector: {}, "
                "or an ipBlock of 0.0.0.0/0 or ::/0, and no ports); every destination on listed "
                "ports only (typically DNS on 53) counts as restricted. Pods with hostNetwork: "
                "true are skipped: NetworkPolicy cannot restrict the node's network (host-network "
                "reports them)."
            ),
            references=(K07, NETWORK_POLICIES),
            fix_snippet=DEFAULT_DENY,
        ),
        _egress_unrestricted,
    ),
    Rule(
        _meta(
            "mesh-mtls-not-strict",
            "Service mesh mTLS permissive or disabled",
            Severity.MEDIUM,
            Stage.RUN,
            MESH_KINDS,
            remediation=(
                "Set Istio PeerAuthentication mtls.mode: STRICT (and no DISABLE in "
                "DestinationRules), or a Linkerd authenticated default inbound policy."
            ),
            description=(
                "Permissive or disabled mTLS lets any pod, or anything on the network path, talk "
                "to meshed services in plain text without a workload identity, defeating the "
                "mesh's authentication and encryption. Reported on the object that weakens it: "
                "an Istio PeerAuthentication with mode PERMISSIVE or DISABLE (port-level too), a "
                "DestinationRule with tls.mode DISABLE, or a Linkerd "
                "default-inbound-policy of all- or cluster-unauthenticated on a Namespace or pod "
                "template. The mesh-wide default (Istio is PERMISSIVE) is not inferred from "
                "manifests."
            ),
            references=(K07, Reference(NSA, "Network separation and hardening", "Encryption")),
            fix_snippet=(
                "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
                "  name: default\n  namespace: istio-system\nspec:\n  mtls:\n    mode: STRICT\n"
            ),
        ),
        _mesh_mtls,
    ),
    Rule(
        _meta(
            "service-exposed",
            "Pods exposed outside the cluster",
            Severity.INFO,
            Stage.CRAWL,
            ("Service", "Ingress", "Route"),
            remediation=(
                "Expose pods through a TLS-terminating Ingress only where needed and keep other "
                "Services ClusterIP."
            ),
            description=(
                "A LoadBalancer or NodePort Service, a Service with externalIPs, an Ingress or "
                "an OpenShift Route makes pods reachable from outside the cluster, where "
                "exploiting a public-facing application is the usual way in. The finding maps "
                "the attack surface for threat vectors; an Ingress or Route without spec.tls "
                "serves plain HTTP and is reported at low severity instead of info."
            ),
            references=(PUBLIC_FACING, K07, NETWORK_SEPARATION),
            fix_snippet=(
                "spec:\n  tls:\n  - hosts: [shop.example.com]\n    secretName: shop-tls\n"
            ),
        ),
        _service_exposed,
    ),
)
