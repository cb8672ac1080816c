"""Discovery and paginated listing of one kind, over a ``Transport``.

Owns what the API server's answers mean: which group/versions and resources it serves, pages with
``limit``/``continue`` (a 410 Gone on a continue token relists the kind from the start), one retry
after a timeout, a reset or a 5xx, and per-kind failures turned into a message that says which rules
lost coverage (a 403 is a warning, a lost server an error). Every page is parsed from JSON into
plain dicts, and Secrets lose ``data``, ``stringData`` and the last-applied annotation (which
copies them) right after parsing, before anything else sees the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kposture.sources.cluster_config import ClusterError, Response, Transport, TransportError
from kposture.sources.cluster_kinds import ServedKind

PAGE_SIZE = 500
"""Objects per page, as kubectl asks for."""

MAX_RELISTS = 3
"""How often a kind is listed again from the start after its continue token expired."""

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

Progress = Callable[[str, int, bool], None]
"""Called with (kind, objects listed so far, finished) as pages arrive; from worker threads."""


class ClusterUnreachable(ClusterError):
    """Discovery failed: the server is not there, or it rejects the credentials."""


@dataclass(slots=True)
class KindListing:
    """What listing one kind produced: objects (plain dicts) or a problem with its level."""

    served: ServedKind
    items: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""
    level: str = ""
    relists: int = 0


def strip_secret(item: dict[str, Any]) -> None:
    """Remove every copy of a Secret's values from a listed item, in place."""
    item.pop("data", None)
    item.pop("stringData", None)
    meta = item.get("metadata")
    if isinstance(meta, dict):
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)


def _compact_managed_fields(meta: dict[str, Any]) -> None:
    """Keep who changed an object and when, not the field sets (the bulk of a listed object)."""
    managed = meta.get("managedFields")
    if isinstance(managed, list):
        for entry in managed:
            if isinstance(entry, dict):
                entry.pop("fieldsV1", None)


def normalise_item(raw: dict[str, Any], served: ServedKind) -> dict[str, Any]:
    """One listed or watched object as kposture keeps it: typed with the served apiVersion and
    kind, a Secret's values removed, managedFields without their field sets."""
    if served.kind == "Secret":
        strip_secret(raw)
    meta = raw.get("metadata")
    if isinstance(meta, dict):
        _compact_managed_fields(meta)
    raw.pop("apiVersion", None)
    raw.pop("kind", None)
    return {"apiVersion": served.api_version, "kind": served.kind, **raw}


def parse_page(body: bytes, served: ServedKind) -> tuple[list[dict[str, Any]], str]:
    """The items of one list response, typed (list items carry no apiVersion/kind) and with Secret
    values removed; and the continue token ("" on the last page)."""
    data = json.loads(body)
    raw_items = data.get("items") if isinstance(data, dict) else None
    items = [
        normalise_item(raw, served)
        for raw in (raw_items if isinstance(raw_items, list) else ())
        if isinstance(raw, dict)
    ]
    meta = data.get("metadata") if isinstance(data, dict) else None
    token = meta.get("continue") if isinstance(meta, dict) else None
    return items, token if isinstance(token, str) else ""


def _status_message(response: Response) -> str:
    try:
        data = json.loads(response.body)
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return message.splitlines()[0] if isinstance(message, str) and message else ""


_REASONS = {
    401: "unauthorized (the server rejected the credentials)",
    403: "forbidden",
    404: "not found (the resource is no longer served)",
    429: "too many requests",
}


def _get(transport: Transport, path: str, query: Sequence[tuple[str, str]]) -> Response:
    """GET with one retry after a lost connection, a timeout, a 429 or a 5xx."""
    try:
        response = transport.get(path, query)
    except TransportError:
        return transport.get(path, query)
    if response.status == 429 or response.status >= 500:
        return transport.get(path, query)
    return response


def list_kind(
    transport: Transport,
    served: ServedKind,
    namespaces: Sequence[str] | None,
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
    selectors: Sequence[tuple[str, str]] = (),
) -> KindListing:
    """List every object of one kind (in ``namespaces``, or all when None; only those matching
    ``selectors``, ``labelSelector``/``fieldSelector`` query pairs, when given); never raises for
    server answers or a lost connection: those become ``problem``."""
    result = KindListing(served)
    scopes: Sequence[str | None] = (
        list(namespaces) if namespaces is not None and served.spec.namespaced else [None]
    )
    plural = served.spec.plural
    try:
        for namespace in scopes:
            _list_scope(transport, served, namespace, result, progress, page_size, selectors)
    except TransportError as exc:
        result.items = []
        result.level = "error"
        result.problem = (
            f"cannot list {plural}: connection lost ({exc}); {served.spec.lost_coverage()}"
        )
    except ValueError as exc:  # a 200 whose body is not the JSON list it should be
        result.items = []
        result.level = "error"
        result.problem = (
            f"cannot list {plural}: invalid response ({exc}); {served.spec.lost_coverage()}"
        )
    except _ListFailed as failed:
        result.items = []
        refused, result.level = _refusal(f"list {plural}", failed.response)
        result.problem = f"{refused}; {served.spec.lost_coverage()}"
    if progress is not None:
        progress(served.kind, len(result.items), True)
    return result


@dataclass(frozen=True, slots=True)
class Fetched:
    """What getting one object by name produced: the object (None when the server has no such
    object, or on a problem) or a problem with its level (``warning`` for a 403, else ``error``)."""

    item: dict[str, Any] | None
    problem: str = ""
    level: str = ""


def get_object(transport: Transport, served: ServedKind, namespace: str, name: str) -> Fetched:
    """Get one object of a namespaced kind by name, normalised as a listed one (a Secret's values
    removed); never raises for server answers or a lost connection: those become ``problem``."""
    what = f"{served.spec.plural} {namespace}/{name}"
    try:
        response = _get(transport, f"{served.path(namespace)}/{name}", ())
    except TransportError as exc:
        return Fetched(None, f"cannot get {what}: connection lost ({exc})", "error")
    if response.status == 404:
        return Fetched(None)
    if response.status != 200:
        return Fetched(None, *_refusal(f"get {what}", response))
    try:
        raw = json.loads(response.body)
    except ValueError as exc:
        return Fetched(None, f"cannot get {what}: invalid response ({exc})", "error")
    if not isinstance(raw, dict):
        return Fetched(None, f"cannot get {what}: invalid response (not an object)", "error")
    return Fetched(normalise_item(raw, served))


def _refusal(request: str, response: Response) -> tuple[str, str]:
    """``cannot REQUEST: REASON (the server's message)`` for a refused request, and its level:
    ``warning`` for a 403 (the caller's rights), else ``error``; the server's message is left
    out of 401 and 403 answers."""
    status = response.status
    reason = _REASONS.get(status, f"HTTP {status}")
    detail = _status_message(response) if status not in (401, 403) else ""
    level = "warning" if status == 403 else "error"
    return f"cannot {request}: {reason}{f' ({detail})' if detail else ''}", level


class _ListFailed(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _list_scope(
    transport: Transport,
    served: ServedKind,
    namespace: str | None,
    result: KindListing,
    progress: Progress | None,
    page_size: int,
    selectors: Sequence[tuple[str, str]] = (),
) -> None:
    path = served.path(namespace)
    start = len(result.items)
    token = ""
    while True:
        query = [*selectors, ("limit", str(page_size))]
        if token:
            query.append(("continue", token))
        response = _get(transport, path, query)
        if response.status == 410 and token and result.relists < MAX_RELISTS:
            # The continue token expired (etcd compacted its revision): start this scope again.
            result.relists += 1
            del result.items[start:]
            token = ""
            continue
        if response.status != 200:
            raise _ListFailed(response)
        items, token = parse_page(response.body, served)
        result.items.extend(items)
        if progress is not None:
            progress(served.kind, len(result.items), False)
        if not token:
            return


@dataclass(frozen=True, slots=True)
class Discovery:
    """The group/versions the server serves, each with its resource plurals; and problems."""

    resources: dict[str, frozenset[str]]
    problems: tuple[str, ...] = ()


def _resource_names(body: bytes) -> frozenset[str]:
    data = json.loads(body)
    resources = data.get("resources") if isinstance(data, dict) else None
    return frozenset(
        r["name"]
        for r in resources or ()
        if isinstance(r, dict) and isinstance(r.get("name"), str) and "/" not in r["name"]
    )


def _fatal(response: Response) -> ClusterUnreachable:
    if response.status == 401:
        return ClusterUnreachable("the API server rejected the credentials (401 Unauthorized)")
    detail = _status_message(response)
    return ClusterUnreachable(
        f"API discovery failed: HTTP {response.status}{f' ({detail})' if detail else ''}"
    )


def discover(
    transport: Transport, wanted: Sequence[str], workers: int = 8, server: str = ""
) -> Discovery:
    """Which of the ``wanted`` group/versions the server serves, and their resources. Raises
    ``ClusterUnreachable`` (naming ``server``, the URL) when the server cannot be reached or
    refuses the credentials."""
    try:
        core = _get(transport, "/api/v1", ())
        groups = _get(transport, "/apis", ())
    except TransportError as exc:
        where = f" {server}" if server else ""
        raise ClusterUnreachable(f"cannot reach the API server{where}: {exc}") from None
    for response in (core, groups):
        if response.status != 200:
            raise _fatal(response)
    resources: dict[str, frozenset[str]] = {"v1": _resource_names(core.body)}
    served_versions: set[str] = set()
    data = json.loads(groups.body)
    for group in data.get("groups") or () if isinstance(data, dict) else ():
        for version in group.get("versions") or ():
            if isinstance(version, dict) and isinstance(version.get("groupVersion"), str):
                served_versions.add(version["groupVersion"])
    todo = [gv for gv in wanted if gv in served_versions]
    problems: list[str] = []

    def fetch(group_version: str) -> tuple[str, Response | str]:
        try:
            return group_version, _get(transport, f"/apis/{group_version}", ())
        except TransportError as exc:
            return group_version, str(exc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for group_version, answer in pool.map(fetch, todo):
            if isinstance(answer, Response) and answer.status == 200:
                resources[group_version] = _resource_names(answer.body)
            else:
                why = answer if isinstance(answer, str) else f"HTTP {answer.status}"
                problems.append(f"cannot discover {group_version}: {why}")
    return Discovery(resources, tuple(problems))


def groups_serving(transport: Transport, plural: str, workers: int = 8) -> tuple[str, ...]:
    """The API groups (``""``: core) whose preferred version serves the resource ``plural``, core
    first, as kubectl's REST mapper looks up a resource named without its group; () when
    discovery cannot be read (the caller keeps the name as given)."""
    try:
        core = _get(transport, "/api/v1", ())
        groups = _get(transport, "/apis", ())
    except TransportError:
        return ()
    if core.status != 200 or groups.status != 200:
        return ()
    found = [""] if plural in _resource_names(core.body) else []
    data = json.loads(groups.body)
    preferred: list[str] = []
    for group in (data.get("groups") or ()) if isinstance(data, dict) else ():
        versions = group.get("versions") if isinstance(group, dict) else None
        version = group.get("preferredVersion") or next(iter(versions or ()), None)
        group_version = version.get("groupVersion") if isinstance(version, dict) else None
        if isinstance(group_version, str):
            preferred.append(group_version)

    def serves(group_version: str) -> bool:
        try:
            answer = _get(transport, f"/apis/{group_version}", ())
        except TransportError:
            return False
        return answer.status == 200 and plural in _resource_names(answer.body)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        served = list(pool.map(serves, preferred))
    found.extend(gv.split("/")[0] for gv, ok in zip(preferred, served, strict=True) if ok)
    return tuple(dict.fromkeys(found))
