"""What the watch streams report, as the operator reads it on stderr and in the metrics.

A kind that may not be listed (403) is one warning in ``scan --cluster``'s words, with the coverage
lost and when it is tried again, and an info line once it can be listed. The connection is one
warning when it is lost (per cluster, the first stream to fail, not one line per kind) and one info
line when every stream is back and relisted, with how long it took. Reconnects and relists are
counted in the metrics.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("kposture.watch")


class StreamCounters(Protocol):
    def stream_status(self, kind: str, what: str, detail: str) -> None: ...


class StreamReports:
    """The ``on_status`` and ``on_connection`` hooks of a ``ClusterWatch``."""

    def __init__(self, server: str, counters: StreamCounters | None = None) -> None:
        self.server = server
        self.counters = counters
        self.started = False
        """Before the watch starts, the driver tells the forbidden kinds itself, one line a kind
        (``ClusterWatch.forbidden_problems``), or fails when nothing at all can be listed."""

    def status(self, kind: str, what: str, detail: str) -> None:
        if self.counters is not None:
            self.counters.stream_status(kind, what, detail)
        if what == "forbidden" and self.started:
            log.warning("%s", detail)
        elif what == "permitted":
            log.info("%s: watching them again", detail)

    def connection(self, what: str, detail: str) -> None:
        if what == "lost":
            log.warning(
                "lost the connection to the API server %s (%s); reconnecting (changes made "
                "meanwhile are judged when it is back)",
                self.server,
                detail,
            )
        elif what == "restored":
            log.info("the connection to the API server %s is back %s", self.server, detail)
