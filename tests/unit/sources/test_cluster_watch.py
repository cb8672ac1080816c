"""The watch stream of one kind against a scripted transport: list then watch from the list's
resourceVersion with bookmarks, Secret values removed from listed and watched objects, resume from
the last version seen (bookmarks included) after a lost connection with backoff, and relist on
410 Gone."""

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
    DELETED,
    RELISTED,
    KindStream,
    WatchEvent,
    _Backoff,
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
        lists: list[tuple[str, list[dict[str, Any]]]],
        watches: list[tuple[int, list[dict[str, Any]], bool]],
        stopping: threading.Event,
    ) -> None:
        self.lists = lists
        self.watches = watches
        self.stopping = stopping
        self.requests: list[tuple[str, dict[str, str]]] = []

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Response:
        self.requests.append(("list", dict(query)))
        version, items = self.lists.pop(0)
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


def _run(script: _Script, stopping: threading.Event) -> tuple[list[WatchEvent], list[str]]:
    sink: queue.Queue[WatchEvent] = queue.Queue()
    statuses: list[str] = []
    stream = KindStream(
        script,
        SECRET,
        sink,
        stopping=stopping,
        on_status=lambda kind, what, detail: statuses.append(what),
        backoff=_Backoff(start=0.001, cap=0.002, rng=random.Random(1)),
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
    assert "reconnect" in statuses
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
