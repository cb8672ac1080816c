"""The pure decisions in front of each sink: is an alert severe enough for it, and has the same alert
already gone to it within its de-duplication window.

"The same alert" is the same ``dedup_key`` as the last one sent for the alert's ``dedup_subject``:
for a finding the subject is the finding (its fingerprint) and the key its status after the change,
so a repeat of the state a sink was last told about is a duplicate while the next transition of the
finding (resolved after opened, reopened after resolved) always passes, however soon it comes; for
a detection both are the detection, its message, the user agent and the peer source IP. Time is
passed in (monotonic seconds), so the decisions are plain functions of their inputs.
``Deduplicator`` remembers at most ``max_keys`` subjects: when more arrive within one window the
least recently sent are forgotten, so memory stays bounded however noisy the producer is (a
forgotten subject lets its next alert through: de-duplication errs on the side of telling).
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
    """Remembers, per subject, the last key let through and when, for ``window`` seconds.

    An alert is a duplicate when its key is the one last let through for its subject within the
    window; another key for the subject passes and replaces it. After the window the next alert
    passes and opens a new window, so a steady stream of one alert yields one per window. Alerts
    with an empty key always pass. Safe to call from several threads.
    """

    def __init__(self, window: float, max_keys: int = 10_000) -> None:
        if window < 0:
            raise ValueError("the de-duplication window cannot be negative")
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.window = window
        self.max_keys = max_keys
        self._passed: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, key: str, now: float, subject: str = "") -> bool:
        """``True`` when an alert with ``key`` about ``subject`` (default: the key) at ``now``
        should be sent (and records it as the subject's last)."""
        if not key or self.window <= 0:
            return True
        subject = subject or key
        with self._lock:
            self._expire(now)
            last = self._passed.get(subject)
            if last is not None and last[0] == key and now - last[1] < self.window:
                return False
            self._passed[subject] = (key, now)
            self._passed.move_to_end(subject)
            while len(self._passed) > self.max_keys:
                self._passed.popitem(last=False)
            return True

    def forget(self, subject: str) -> None:
        """Forget what was last sent about ``subject`` (the sink skipped one of its alerts, so it
        no longer knows the subject's state: the next alert about it must pass)."""
        if subject and self.window > 0:
            with self._lock:
                self._passed.pop(subject, None)

    def _expire(self, now: float) -> None:
        # Subjects are kept in the order they last passed, so the expired ones are at the front.
        while self._passed:
            subject, (_key, last) = next(iter(self._passed.items()))
            if now - last < self.window:
                break
            del self._passed[subject]

    def __len__(self) -> int:
        return len(self._passed)
