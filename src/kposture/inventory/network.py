"""East-west views: NetworkPolicy coverage of pods and exposure of pods through Services.

Owns the reading of NetworkPolicy objects (pod selector, effective ``policyTypes`` with the API's
defaulting, rules that allow every peer on every port), an index of policies and workloads by
namespace memoised on the inventory (built once per scan, so per-workload questions cost only the
policies of one namespace), and the Service selector helpers that say which workloads a Service
exposes. Objects without a namespace in a manifest are read as ``default``, where ``kubectl apply``
usually puts them. Pure: the memo only caches values computed from the inventory's immutable objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kposture.inventory.objects import Inventory
from kposture.inventory.workloads import WORKLOAD_KINDS, pod_template_metadata
from kposture.model import K8sObject, LabelSelector

DEFAULT_NAMESPACE = "default"
_POLICIES_MEMO = "network.policies_by_namespace"
_WORKLOADS_MEMO = "network.workloads_by_namespace"
_SELECTOR_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


def effective_namespace(namespace: str) -> str:
    """The namespace an object lands in: its own, or ``default`` when a manifest names none."""
    return namespace or DEFAULT_NAMESPACE


@dataclass(frozen=True, slots=True)
class OpenRule:
    """A NetworkPolicy rule that allows every peer on every port: its index in ``ingress`` or
    ``egress`` and which peers it lets through (``"any peer"`` when it lists none)."""

    index: int
    peers: str


@dataclass(frozen=True, slots=True)
class PolicyView:
    """One NetworkPolicy as the network plugin reads it.

    ``selector`` is None when the pod selector is malformed (it then selects nothing).
    ``isolates_ingress`` / ``isolates_egress`` follow the effective ``policyTypes``.
    ``open_ingress`` / ``open_egress`` give the first rule, in a direction the policy isolates, that
    allows every peer on every port (see ``open_rule``), or None.
    """

    obj: K8sObject
    namespace: str
    selector: LabelSelector | None
    isolates_ingress: bool
    isolates_egress: bool
    open_ingress: OpenRule | None = None
    open_egress: OpenRule | None = None

    def selects(self, labels: Mapping[str, str]) -> bool:
        return self.selector is not None and self.selector.matches(labels)


def parse_selector(raw: object) -> LabelSelector | None:
    """A ``LabelSelector`` from a Kubernetes selector mapping; absent or ``{}`` selects everything,
    None for a malformed selector (unknown operator, non-mapping)."""
    if raw is None:
        return LabelSelector()
    if not isinstance(raw, Mapping):
        return None
    labels = raw.get("matchLabels") or {}
    expressions = raw.get("matchExpressions") or []
    if not isinstance(labels, Mapping) or not isinstance(expressions, list):
        return None
    parsed: list[tuple[str, str, tuple[str, ...]]] = []
    for expression in expressions:
        if not isinstance(expression, Mapping):
            return None
        operator = expression.get("operator")
        values = expression.get("values") or []
        if operator not in _SELECTOR_OPERATORS or not isinstance(values, list):
            return None
        parsed.append((str(expression.get("key", "")), operator, tuple(str(v) for v in values)))
    return LabelSelector(
        tuple((str(key), str(value)) for key, value in labels.items()), tuple(parsed)
    )


def policy_types(spec: Mapping[str, Any]) -> tuple[bool, bool]:
    """(isolates ingress, isolates egress) of a NetworkPolicy spec.

    An explicit ``policyTypes`` list decides. Without it the API server defaults to Ingress, plus
    Egress when the policy has at least one egress rule (an empty ``egress: []`` does not count).
    """
    types = spec.get("policyTypes")
    if isinstance(types, list):
        return "Ingress" in types, "Egress" in types
    egress = spec.get("egress")
    return True, isinstance(egress, list) and len(egress) > 0


_EVERY_ADDRESS = frozenset({"0.0.0.0/0", "::/0"})


def _empty_selector(raw: object) -> bool:
    return (
        isinstance(raw, Mapping) and not raw.get("matchLabels") and not raw.get("matchExpressions")
    )


def _everyone(peer: object) -> str | None:
    """What an ``ingress.from`` / ``egress.to`` peer matches when it matches everybody, else None.

    ``namespaceSelector: {}`` without a narrowing podSelector is every pod of every namespace; an
    ipBlock of ``0.0.0.0/0`` or ``::/0`` without ``except`` is every address (whether plugins apply
    ipBlocks to pod IPs varies; the author asked for everything).
    """
    if not isinstance(peer, Mapping):
        return None
    block = peer.get("ipBlock")
    if isinstance(block, Mapping):
        if block.get("cidr") in _EVERY_ADDRESS and not block.get("except"):
            return f"every address ({block.get('cidr')})"
        return None
    namespaces = peer.get("namespaceSelector")
    pods = peer.get("podSelector")
    if _empty_selector(namespaces) and (pods is None or _empty_selector(pods)):
        return "every pod in every namespace"
    return None


def open_rule(rules: object, peer_field: str) -> OpenRule | None:
    """The first rule of an ``ingress`` or ``egress`` list that allows every peer on every port.

    A rule with no (or an empty) ``from``/``to`` list allows every peer; one with no (or an empty)
    ``ports`` list applies to every port. A rule that allows every peer on some ports only is not
    open: it is a deliberate exposure of those ports, and the pod's other ports stay closed.
    """
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, Mapping) or rule.get("ports"):
            continue
        peers = rule.get(peer_field)
        if not peers:
            return OpenRule(index, "any peer")
        for peer in peers if isinstance(peers, list) else []:
            everyone = _everyone(peer)
            if everyone is not None:
                return OpenRule(index, everyone)
    return None


def policy_view(obj: K8sObject) -> PolicyView:
    """Read one NetworkPolicy object."""
    spec = obj.raw.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    ingress, egress = policy_types(spec)
    return PolicyView(
        obj,
        effective_namespace(obj.ref.namespace),
        parse_selector(spec.get("podSelector")),
        ingress,
        egress,
        open_rule(spec.get("ingress"), "from") if ingress else None,
        open_rule(spec.get("egress"), "to") if egress else None,
    )


def policies_by_namespace(inventory: Inventory) -> Mapping[str, tuple[PolicyView, ...]]:
    """Every NetworkPolicy of the scan, read once and grouped by effective namespace."""
    memo = inventory.derived
    cached: Mapping[str, tuple[PolicyView, ...]] | None = memo.get(_POLICIES_MEMO)
    if cached is None:
        grouped: defaultdict[str, list[PolicyView]] = defaultdict(list)
        for obj in inventory.of_kind("NetworkPolicy"):
            view = policy_view(obj)
            grouped[view.namespace].append(view)
        cached = {namespace: tuple(views) for namespace, views in grouped.items()}
        memo[_POLICIES_MEMO] = cached
    return cached


def policies_in(inventory: Inventory, namespace: str) -> tuple[PolicyView, ...]:
    """The NetworkPolicies of one namespace (``''`` is read as ``default``)."""
    return policies_by_namespace(inventory).get(effective_namespace(namespace), ())


def workloads_by_namespace(inventory: Inventory) -> Mapping[str, tuple[K8sObject, ...]]:
    """Every workload (any kind with a pod template) grouped by effective namespace."""
    memo = inventory.derived
    cached: Mapping[str, tuple[K8sObject, ...]] | None = memo.get(_WORKLOADS_MEMO)
    if cached is None:
        grouped: defaultdict[str, list[K8sObject]] = defaultdict(list)
        for kind in WORKLOAD_KINDS:
            for obj in inventory.of_kind(kind):
                grouped[effective_namespace(obj.ref.namespace)].append(obj)
        cached = {namespace: tuple(objs) for namespace, objs in grouped.items()}
        memo[_WORKLOADS_MEMO] = cached
    return cached


def pod_labels(obj: K8sObject) -> dict[str, str]:
    """The labels the pods of a workload carry (its own for a Pod, its template's otherwise)."""
    meta = pod_template_metadata(obj)
    labels = meta.spec.get("labels") if meta is not None else None
    if not isinstance(labels, Mapping):
        return {}
    return {str(key): "" if value is None else str(value) for key, value in labels.items()}


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which NetworkPolicies select a workload's pods, split by the direction they isolate.

    Policies add up: when any policy of ``ingress`` has an open rule the pods accept every source on
    every port whatever the others say, so ``ingress_open`` (resp. ``egress_open``) lists those and
    ``isolated_ingress`` (resp. ``restricted_egress``) is true only when some policy selects the pods
    for that direction and none of them is open.
    """

    namespace: str
    policies_in_namespace: int
    ingress: tuple[PolicyView, ...]
    egress: tuple[PolicyView, ...]

    @property
    def ingress_open(self) -> tuple[PolicyView, ...]:
        return tuple(policy for policy in self.ingress if policy.open_ingress is not None)

    @property
    def egress_open(self) -> tuple[PolicyView, ...]:
        return tuple(policy for policy in self.egress if policy.open_egress is not None)

    @property
    def isolated_ingress(self) -> bool:
        return bool(self.ingress) and not self.ingress_open

    @property
    def restricted_egress(self) -> bool:
        return bool(self.egress) and not self.egress_open


def coverage(obj: K8sObject, inventory: Inventory) -> Coverage:
    """The NetworkPolicy coverage of one workload's pods."""
    namespace = effective_namespace(obj.ref.namespace)
    policies = policies_by_namespace(inventory).get(namespace, ())
    labels = pod_labels(obj) if policies else {}
    selecting = [policy for policy in policies if policy.selects(labels)]
    return Coverage(
        namespace,
        len(policies),
        tuple(policy for policy in selecting if policy.isolates_ingress),
        tuple(policy for policy in selecting if policy.isolates_egress),
    )


# --- exposure -------------------------------------------------------------------------------------

EXTERNAL_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort"})


def service_selector(service: K8sObject) -> dict[str, str]:
    """A Service's pod selector (equality only); empty when it has none (manual endpoints)."""
    spec = service.raw.get("spec")
    selector = spec.get("selector") if isinstance(spec, Mapping) else None
    if not isinstance(selector, Mapping):
        return {}
    return {str(key): "" if value is None else str(value) for key, value in selector.items()}


def service_type(service: K8sObject) -> str:
    """``spec.type`` of a Service, ``ClusterIP`` when unset."""
    spec = service.raw.get("spec")
    value = spec.get("type") if isinstance(spec, Mapping) else None
    return value if isinstance(value, str) and value else "ClusterIP"


def selected_workloads(service: K8sObject, inventory: Inventory) -> tuple[K8sObject, ...]:
    """The workloads of the Service's namespace whose pods its selector matches.

    A Service without a selector selects no pods (its endpoints are managed by hand).
    """
    selector = service_selector(service)
    if not selector:
        return ()
    namespace = effective_namespace(service.ref.namespace)
    return tuple(
        obj
        for obj in workloads_by_namespace(inventory).get(namespace, ())
        if _labels_match(selector, pod_labels(obj))
    )


def services_exposing(obj: K8sObject, inventory: Inventory) -> tuple[K8sObject, ...]:
    """The Services of the workload's namespace whose selector matches its pods."""
    namespace = effective_namespace(obj.ref.namespace)
    labels = pod_labels(obj)
    return tuple(
        service
        for service in inventory.of_kind("Service")
        if effective_namespace(service.ref.namespace) == namespace
        and (selector := service_selector(service))
        and _labels_match(selector, labels)
    )


def _labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def namespaces_with_workloads(inventory: Inventory) -> Sequence[str]:
    """The effective namespaces that hold at least one workload."""
    return tuple(workloads_by_namespace(inventory))
