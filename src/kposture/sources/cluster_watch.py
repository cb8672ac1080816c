"""Watching a live cluster: list then watch every catalogue kind, one stream (thread) per kind.

Owns the I/O behind ``kposture watch``. Each stream lists its kind (pages of ``PAGE_SIZE``, the
list's ``resourceVersion`` kept), emits the whole list as one ``RELISTED`` snapshot, then watches
from that version with bookmarks (``allowWatchBookmarks=true``), emitting ``ADDED``, ``MODIFIED``
and ``DELETED`` events with the time each was received. When the watch ends (the server's timeout,
a lost connection, a stopped or silent server) the stream reconnects from the last version it saw,
after an exponential backoff with jitter when something failed; a 410 Gone (the version was
compacted away, or a restarted server's cache does not reach back that far) relists the kind, and
the new snapshot lets the consumer notice deletions it missed while away. Backoff is capped at
``BACKOFF_MAX`` (5 s), and when one stream gets through again every stream still waiting is woken
with its backoff reset, so the whole watch is back within seconds of the server. A kind whose list
or watch is forbidden (403) is reported once and tried again every ``FORBIDDEN_RETRY`` seconds.
``ClusterWatch`` tells its consumer once per outage that the connection was lost (the first
stream to fail) and once that it is back (every stream watching again), not once per kind.

Objects are plain dicts shaped exactly as ``cluster_listing`` shapes listed items
(``normalise_item``): a Secret loses ``data``, ``stringData`` and the last-applied annotation as
soon as its event is parsed, so no Secret value is ever held; each managedFields entry keeps the
names of the top-level fields it manages (``FIELDS``) where a scan keeps none. Requests go through
the connection's transport (same auth, TLS and proxy settings as ``scan --cluster``).
"""

from __future__ import annotations

import json
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
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
BACKOFF_MAX = 5.0
"""The longest wait before a stream tries again after a failure: recovery takes seconds."""

FORBIDDEN_RETRY = 300.0
"""Seconds between attempts to list a kind the credentials may not list (403)."""


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
"""Called from stream threads with (kind, what, detail): ``what`` is ``connected`` (a watch is
open), ``reconnect`` (the server ended the watch; opened again at once), ``lost`` (the connection
failed; opened again after a backoff), ``error`` (the server answered a list or watch with an
error; tried again after a backoff), ``relist`` (410 Gone), ``forbidden`` (403: the kind is not
watched; ``detail`` is the warning, in ``scan --cluster``'s words) or ``permitted`` (a forbidden
kind could be listed again and is watched)."""

ConnectionHook = Callable[[str, str], None]
"""Called once per outage with (``lost``, the first failure) when a stream fails while every
other was fine, and with (``restored``, how long it took and the kinds listed again) when every
stream is watching again."""


FIELDS = "kposture.io/fields"
"""Added to each ``metadata.managedFields`` entry of a watched object: the top-level fields the
entry manages, comma-separated (``metadata,spec``; ``metadata,status`` for a controller writing
status), kept when the field sets themselves are dropped. The watcher tells who made a change from
it (a status-only entry is a controller reporting, not someone changing the object)."""


def summarise_managed_fields(raw: dict[str, Any]) -> None:
    """Keep the top-level fields of every managedFields entry under ``FIELDS``, in place, before
    ``normalise_item`` drops the field sets."""
    meta = raw.get("metadata")
    entries = meta.get("managedFields") if isinstance(meta, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        fields = entry.get("fieldsV1") if isinstance(entry, dict) else None
        if isinstance(fields, dict):
            tops = sorted(key[2:] for key in fields if isinstance(key, str) and key[:2] == "f:")
            entry[FIELDS] = sys.intern(",".join(tops))


def forbidden_problem(served: ServedKind, namespaces: Sequence[str | None] = ()) -> str:
    """A 403 on a kind (in these namespaces), worded as ``scan --cluster`` words it, with when the
    watch tries again."""
    named = [namespace for namespace in namespaces if namespace]
    where = f" in namespace{'s' if len(named) > 1 else ''} {', '.join(named)}" if named else ""
    return (
        f"cannot list {served.spec.plural}{where}: forbidden; {served.spec.lost_coverage()} "
        f"(tried again every {FORBIDDEN_RETRY / 60:.0f} minutes)"
    )


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
        forbidden_retry: float = FORBIDDEN_RETRY,
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
        self.forbidden_retry = forbidden_retry
        self.resource_version = ""
        self.listed = threading.Event()
        """Set once the first list succeeded (or the kind is forbidden)."""
        self.forbidden = False
        self._current: StreamResponse | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()

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
                if failed.response.status == 403:
                    self._forbidden()
                    need_list = True
                    continue
                self._status("error", f"HTTP {failed.response.status}")
                self._pause()
            except (TransportError, ValueError) as exc:
                if self.stopping.is_set():
                    return
                self._status("lost", str(exc))
                self._pause()

    def stop(self) -> None:
        """Unblock a read or a wait in progress (the caller sets ``stopping`` first)."""
        self._wake.set()
        with self._lock:
            current = self._current
        if current is not None:
            current.close()

    def wake(self) -> None:
        """End a backoff wait now (another stream got through: the server is back)."""
        self._wake.set()

    def _pause(self) -> None:
        self._sleep(self.backoff.next_delay())

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _forbidden(self) -> None:
        """Not allowed to list or watch the kind (at start, or the permission was taken away):
        say so once, keep nothing new of it, and try again every ``forbidden_retry`` seconds."""
        if not self.forbidden:
            self.forbidden = True
            self._status("forbidden", forbidden_problem(self.served, [self.namespace]))
        self.listed.set()
        self.stopping.wait(self.forbidden_retry)

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
            for raw in raw_items if isinstance(raw_items, list) else ():
                if isinstance(raw, dict):
                    summarise_managed_fields(raw)
                    items.append(normalise_item(raw, self.served))
            meta = data.get("metadata") if isinstance(data, dict) else None
            meta = meta if isinstance(meta, dict) else {}
            version = str(meta.get("resourceVersion") or version)
            token = str(meta.get("continue") or "")
            if not token:
                break
        self.resource_version = version
        if self.forbidden:
            self.forbidden = False
            self._status("permitted", f"{self.served.spec.plural} can be listed now")
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
        summarise_managed_fields(obj)
        item = normalise_item(obj, self.served)
        self.sink.put(WatchEvent(kind, self.served.kind, item, time.monotonic(), time.time()))
        if isinstance(version, str) and version:
            self.resource_version = version


class Recovery:
    """The connection's health across streams: the first failure while every stream was fine is
    the connection lost; every failing stream connected again is the connection back. When one
    stream gets through, the others waiting out a backoff are woken with their backoff reset.
    Called from stream threads."""

    def __init__(
        self,
        on_connection: ConnectionHook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_connection = on_connection
        self.clock = clock
        self.lost_at: float | None = None
        self._failing: set[KindStream] = set()
        self._relisted: set[str] = set()
        self._lock = threading.Lock()

    def status(self, stream: KindStream, what: str, detail: str) -> None:
        report: tuple[str, str] | None = None
        woken: list[KindStream] = []
        with self._lock:
            if what in ("lost", "error"):
                if not self._failing and self.lost_at is None:
                    self.lost_at = self.clock()
                    self._relisted = set()
                    report = ("lost", detail)
                self._failing.add(stream)
            elif what == "relist" and self.lost_at is not None:
                self._relisted.add(stream.served.kind)
            elif what in ("connected", "forbidden", "permitted") and stream in self._failing:
                # The server answered: whoever still waits out a backoff may try again now.
                self._failing.discard(stream)
                woken = list(self._failing)
                if not self._failing and self.lost_at is not None:
                    relisted = len(self._relisted)
                    report = (
                        "restored",
                        f"after {self.clock() - self.lost_at:.1f} s; "
                        f"{relisted} kind{'' if relisted == 1 else 's'} listed again",
                    )
                    self.lost_at = None
        for other in woken:
            other.backoff.reset()
            other.wake()
        if report is not None and self.on_connection is not None:
            self.on_connection(*report)


class ClusterWatch:
    """Every stream of one watch: start them, wait for their first lists, stop them."""

    def __init__(
        self,
        connection: Connection,
        served: Sequence[ServedKind],
        namespaces: Sequence[str] | None,
        *,
        on_status: StatusHook | None = None,
        on_connection: ConnectionHook | None = None,
        page_size: int = PAGE_SIZE,
        watch_timeout: int = WATCH_TIMEOUT,
        forbidden_retry: float = FORBIDDEN_RETRY,
    ) -> None:
        transport = connection.transport
        if not hasattr(transport, "stream"):
            raise TypeError("the connection's transport cannot stream (watch)")
        self.events: queue.Queue[WatchEvent] = queue.Queue()
        self.stopping = threading.Event()
        self.streams: list[KindStream] = []
        self.recovery = Recovery(on_connection)
        self._on_status = on_status
        for kind in served:
            scopes: Sequence[str | None] = (
                list(namespaces) if namespaces is not None and kind.spec.namespaced else [None]
            )
            for namespace in scopes:
                stream = KindStream(
                    transport,  # type: ignore[arg-type]
                    kind,
                    self.events,
                    namespace=namespace,
                    stopping=self.stopping,
                    page_size=page_size,
                    watch_timeout=watch_timeout,
                    forbidden_retry=forbidden_retry,
                )
                stream.on_status = partial(self._status, stream)
                self.streams.append(stream)
        self._threads: list[threading.Thread] = []

    def _status(self, stream: KindStream, kind: str, what: str, detail: str) -> None:
        self.recovery.status(stream, what, detail)
        if self._on_status is not None:
            self._on_status(kind, what, detail)

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
        """Kinds not watched (in at least one namespace scope): 403 on their list or watch."""
        return sorted({s.served.kind for s in self.streams if s.forbidden})

    def forbidden_problems(self) -> list[str]:
        """One warning per forbidden kind, naming the namespaces it is forbidden in (with ``-n``)."""
        scopes: dict[str, tuple[ServedKind, list[str | None]]] = {}
        for stream in self.streams:
            if stream.forbidden:
                scopes.setdefault(stream.served.kind, (stream.served, []))[1].append(
                    stream.namespace
                )
        return [forbidden_problem(served, namespaces) for served, namespaces in scopes.values()]

    def nothing_readable(self) -> bool:
        """Whether every stream was forbidden: the credentials can read nothing kposture judges."""
        return bool(self.streams) and all(stream.forbidden for stream in self.streams)

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
