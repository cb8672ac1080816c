"""The pure decisions in front of each sink: is an alert severe enough for it, and has the same alert
(same ``dedup_key``) already gone to it within its de-duplication window.

Time is passed in (monotonic seconds), so the decisions are plain functions of their inputs.
``Deduplicator`` remembers at most ``max_keys`` keys: when more distinct keys arrive within one window
the least recently sent are forgotten, so memory stays bounded however noisy the producer is (a
forgotten key lets its next alert through: de-duplication errs on the side of telling).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from kposture.model.lifecycle import Alert
from kposture.model.rules import Severity


@dataclass(frozen=True, slots=True)
class Route:
    """How alerts reach one sink: the lowest severity it takes and its de-duplication window in
    seconds (0 turns de-duplication off)."""

    min_severity: Severity = Severity.INFO
    dedup_window: float = 0.0
    max_keys: int = 10_000


def severe_enough(alert: Alert, minimum: Severity) -> bool:
    return alert.severity >= minimum


class Deduplicator:
    """Remembers when each ``dedup_key`` was last let through, for ``window`` seconds.

    A key seen again within the window of its last pass is a duplicate; after the window the next
    alert passes and opens a new window, so a steady stream of one alert yields one per window.
    Alerts with an empty key always pass. Safe to call from several threads.
    """

    def __init__(self, window: float, max_keys: int = 10_000) -> None:
        if window < 0:
            raise ValueError("the de-duplication window cannot be negative")
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.window = window
        self.max_keys = max_keys
        self._passed: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, key: str, now: float) -> bool:
        """``True`` when an alert with ``key`` at ``now`` should be sent (and records it)."""
        if not key or self.window <= 0:
            return True
        with self._lock:
            self._expire(now)
            last = self._passed.get(key)
            if last is not None and now - last < self.window:
                return False
            self._passed[key] = now
            self._passed.move_to_end(key)
            while len(self._passed) > self.max_keys:
                self._passed.popitem(last=False)
            return True

    def _expire(self, now: float) -> None:
        # Keys are kept in the order they last passed, so the expired ones are at the front.
        while self._passed:
            key, last = next(iter(self._passed.items()))
            if now - last < self.window:
                break
            del self._passed[key]

    def __len__(self) -> int:
        return len(self._passed)
