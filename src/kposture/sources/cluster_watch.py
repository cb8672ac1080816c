"""Watching a live cluster: list then watch every catalogue kind, one stream (thread) per kind.

Owns the I/O behind ``kposture watch``. Each stream lists its kind (pages of ``PAGE_SIZE``, the
list's ``resourceVersion`` kept), emits the whole list as one ``RELISTED`` snapshot, then watches
from that version with bookmarks (``allowWatchBookmarks=true``), emitting ``ADDED``, ``MODIFIED``
and ``DELETED`` events with the time each was received. When the watch ends (the server's timeout,
a lost connection, a stopped or silent server) the stream reconnects from the last version it saw,
after an exponential backoff with jitter when something failed; a 410 Gone (the version was
compacted away, or a restarted server's cache does not reach back that far) relists the kind, and
the new snapshot lets the consumer notice deletions it missed while away.

Objects are plain dicts shaped exactly as ``cluster_listing`` shapes listed items
(``normalise_item``): a Secret loses ``data``, ``stringData`` and the last-applied annotation as
soon as its event is parsed, so no Secret value is ever held. Requests go through the connection's
transport (same auth, TLS and proxy settings as ``scan --cluster``).
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kposture.sources.cluster_config import (
    Connection,
    Response,
    StreamResponse,
    Transport,
    TransportError,
    connect,
)
from kposture.sources.cluster_facts import EndpointLookup, gather_facts, listing_block
from kposture.sources.cluster_kinds import (
    CATALOGUE,
    KindSpec,
    ServedKind,
    choose_versions,
    group_versions,
)
from kposture.sources.cluster_listing import PAGE_SIZE, discover, normalise_item

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
RELISTED = "RELISTED"
"""A full snapshot of one kind (in one namespace scope): every object it holds now."""

WATCH_TIMEOUT = 300
"""``timeoutSeconds`` of a watch request; the server ends it then and the stream reconnects."""

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change of one object, or (``RELISTED``) the whole current list of a kind in a scope.

    ``received`` is ``time.monotonic()`` when the event was read (for lag), ``received_wall`` the
    wall clock then (for the store)."""

    type: str
    kind: str
    obj: dict[str, Any] | None
    received: float
    received_wall: float
    snapshot: tuple[dict[str, Any], ...] = ()
    namespace: str | None = None
    """The stream's namespace scope (``None``: every namespace, or a cluster-scoped kind)."""


class WatchTransport(Transport, Protocol):
    """A transport that can also stream a response (``cluster_config._ClientTransport``)."""

    def stream(
        self, path: str, query: Sequence[tuple[str, str]] = (), read_timeout: float = 330.0
    ) -> StreamResponse: ...


StatusHook = Callable[[str, str, str], None]
"""Called from stream threads with (kind, what, detail): ``what`` is ``connected``, ``reconnect``
(the watch ended or failed and will be opened again), ``relist`` (410 Gone), ``error`` (a list
failed; retried with backoff) or ``forbidden`` (403 on list: the kind is not watched)."""


@dataclass
class _Backoff:
    start: float = BACKOFF_START
    cap: float = BACKOFF_MAX
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """Full jitter between half and all of the doubled delay."""
        delay = min(self.cap, self.start * (2**self.failures))
        self.failures += 1
        return float(delay) * (0.5 + self.rng.random() / 2)

    def reset(self) -> None:
        self.failures = 0


class _Gone(Exception):
    """The resourceVersion is too old: relist."""


class _Failed(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class KindStream:
    """List then watch one kind in one namespace scope, forever (until ``stop``)."""

    def __init__(
        self,
        transport: WatchTransport,
        served: ServedKind,
        sink: queue.Queue[WatchEvent],
        *,
        namespace: str | None = None,
        on_status: StatusHook | None = None,
        stopping: threading.Event,
        page_size: int = PAGE_SIZE,
        watch_timeout: int = WATCH_TIMEOUT,
        backoff: _Backoff | None = None,
    ) -> None:
        self.transport = transport
        self.served = served
        self.sink = sink
        self.namespace = namespace if served.spec.namespaced else None
        self.on_status = on_status
        self.stopping = stopping
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.backoff = backoff or _Backoff()
        self.resource_version = ""
        self.listed = threading.Event()
        """Set once the first list succeeded (or the kind is forbidden)."""
        self.forbidden = False
        self._current: StreamResponse | None = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------

    def run(self) -> None:
        need_list = True
        while not self.stopping.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                    self.backoff.reset()
                self._watch()
                # The server ended the watch (its timeout): open it again at once.
                self._status("reconnect", "watch ended")
            except _Gone:
                self._status("relist", "410 Gone")
                need_list = True
            except _Failed as failed:
                if failed.response.status == 403 and not self.listed.is_set():
                    self.forbidden = True
                    self.listed.set()
                    self._status("forbidden", "403 Forbidden")
                    return
                self._status("error", f"HTTP {failed.response.status}")
                self._pause()
            except (TransportError, ValueError) as exc:
                if self.stopping.is_set():
                    return
                self._status("reconnect", str(exc))
                self._pause()

    def stop(self) -> None:
        """Unblock a read in progress (the caller sets ``stopping`` first)."""
        with self._lock:
            current = self._current
        if current is not None:
            current.close()

    def _pause(self) -> None:
        self.stopping.wait(self.backoff.next_delay())

    def _status(self, what: str, detail: str) -> None:
        if self.on_status is not None and not self.stopping.is_set():
            self.on_status(self.served.kind, what, detail)

    # -- list ------------------------------------------------------------------------------------

    def _list(self) -> None:
        path = self.served.path(self.namespace)
        items: list[dict[str, Any]] = []
        token = ""
        version = ""
        while True:
            query = [("limit", str(self.page_size))]
            if token:
                query.append(("continue", token))
            response = self.transport.get(path, query)
            if response.status == 410 and token:
                items, token, version = [], "", ""  # the continue token expired: start over
                continue
            if response.status != 200:
                raise _Failed(response)
            data = json.loads(response.body)
            raw_items = data.get("items") if isinstance(data, dict) else None
            items.extend(
                normalise_item(raw, self.served)
                for raw in (raw_items if isinstance(raw_items, list) else ())
                if isinstance(raw, dict)
            )
            meta = data.get("metadata") if isinstance(data, dict) else None
            meta = meta if isinstance(meta, dict) else {}
            version = str(meta.get("resourceVersion") or version)
            token = str(meta.get("continue") or "")
            if not token:
                break
        self.resource_version = version
        now, wall = time.monotonic(), time.time()
        self.sink.put(
            WatchEvent(RELISTED, self.served.kind, None, now, wall, tuple(items), self.namespace)
        )
        self.listed.set()

    # -- watch -----------------------------------------------------------------------------------

    def _watch(self) -> None:
        query = [
            ("watch", "1"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self.watch_timeout)),
        ]
        if self.resource_version:
            query.append(("resourceVersion", self.resource_version))
        stream = self.transport.stream(
            self.served.path(self.namespace), query, read_timeout=self.watch_timeout + 30.0
        )
        with self._lock:
            self._current = stream
        try:
            if self.stopping.is_set():
                return
            if stream.status == 410:
                raise _Gone
            if stream.status != 200:
                raise _Failed(Response(stream.status, stream.read()))
            self._status("connected", self.resource_version)
            for line in stream.lines():
                self._handle(line)
                self.backoff.reset()
        finally:
            with self._lock:
                self._current = None
            stream.close()

    def _handle(self, line: bytes) -> None:
        event = json.loads(line)
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone
            raise TransportError(f"watch error: {obj.get('message') or obj.get('code')}")
        meta = obj.get("metadata")
        version = meta.get("resourceVersion") if isinstance(meta, dict) else None
        if kind == "BOOKMARK":
            if isinstance(version, str) and version:
                self.resource_version = version
            return
        if kind not in (ADDED, MODIFIED, DELETED):
            return
        item = normalise_item(obj, self.served)
        self.sink.put(WatchEvent(kind, self.served.kind, item, time.monotonic(), time.time()))
        if isinstance(version, str) and version:
            self.resource_version = version


class ClusterWatch:
    """Every stream of one watch: start them, wait for their first lists, stop them."""

    def __init__(
        self,
        connection: Connection,
        served: Sequence[ServedKind],
        namespaces: Sequence[str] | None,
        *,
        on_status: StatusHook | None = None,
        page_size: int = PAGE_SIZE,
        watch_timeout: int = WATCH_TIMEOUT,
    ) -> None:
        transport = connection.transport
        if not hasattr(transport, "stream"):
            raise TypeError("the connection's transport cannot stream (watch)")
        self.events: queue.Queue[WatchEvent] = queue.Queue()
        self.stopping = threading.Event()
        self.streams: list[KindStream] = []
        for kind in served:
            scopes: Sequence[str | None] = (
                list(namespaces) if namespaces is not None and kind.spec.namespaced else [None]
            )
            for namespace in scopes:
                self.streams.append(
                    KindStream(
                        transport,  # type: ignore[arg-type]
                        kind,
                        self.events,
                        namespace=namespace,
                        on_status=on_status,
                        stopping=self.stopping,
                        page_size=page_size,
                        watch_timeout=watch_timeout,
                    )
                )
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for stream in self.streams:
            name = f"kposture-watch-{stream.served.kind}"
            thread = threading.Thread(target=stream.run, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait_listed(self, timeout: float | None = None) -> bool:
        """Wait until every stream listed its kind once (or was forbidden); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for stream in self.streams:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not stream.listed.wait(left):
                return False
        return True

    def forbidden(self) -> list[str]:
        return sorted({s.served.kind for s in self.streams if s.forbidden})

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        for stream in self.streams:
            stream.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


@dataclass(frozen=True, slots=True)
class WatchSetup:
    """What opening a watch found: the connection, the kinds to watch and the problems (kinds the
    server serves no known version of, groups whose discovery failed), as one-line warnings."""

    connection: Connection
    served: tuple[ServedKind, ...]
    missing: tuple[str, ...]
    problems: tuple[str, ...]


def prepare_watch(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    connection: Connection | None = None,
    catalogue: tuple[KindSpec, ...] = CATALOGUE,
) -> WatchSetup:
    """Connect (watches hold a connection each, so the pool is sized for every catalogue kind)
    and discover which catalogue kinds the server serves. Raises ``ClusterError`` when the server
    cannot be reached or refuses the credentials."""
    conn = connection or connect(
        kubeconfig, context, timeout=(5.0, 60.0), pool_size=len(catalogue) + 8
    )
    discovery = discover(conn.transport, group_versions(catalogue), 8, conn.server)
    served, missing = choose_versions(discovery.resources, catalogue)
    problems = list(discovery.problems)
    problems.extend(
        f"the server serves no version of {spec.kind} that kposture reads "
        f"(tried {', '.join(spec.versions)}); {spec.lost_coverage()}"
        for spec in missing
    )
    return WatchSetup(conn, tuple(served), tuple(s.kind for s in missing), tuple(problems))


def cluster_facts(
    connection: Connection,
    nodes: Sequence[str],
    namespaces: Sequence[str] | None,
    unlisted: Sequence[str],
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The ClusterFacts object (and notes) exactly as ``load_cluster`` adds it to a scan."""
    lookup = EndpointLookup(connection.server, connection.resolve)
    observed = gather_facts(connection, lookup, nodes)
    observed.raw["listing"] = listing_block(namespaces, unlisted)
    return observed.raw, observed.notes
