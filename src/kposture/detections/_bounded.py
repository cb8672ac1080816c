"""Bounded memory for stateful detections and the detector: a table that keeps its most recently
used keys, and a burst counter (what one key did within a sliding window, one alert per window).

Time is always an event's own time, never the clock.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict, deque
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedTable(Generic[K, V]):
    """A mapping that keeps the ``capacity`` most recently used keys."""

    __slots__ = ("_capacity", "_items")

    def __init__(self, capacity: int) -> None:
        self._capacity = max(1, capacity)
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items


class Burst:
    """What one key did within a sliding window: at most ``threshold`` items, each with its time,
    and when the last alert was raised. ``distinct`` counts an item once (its latest time), so
    reading the same object again and again is not a burst."""

    __slots__ = ("distinct", "items", "last_alert", "threshold")

    def __init__(self, threshold: int, *, distinct: bool = False) -> None:
        self.threshold = max(1, threshold)
        self.distinct = distinct
        self.items: deque[tuple[dt.datetime, str]] = deque(maxlen=self.threshold)
        self.last_alert: dt.datetime | None = None

    def add(self, at: dt.datetime, item: str, window: dt.timedelta) -> list[str] | None:
        """Record ``item`` at ``at``; the items of the burst (oldest first) when ``threshold`` of
        them fall within ``window`` and no alert was raised for this key within the window, else
        None. A burst reported starts the count again."""
        if self.distinct and any(seen == item for _, seen in self.items):
            self.items = deque(
                ((time, seen) for time, seen in self.items if seen != item), maxlen=self.threshold
            )
        self.items.append((at, item))
        start = at - window
        while self.items and self.items[0][0] < start:
            self.items.popleft()
        if len(self.items) < self.threshold:
            return None
        if self.last_alert is not None and at - self.last_alert < window:
            return None
        self.last_alert = at
        found = [seen for _, seen in self.items]
        self.items.clear()
        return found
