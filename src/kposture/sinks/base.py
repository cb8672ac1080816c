"""What every alert sink is: the ``Sink`` protocol the fan-out calls, and ``SinkStats``, the counters a
sink keeps for the watcher or the server to publish as Prometheus metrics.

Counters only grow, except ``pending`` (alerts waiting in a sink's queue right now). They are updated
from the caller's thread and from a sink's delivery thread, so every change goes through one lock.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from kposture.model.lifecycle import Alert

COUNTERS = (
    "queued",
    "sent",
    "failed",
    "retried",
    "dropped",
    "rejected",
    "filtered",
    "deduplicated",
    "errors",
    "already_queued",
)
"""What each counter counts:

- ``queued``: alerts a sink accepted (spooled for a webhook, about to be written for stdout);
- ``sent``: alerts delivered (a 2xx answer, or a line written);
- ``failed``: delivery attempts that failed (no answer, a timeout, or an answer worth retrying);
- ``retried``: attempts made again after a failure;
- ``dropped``: alerts lost because the queue was full (the oldest go first) or the sink closed with
  alerts only held in memory;
- ``rejected``: alerts the receiver refused for good (a 4xx that retrying cannot fix), removed;
- ``filtered``: alerts below the sink's minimum severity;
- ``deduplicated``: alerts with a ``dedup_key`` already sent to the sink within its window;
- ``errors``: alerts a sink raised on (a bug or a broken stream), isolated by the fan-out;
- ``already_queued``: alerts a spool refused because the same alert (a detection's, for the same
  audit event) was still waiting in it; not counted as ``queued``.
"""


class SinkStats:
    """Thread-safe counters of one sink (see ``COUNTERS``) and its ``pending`` gauge."""

    __slots__ = ("_counts", "_lock", "_pending")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._pending = 0

    def add(self, counter: str, amount: int = 1) -> None:
        if counter not in self._counts:
            raise KeyError(f"unknown sink counter {counter!r}")
        with self._lock:
            self._counts[counter] += amount

    def set_pending(self, value: int) -> None:
        with self._lock:
            self._pending = value

    def __getattr__(self, name: str) -> int:
        # Counters read as plain attributes: ``stats.sent``.
        counts = object.__getattribute__(self, "_counts")
        if name in counts:
            return int(counts[name])
        raise AttributeError(name)

    @property
    def pending(self) -> int:
        return self._pending

    def snapshot(self) -> dict[str, int]:
        """Every counter and ``pending``, read at one instant."""
        with self._lock:
            return {**self._counts, "pending": self._pending}

    def __repr__(self) -> str:
        values = ", ".join(f"{key}={value}" for key, value in self.snapshot().items())
        return f"SinkStats({values})"


@runtime_checkable
class Sink(Protocol):
    """Where alerts go. ``send`` must not block on the network: a sink that delivers remotely queues
    the alert and delivers it on its own thread. ``flush`` waits (up to ``timeout`` seconds, ``None``
    for no limit) until everything accepted so far is delivered and says whether it was; ``close``
    delivers what it can within ``timeout`` and releases the sink's resources (an on-disk queue keeps
    what was not delivered for the next start)."""

    @property
    def name(self) -> str:
        """A short name for logs and metric labels; never holds a secret (no URL path or token)."""
        ...

    @property
    def stats(self) -> SinkStats: ...

    def send(self, alert: Alert) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def close(self, timeout: float | None = None) -> None: ...
