"""Reading one pod, and what containing it needs, from a live cluster: ``read_pod``.

Owns the least-privilege read behind ``respond isolate --cluster``. It reads the pod (a get by name
in its namespace; without a namespace, the pods of that name in every namespace, by field
selector), the NetworkPolicies of the pod's namespace, and, only when asked, the pods of that
namespace carrying given labels (by label selector). Nothing else: no discovery, no ClusterFacts
probes, never Secrets or ConfigMaps, so a responder needs only get/list on pods and list on
networkpolicies, and the read raises no secret-read alert. What could not be read is an
``InputError`` naming the request; objects are located like a cluster scan's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kposture.model import InputError, K8sObject, SourceLocation
from kposture.sources.cluster import CLUSTER_ORIGIN, input_name
from kposture.sources.cluster_config import Connection, connect
from kposture.sources.cluster_kinds import CATALOGUE, ServedKind
from kposture.sources.cluster_listing import KindListing, get_object, list_kind
from kposture.sources.manifests import LoadedManifests
from kposture.sources.objects import resource_ref


def _served(kind: str) -> ServedKind:
    spec = next(spec for spec in CATALOGUE if spec.kind == kind)
    return ServedKind(spec, spec.versions[0])


POD = _served("Pod")
NETWORK_POLICY = _served("NetworkPolicy")
READ_KINDS = (POD.kind, NETWORK_POLICY.kind)
"""Every kind ``read_pod`` may request."""


def read_pod(
    name: str,
    namespace: str | None,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    peers: Mapping[str, str] | None = None,
    connection: Connection | None = None,
) -> LoadedManifests:
    """The pod ``name`` (in ``namespace``, else in whichever namespaces have one of that name) and,
    once it is found in exactly one namespace, that namespace's NetworkPolicies and, when
    ``peers`` is given, its pods carrying those labels (the pod's own labels when ``peers`` is
    empty). Raises ``ClusterError`` only when the cluster cannot be reached or configured."""
    conn = connection or connect(kubeconfig, context, pool_size=2)
    origin = input_name(conn.context)
    location = SourceLocation(origin, 0, 0, CLUSTER_ORIGIN)
    errors: list[InputError] = []
    pods = _find_pod(conn, name, namespace, origin, errors)
    items = list(pods)
    spaces = {_namespace(pod) for pod in pods}
    if len(spaces) == 1:
        where = spaces.pop()
        listings = [list_kind(conn.transport, NETWORK_POLICY, [where])]
        if peers is not None:
            labels = peers or _labels(pods[0])
            if labels:
                selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
                listings.append(
                    list_kind(conn.transport, POD, [where], selectors=[("labelSelector", selector)])
                )
        for listing in listings:
            # The pod itself, read already, is also among the pods carrying its labels.
            items.extend(item for item in listing.items if not _is_pod(item, name))
            errors.extend(_listing_errors(listing, origin))
    objects = tuple(K8sObject(resource_ref(item), item, location) for item in items)
    note = f"{origin}: read {len(objects)} objects for pod {name} from {conn.server}"
    return LoadedManifests(objects, tuple(errors), (note,), (origin,))


def _find_pod(
    conn: Connection, name: str, namespace: str | None, origin: str, errors: list[InputError]
) -> list[dict[str, Any]]:
    if namespace is not None:
        fetched = get_object(conn.transport, POD, namespace, name)
        if fetched.problem:
            errors.append(InputError(origin, 0, fetched.problem, fetched.level))
        return [fetched.item] if fetched.item is not None else []
    listing = list_kind(
        conn.transport, POD, None, selectors=[("fieldSelector", f"metadata.name={name}")]
    )
    errors.extend(_listing_errors(listing, origin))
    return listing.items


def _listing_errors(listing: KindListing, origin: str) -> list[InputError]:
    if not listing.problem:
        return []
    # The catalogue's coverage sentence is about scan rules, not this read.
    problem = listing.problem.removesuffix(f"; {listing.served.spec.lost_coverage()}")
    return [InputError(origin, 0, problem, listing.level)]


def _is_pod(item: Mapping[str, Any], name: str) -> bool:
    return item.get("kind") == POD.kind and _metadata(item).get("name") == name


def _metadata(item: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = item.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _namespace(item: Mapping[str, Any]) -> str:
    return str(_metadata(item).get("namespace") or "")


def _labels(item: Mapping[str, Any]) -> dict[str, str]:
    labels = _metadata(item).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
