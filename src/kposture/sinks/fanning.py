"""``Sinks``: sends each alert to every configured sink whose route admits it.

This is what the watcher and the detection pipeline call. Each sink has its own ``Route`` (minimum
severity, de-duplication window); an alert a route turns away is counted on that sink's stats
(``filtered`` or ``deduplicated``). A sink that raises is logged and counted (``errors``) and never
stops the others from getting the alert, nor the caller from going on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator

from kposture.model.lifecycle import Alert
from kposture.sinks.base import Sink
from kposture.sinks.routing import Deduplicator, Route, severe_enough

log = logging.getLogger("kposture.sinks")


class _Routed:
    __slots__ = ("dedup", "route", "sink")

    def __init__(self, sink: Sink, route: Route) -> None:
        self.sink = sink
        self.route = route
        self.dedup = Deduplicator(route.dedup_window, route.max_keys)


class Sinks:
    """A fan-out over ``(sink, route)`` pairs, with the same ``send``, ``flush`` and ``close``.

    ``clock`` gives monotonic seconds for de-duplication (tests pass their own).
    """

    def __init__(
        self,
        routed: Iterable[tuple[Sink, Route]] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._routed = [_Routed(sink, route) for sink, route in routed]
        names = [entry.sink.name for entry in self._routed]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"sink names must be unique: {', '.join(duplicates)}")
        self._clock = clock

    @property
    def name(self) -> str:
        return "all"

    def __iter__(self) -> Iterator[Sink]:
        return (entry.sink for entry in self._routed)

    def __len__(self) -> int:
        return len(self._routed)

    def routes(self) -> dict[str, Route]:
        return {entry.sink.name: entry.route for entry in self._routed}

    def send(self, alert: Alert) -> int:
        """Hand ``alert`` to every sink that admits it; returns how many took it."""
        now = self._clock()
        taken = 0
        subject = alert.dedup_subject
        for entry in self._routed:
            sink = entry.sink
            if not severe_enough(alert, entry.route.min_severity):
                sink.stats.add("filtered")
                entry.dedup.forget(subject)
                continue
            if not entry.dedup.admit(alert.dedup_key, now, subject):
                sink.stats.add("deduplicated")
                continue
            try:
                sink.send(alert)
            except Exception as exc:  # one broken sink must not silence the others
                sink.stats.add("errors")
                log.error("alert sink %s failed to take an alert: %s", sink.name, _describe(exc))
                continue
            taken += 1
        return taken

    def flush(self, timeout: float | None = None) -> bool:
        """Flush every sink, sharing ``timeout`` between them; ``True`` when all are drained."""
        deadline = None if timeout is None else self._clock() + timeout
        drained = True
        for entry in self._routed:
            left = None if deadline is None else max(0.0, deadline - self._clock())
            drained = entry.sink.flush(left) and drained
        return drained

    def close(self, timeout: float | None = 5.0) -> None:
        """Close every sink, sharing ``timeout`` between them (``None``: wait until every queue is
        delivered, however long the receivers stay down); a sink that raises is logged."""
        deadline = None if timeout is None else self._clock() + timeout
        for entry in self._routed:
            left = None if deadline is None else max(0.0, deadline - self._clock())
            try:
                entry.sink.close(left)
            except Exception as exc:
                log.error("alert sink %s failed to close: %s", entry.sink.name, _describe(exc))

    def stats(self) -> dict[str, dict[str, int]]:
        """Each sink's counters by sink name (for metrics)."""
        return {entry.sink.name: entry.sink.stats.snapshot() for entry in self._routed}


def _describe(exc: BaseException) -> str:
    # The exception's type and first line only: never a traceback full of locals or headers.
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
