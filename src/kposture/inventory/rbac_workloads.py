"""Workloads whose ServiceAccount holds risky RBAC capabilities: the pod is the foothold, its token
the prize.

For every workload that runs pods (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
ReplicationController; a pod or ReplicaSet its controlling owner in the inventory stands for is
left to the owner, as the scan does, and static pods run without a ServiceAccount), the
ServiceAccount it runs as (``serviceAccountName``, the deprecated ``serviceAccount``, else
``default``) is looked up as a requester with its implicit groups (``system:serviceaccounts``,
``system:serviceaccounts:<ns>``, ``system:authenticated``) and its risky capabilities collected
through ``rbac_permissions.capabilities_of``. Whether the token is in the pod: the pod spec's
``automountServiceAccountToken`` wins; when unset, the ServiceAccount object (if in the inventory)
decides; else it is mounted, the API default. Exposure: the Services of the namespace whose
selector matches the pods (LoadBalancer and NodePort, or ``externalIPs``, reach beyond the cluster)
and the Ingresses whose rules or default backend send traffic to one of those Services.

Ranking: workloads with a mounted token first; then by ``score``, the rank of the worst capability
(info 1 .. critical 5) times the exposure weight (3 from outside the cluster, 2 through a
ClusterIP Service only, 1 not exposed). Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kposture.inventory.components import is_static_pod
from kposture.inventory.network import (
    EXTERNAL_SERVICE_TYPES,
    effective_namespace,
    service_type,
    services_exposing,
)
from kposture.inventory.objects import Inventory
from kposture.inventory.owners import inventory_coverage
from kposture.inventory.rbac_capabilities import Holding
from kposture.inventory.rbac_graph import Principal
from kposture.inventory.rbac_permissions import capabilities_of
from kposture.inventory.service_accounts import (
    lookup_service_account,
    service_account_of,
    token_mount,
)
from kposture.inventory.workloads import pod_spec
from kposture.model import K8sObject, Severity

POD_KINDS: tuple[str, ...] = (
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
)
"""Kinds that run pods (a PodTemplate carries a pod spec but runs nothing)."""

EXTERNAL_WEIGHT = 3
INTERNAL_WEIGHT = 2
UNEXPOSED_WEIGHT = 1


@dataclass(frozen=True, slots=True)
class Exposure:
    """A way traffic reaches the workload's pods: a Service (``kind`` Service, ``type`` its
    ``spec.type``) or an Ingress (``type`` Ingress, ``route`` ``host/path -> service``)."""

    kind: str
    namespace: str
    name: str
    type: str
    external: bool
    route: str = ""


@dataclass(frozen=True, slots=True)
class RiskyWorkload:
    """A workload, the ServiceAccount its pods run as, whether the token is mounted (and why),
    the risky capabilities the ServiceAccount holds, and what exposes the pods."""

    workload: K8sObject
    namespace: str
    service_account: str
    token_mounted: bool
    token_reason: str
    holdings: tuple[Holding, ...]
    exposures: tuple[Exposure, ...]

    @property
    def severity(self) -> Severity:
        return max((h.capability.severity for h in self.holdings), key=lambda s: s.rank)

    @property
    def exposure_weight(self) -> int:
        if any(e.external for e in self.exposures):
            return EXTERNAL_WEIGHT
        return INTERNAL_WEIGHT if self.exposures else UNEXPOSED_WEIGHT

    @property
    def score(self) -> int:
        return (self.severity.rank + 1) * self.exposure_weight


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _backends(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(``host/path`` or ``*``, service name) for every backend of an Ingress spec (networking/v1
    ``backend.service.name`` and the older ``backend.serviceName``)."""
    default = _mapping(spec.get("defaultBackend") or spec.get("backend"))
    name = _backend_service(default)
    if name:
        yield "*", name
    rules = spec.get("rules")
    for raw_rule in rules if isinstance(rules, list) else ():
        rule = _mapping(raw_rule)
        host = str(rule.get("host") or "*")
        paths = _mapping(rule.get("http")).get("paths")
        for raw_path in paths if isinstance(paths, list) else ():
            path = _mapping(raw_path)
            name = _backend_service(_mapping(path.get("backend")))
            if name:
                yield f"{host}{path.get('path') or '/'}", name


def _backend_service(backend: Mapping[str, Any]) -> str:
    service = _mapping(backend.get("service")).get("name") or backend.get("serviceName")
    return service if isinstance(service, str) else ""


def exposures(obj: K8sObject, inventory: Inventory) -> tuple[Exposure, ...]:
    """The Services whose selector matches the workload's pods, and the Ingress routes to them."""
    namespace = effective_namespace(obj.ref.namespace)
    found: list[Exposure] = []
    names: set[str] = set()
    for service in services_exposing(obj, inventory):
        kind = service_type(service)
        external_ips = _mapping(service.raw.get("spec")).get("externalIPs")
        external = kind in EXTERNAL_SERVICE_TYPES or bool(external_ips)
        names.add(service.ref.name)
        found.append(Exposure("Service", namespace, service.ref.name, kind, external))
    if not names:
        return ()
    for ingress in inventory.of_kind("Ingress"):
        if effective_namespace(ingress.ref.namespace) != namespace:
            continue
        for route, service_name in _backends(_mapping(ingress.raw.get("spec"))):
            if service_name in names:
                found.append(
                    Exposure(
                        "Ingress",
                        namespace,
                        ingress.ref.name,
                        "Ingress",
                        True,
                        f"{route} -> {service_name}",
                    )
                )
    return tuple(found)


def risky_workloads(inventory: Inventory, namespace: str = "") -> tuple[RiskyWorkload, ...]:
    """Every workload (only those of ``namespace`` when given) whose ServiceAccount holds a risky
    capability, ranked: mounted tokens first, then by score, namespace and name."""
    covered = inventory_coverage(inventory).covered
    found: list[RiskyWorkload] = []
    principals: dict[tuple[str, str], tuple[Holding, ...]] = {}
    for kind in POD_KINDS:
        for obj in inventory.of_kind(kind):
            where = effective_namespace(obj.ref.namespace)
            if (namespace and where != namespace) or id(obj) in covered or is_static_pod(obj):
                continue
            ref = pod_spec(obj)
            if ref is None:
                continue
            account = service_account_of(ref.spec)[0]
            key = (where, account)
            if key not in principals:
                principal = Principal.of_service_account(where, account)
                principals[key] = capabilities_of(inventory, principal)
            holdings = principals[key]
            if not holdings:
                continue
            mounted, reason = token_mount(
                ref.spec, lookup_service_account(inventory, where, account)
            )
            found.append(
                RiskyWorkload(
                    obj, where, account, mounted, reason, holdings, exposures(obj, inventory)
                )
            )
    found.sort(
        key=lambda w: (
            not w.token_mounted,
            -w.score,
            w.namespace,
            w.workload.ref.kind,
            w.workload.ref.name,
        )
    )
    return tuple(found)
