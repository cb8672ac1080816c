"""The watch stream of one kind against a scripted transport: list then watch from the list's
resourceVersion with bookmarks, Secret values removed from listed and watched objects, resume from
the last version seen (bookmarks included) after a lost connection with backoff, relist on 410
Gone, a forbidden kind reported in scan's words and tried again; and the connection's recovery
across streams (lost once, back once, the others woken)."""

from __future__ import annotations

import json
import queue
import random
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from kposture.sources.cluster_config import Response, TransportError
from kposture.sources.cluster_kinds import CATALOGUE, ServedKind
from kposture.sources.cluster_watch import (
    ADDED,
    BACKOFF_MAX,
    DELETED,
    RELISTED,
    KindStream,
    Recovery,
    WatchEvent,
    _Backoff,
    forbidden_problem,
)

SECRET = ServedKind(next(spec for spec in CATALOGUE if spec.kind == "Secret"), "v1")


def _secret(name: str, version: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "resourceVersion": version,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"data": 1}'},
        },
        "type": "Opaque",
        "data": {"password": "c2VjcmV0"},
        "stringData": {"token": "secret"},
    }


class _Stream:
    def __init__(self, status: int, lines: Sequence[bytes], fail: bool) -> None:
        self.status = status
        self._lines = lines
        self._fail = fail

    def lines(self) -> Iterator[bytes]:
        yield from self._lines
        if self._fail:
            raise TransportError("connection reset")

    def read(self) -> bytes:
        return b"{}"

    def close(self) -> None:
        pass


class _Script:
    """Lists and watches answered in order; the stream stops after the last watch."""

    def __init__(
        self,
        lists: list[tuple[str, list[dict[str, Any]]] | int],
        watches: list[tuple[int, list[dict[str, Any]], bool]],
        stopping: threading.Event,
    ) -> None:
        self.lists = lists
        self.watches = watches
        self.stopping = stopping
        self.requests: list[tuple[str, dict[str, str]]] = []

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Response:
        self.requests.append(("list", dict(query)))
        answer = self.lists.pop(0)
        if isinstance(answer, int):
            return Response(answer, b'{"kind": "Status", "message": "forbidden"}')
        version, items = answer
        body = {"metadata": {"resourceVersion": version}, "items": items}
        return Response(200, json.dumps(body).encode())

    def stream(
        self, path: str, query: Sequence[tuple[str, str]] = (), read_timeout: float = 330.0
    ) -> _Stream:
        self.requests.append(("watch", dict(query)))
        if not self.watches:
            self.stopping.set()
            return _Stream(200, [], False)
        status, events, fail = self.watches.pop(0)
        return _Stream(status, [json.dumps(e).encode() for e in events], fail)


def _run(
    script: _Script, stopping: threading.Event, details: list[str] | None = None
) -> tuple[list[WatchEvent], list[str]]:
    sink: queue.Queue[WatchEvent] = queue.Queue()
    statuses: list[str] = []

    def status(kind: str, what: str, detail: str) -> None:
        statuses.append(what)
        if details is not None:
            details.append(detail)

    stream = KindStream(
        script,
        SECRET,
        sink,
        stopping=stopping,
        on_status=status,
        backoff=_Backoff(start=0.001, cap=0.002, rng=random.Random(1)),
        forbidden_retry=0.001,
    )
    stream.run()
    events = []
    while not sink.empty():
        events.append(sink.get())
    return events, statuses


def test_list_then_watch_resume_after_a_lost_connection_and_relist_on_gone() -> None:
    stopping = threading.Event()
    script = _Script(
        lists=[("10", [_secret("a", "9")]), ("40", [_secret("b", "39")]), ("50", [])],
        watches=[
            (
                200,
                [
                    {"type": "ADDED", "object": _secret("b", "11")},
                    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
                ],
                True,
            ),
            (
                200,
                [
                    {"type": "DELETED", "object": _secret("a", "21")},
                    {"type": "ERROR", "object": {"kind": "Status", "code": 410}},
                ],
                False,
            ),
            (410, [], False),
        ],
        stopping=stopping,
    )
    events, statuses = _run(script, stopping)
    assert [(e.type, e.obj["metadata"]["name"] if e.obj else None) for e in events] == [
        (RELISTED, None),
        (ADDED, "b"),
        (DELETED, "a"),
        (RELISTED, None),
        (RELISTED, None),
    ]
    assert [item["metadata"]["name"] for item in events[0].snapshot] == ["a"]
    watches = [query for what, query in script.requests if what == "watch"]
    assert watches[0]["resourceVersion"] == "10"
    assert watches[0]["allowWatchBookmarks"] == "true"
    assert watches[1]["resourceVersion"] == "20"  # resumed from the bookmark
    # The stream's ERROR 410 relisted (version 40); that watch was answered 410: relisted again.
    assert watches[2]["resourceVersion"] == "40"
    assert watches[3]["resourceVersion"] == "50"
    assert [what for what, _ in script.requests].count("list") == 3
    assert "relist" in statuses
    assert "lost" in statuses  # the connection reset: reopened after a backoff
    for event in events:
        for item in (*event.snapshot, *([event.obj] if event.obj else [])):
            assert "data" not in item
            assert "stringData" not in item
            assert "kubectl.kubernetes.io/last-applied-configuration" not in item["metadata"].get(
                "annotations", {}
            )
            assert item["kind"] == "Secret"
            assert item["apiVersion"] == "v1"


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = _Backoff(start=0.5, cap=30.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(30.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_a_forbidden_kind_is_reported_once_in_scans_words_and_tried_again() -> None:
    stopping = threading.Event()
    script = _Script(lists=[403, 403, ("10", [_secret("a", "9")])], watches=[], stopping=stopping)
    details: list[str] = []
    events, statuses = _run(script, stopping, details)
    assert statuses[:2] == ["forbidden", "permitted"]
    assert details[0] == (
        "cannot list secrets: forbidden; rules about Secrets did not run on the cluster "
        "(tried again every 5 minutes)"
    )
    assert [what for what, _ in script.requests].count("list") == 3
    assert [(e.type, len(e.snapshot)) for e in events] == [(RELISTED, 1)]


def test_a_kind_forbidden_after_its_first_list_is_reported_and_listed_again() -> None:
    stopping = threading.Event()
    script = _Script(
        lists=[("10", [_secret("a", "9")]), 403, ("20", [])],
        watches=[(403, [], False)],
        stopping=stopping,
    )
    events, statuses = _run(script, stopping)
    assert statuses.count("forbidden") == 1
    assert "error" not in statuses
    assert [e.type for e in events] == [RELISTED, RELISTED]


def test_forbidden_namespaces_of_a_kind_are_one_warning() -> None:
    message = forbidden_problem(SECRET, ["shop", "hook"])
    assert message.startswith("cannot list secrets in namespaces shop, hook: forbidden; ")
    assert forbidden_problem(SECRET, [None]).startswith("cannot list secrets: forbidden; ")


def test_backoff_never_waits_more_than_a_few_seconds_by_default() -> None:
    backoff = _Backoff(rng=random.Random(3))
    assert max(backoff.next_delay() for _ in range(30)) <= BACKOFF_MAX == 5.0


def _streams(count: int) -> list[KindStream]:
    stopping = threading.Event()
    sink: queue.Queue[WatchEvent] = queue.Queue()
    return [
        KindStream(_Script([], [], stopping), SECRET, sink, namespace=f"ns{i}", stopping=stopping)
        for i in range(count)
    ]


def test_an_outage_is_told_once_and_the_recovery_once_whatever_the_number_of_kinds() -> None:
    told: list[tuple[str, str]] = []
    now = [100.0]
    recovery = Recovery(lambda what, detail: told.append((what, detail)), clock=lambda: now[0])
    first, second, third = _streams(3)
    for stream in (first, second, third):
        recovery.status(stream, "connected", "")
    assert told == []
    recovery.status(first, "lost", "connection refused")
    recovery.status(second, "lost", "connection refused")
    recovery.status(third, "error", "HTTP 503")
    assert told == [("lost", "connection refused")]
    for stream in (first, second, third):
        recovery.status(stream, "relist", "410 Gone")
    now[0] += 20.5
    recovery.status(first, "connected", "")
    recovery.status(second, "connected", "")
    assert len(told) == 1  # the third is not back yet
    recovery.status(third, "connected", "")
    assert told[1] == ("restored", "after 20.5 s; 1 kind listed again")


def test_the_first_stream_back_wakes_the_others_with_their_backoff_reset() -> None:
    recovery = Recovery()
    first, second, third = _streams(3)
    for stream in (first, second, third):
        recovery.status(stream, "lost", "connection refused")
        for _ in range(6):
            stream.backoff.next_delay()
    recovery.status(first, "connected", "")
    for stream in (second, third):
        assert stream.backoff.failures == 0
        assert stream._wake.is_set()
    assert not first._wake.is_set()
