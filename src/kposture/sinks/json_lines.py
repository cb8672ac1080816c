"""The JSON-lines sink: each alert as one ``kposture.alert/v1`` object on its own line of a text
stream (stdout by default), flushed after every line so a log shipper sees it at once.

Writing is synchronous and serialised by a lock, so lines from several threads never interleave.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from kposture.model.lifecycle import Alert
from kposture.sinks.base import SinkStats
from kposture.sinks.documents import alert_json


class JsonLinesSink:
    """Writes alerts as JSON lines to ``stream`` (``sys.stdout`` when ``None``, looked up at each
    write so a redirected stdout is honoured)."""

    def __init__(self, stream: TextIO | None = None, *, name: str = "stdout") -> None:
        self._stream = stream
        self._name = name
        self._stats = SinkStats()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def stats(self) -> SinkStats:
        return self._stats

    def send(self, alert: Alert) -> None:
        line = alert_json(alert).decode() + "\n"
        with self._lock:
            if self._closed:
                raise RuntimeError(f"sink {self._name} is closed")
            self._stats.add("queued")
            stream = self._stream if self._stream is not None else sys.stdout
            stream.write(line)
            stream.flush()
        self._stats.add("sent")

    def flush(self, timeout: float | None = None) -> bool:
        with self._lock:
            (self._stream if self._stream is not None else sys.stdout).flush()
        return True

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            self._closed = True
            (self._stream if self._stream is not None else sys.stdout).flush()

    def __repr__(self) -> str:
        return f"JsonLinesSink(name={self._name!r})"
