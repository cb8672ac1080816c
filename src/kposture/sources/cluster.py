"""Reading a live cluster into located objects: ``load_cluster``.

Owns one cluster read from start to end: connect (``cluster_config``), discover which catalogue
kinds the server serves (``cluster_kinds``), list them concurrently in a small thread pool
(``cluster_listing``), and turn the listed dicts into ``K8sObject``s located at
``cluster:<context>`` (line 0: there is no file line to point at; the resource names the object).
What could not be listed becomes an ``InputError`` per kind, so one forbidden kind never stops the
scan. After listing, one ``ClusterFacts`` object (``cluster_facts``: server version, anonymous
access probe, API endpoint, kubelet configurations, and the ``listing`` block: the namespaces the
scan was limited to and the kinds it could not list) joins the objects, located like them, so scans
and snapshots both carry it. The result also says what was listed, for snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kposture.model import InputError, K8sObject, SourceLocation
from kposture.sources.cluster_config import Connection, connect
from kposture.sources.cluster_facts import EndpointLookup, gather_facts, listing_block
from kposture.sources.cluster_kinds import CATALOGUE, KindSpec, choose_versions, group_versions
from kposture.sources.cluster_listing import KindListing, Progress, discover, list_kind
from kposture.sources.manifests import LoadedManifests
from kposture.sources.objects import resource_ref

CLUSTER_ORIGIN = "cluster"
"""``SourceLocation.origin`` of an object read from the API server."""


@dataclass(frozen=True, slots=True)
class KindSummary:
    """How listing one kind went: its served apiVersion, the count, and any problem."""

    kind: str
    api_version: str
    count: int
    problem: str = ""
    level: str = ""


@dataclass(frozen=True, slots=True)
class ClusterRead:
    """A cluster read: the objects and input errors as a manifest load has them, plus where they
    came from (context, server URL) and a summary per kind."""

    loaded: LoadedManifests
    context: str
    server: str
    namespaces: tuple[str, ...] | None
    kinds: tuple[KindSummary, ...]


def input_name(context: str) -> str:
    return f"cluster:{context}"


def load_cluster(
    kubeconfig: str | None = None,
    context: str | None = None,
    namespaces: Sequence[str] | None = None,
    progress: Progress | None = None,
    *,
    connection: Connection | None = None,
    workers: int = 6,
    catalogue: tuple[KindSpec, ...] = CATALOGUE,
    facts: bool | None = None,
) -> ClusterRead:
    """List every catalogue kind the server serves (in ``namespaces``, or all when None), then add
    the ClusterFacts object. ``facts`` None adds it when the connection carries the probes (an
    anonymous transport or a resolver: every ``connect`` result; hand-made test doubles without
    them list objects only); True or False decides explicitly.

    Raises ``ClusterError`` only when the scan cannot start (configuration, unreachable server,
    rejected credentials); everything after that is reported in ``loaded.errors``.
    """
    conn = connection or connect(kubeconfig, context, pool_size=workers + 2)
    name = input_name(conn.context)
    if facts is None:
        facts = conn.anonymous is not None or conn.resolve is not None
    # The endpoint's name resolves in the background while the kinds are listed.
    lookup = EndpointLookup(conn.server, conn.resolve) if facts else None
    discovery = discover(conn.transport, group_versions(catalogue), workers, conn.server)
    served, missing = choose_versions(discovery.resources, catalogue)
    errors = [InputError(name, 0, problem, "warning") for problem in discovery.problems]
    errors.extend(
        InputError(
            name,
            0,
            f"the server serves no version of {spec.kind} that kposture reads "
            f"(tried {', '.join(spec.versions)}); {spec.lost_coverage()}",
            "warning",
        )
        for spec in missing
    )
    wanted = tuple(dict.fromkeys(namespaces)) if namespaces is not None else None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kposture-list") as pool:
        listings = list(
            pool.map(lambda kind: list_kind(conn.transport, kind, wanted, progress), served)
        )
    location = SourceLocation(name, 0, 0, CLUSTER_ORIGIN)
    objects: list[K8sObject] = []
    notes: list[str] = []
    summaries: list[KindSummary] = []
    for listing in listings:
        items = _in_scope(listing, wanted)
        objects.extend(K8sObject(resource_ref(item), item, location) for item in items)
        summaries.append(_summary(listing, len(items)))
        if listing.problem:
            errors.append(InputError(name, 0, listing.problem, listing.level))
        if listing.relists:
            notes.append(
                f"{name}: {listing.served.spec.plural}: the continue token expired "
                f"{listing.relists} time(s); listed again from the start"
            )
    if wanted is not None:
        errors.extend(
            InputError(name, 0, w, "warning") for w in _absent_namespaces(listings, wanted)
        )
    notes.append(f"{name}: listed {len(objects)} objects of {len(served)} kinds from {conn.server}")
    if lookup is not None:
        nodes = [obj.ref.name for obj in objects if obj.ref.kind == "Node" and obj.ref.name]
        observed = gather_facts(conn, lookup, nodes, workers)
        unlisted = [spec.kind for spec in missing]
        unlisted.extend(listing.served.kind for listing in listings if listing.problem)
        observed.raw["listing"] = listing_block(wanted, unlisted)
        objects.append(K8sObject(resource_ref(observed.raw), observed.raw, location))
        notes.extend(observed.notes)
    loaded = LoadedManifests(tuple(objects), tuple(errors), tuple(notes), (name,))
    return ClusterRead(loaded, conn.context, conn.server, wanted, tuple(summaries))


def _in_scope(listing: KindListing, namespaces: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """A namespace-restricted scan keeps only the Namespace objects asked for; other cluster-scoped
    kinds stay (RBAC and admission rules need them to judge the namespaces)."""
    if namespaces is None or listing.served.kind != "Namespace":
        return list(listing.items)
    keep = set(namespaces)
    return [item for item in listing.items if _name(item) in keep]


def _absent_namespaces(listings: Sequence[KindListing], wanted: tuple[str, ...]) -> list[str]:
    """A warning per requested namespace that has no Namespace object, when Namespaces could be
    listed (otherwise nothing can be told)."""
    namespaces = next((lst for lst in listings if lst.served.kind == "Namespace"), None)
    if namespaces is None or namespaces.problem:
        return []
    present = {_name(item) for item in namespaces.items}
    return [
        f"namespace {namespace} does not exist or cannot be read: no Namespace object of that "
        "name was listed; nothing was scanned in it"
        for namespace in wanted
        if namespace not in present
    ]


def _name(item: dict[str, Any]) -> str:
    meta = item.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def _summary(listing: KindListing, count: int) -> KindSummary:
    return KindSummary(
        listing.served.kind,
        listing.served.api_version,
        count,
        listing.problem,
        listing.level,
    )
