"""Putting the audit webhook's events back in the order the API server received their requests.

kube-apiserver's batch webhook backend posts its batches concurrently (each full batch is sent by
its own goroutine), so batches can reach the sink, and its queue, in another order than they were
cut; inside a batch, events are in the order their stage was logged, so a controller's request can
come before the request it reacted to when the first one's answer was logged later. A detection
that remembers what came earlier (``privileged-pod-created`` not alerting again for the pods of a
workload that alerted, an exec judged at ``ResponseStarted``) needs them in order.

``HeldEvents`` holds each event for up to ``hold`` seconds after it arrived and hands events on
ordered by ``requestReceivedTimestamp``, then stage (``ResponseStarted`` before
``ResponseComplete``), then arrival. An event is handed on once it is settled (it arrived at least
``hold`` seconds ago) or some settled event comes after it; so every event waits at most ``hold``
seconds, and an event that comes later than ``hold`` after one that follows it is handed on as it
comes (it cannot be put back before what was already judged). Events without a receive time sort
first. At most ``capacity`` events are held: past that the earliest is handed on at once.
"""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass, field

DEFAULT_HOLD_SECONDS = 0.5
"""How long an event is held for those that should come before it: concurrent batches arrive
within milliseconds of each other; the cost is that much latency on every alert."""
DEFAULT_CAPACITY = 100_000
_STAGES = {"ResponseStarted": 0, "ResponseComplete": 1, "Panic": 2}

_Key = tuple[float, int, int]
"""Receive time (seconds since the epoch, -inf when unknown), stage rank, arrival number."""


def order_key(item: object, arrival: int) -> _Key:
    """Where a raw webhook item goes: by its ``requestReceivedTimestamp`` and ``stage`` (an item
    without a readable time goes first: the reader judges and describes it)."""
    raw = item if isinstance(item, dict) else {}
    stamp, stage = raw.get("requestReceivedTimestamp"), raw.get("stage")
    when = float("-inf")
    if isinstance(stamp, str):
        try:
            parsed = dt.datetime.fromisoformat(stamp)
        except ValueError:
            pass
        else:
            aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
            when = aware.timestamp()
    rank = _STAGES.get(stage, len(_STAGES)) if isinstance(stage, str) else len(_STAGES)
    return (when, rank, arrival)


@dataclass(order=True, frozen=True, slots=True)
class HeldEvent:
    """A raw webhook item with its place in the order, the monotonic time its batch arrived and
    the batch's number (``webhook batch N``)."""

    key: _Key
    arrived: float = field(compare=False)
    item: object = field(compare=False)
    batch: int = field(compare=False, default=0)
    index: int = field(compare=False, default=0)
    """The item's index in its batch."""


class HeldEvents:
    """The events waiting to be judged, handed on in request order (see the module docstring)."""

    def __init__(
        self, hold: float = DEFAULT_HOLD_SECONDS, capacity: int = DEFAULT_CAPACITY
    ) -> None:
        self.hold = hold
        self.capacity = max(1, capacity)
        self._heap: list[HeldEvent] = []
        self._arrivals = 0
        self._settled: _Key | None = None
        """The latest key among events held ``hold`` seconds (not yet handed on)."""
        self._pending: list[HeldEvent] = []
        """Held events by arrival, to find those that settled."""

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, item: object, now: float, batch: int = 0, index: int = 0) -> list[HeldEvent]:
        """Hold a raw event ``item`` (``index`` in batch number ``batch``, arrived at monotonic
        time ``now``); what has to go on at once when the buffer is full."""
        held = HeldEvent(order_key(item, self._arrivals), now, item, batch, index)
        self._arrivals += 1
        heapq.heappush(self._heap, held)
        self._pending.append(held)
        out = []
        while len(self._heap) > self.capacity:
            out.append(self._pop())
        return out

    def due(self, now: float) -> list[HeldEvent]:
        """The events to judge at monotonic time ``now``, in order."""
        cut = 0
        for held in self._pending:
            if held.arrived > now - self.hold:
                break
            if self._settled is None or held.key > self._settled:
                self._settled = held.key
            cut += 1
        del self._pending[:cut]
        out = []
        while self._heap and self._settled is not None and self._heap[0].key <= self._settled:
            out.append(self._pop())
        if not self._heap:
            self._settled, self._pending = None, []
        return out

    def all(self) -> list[HeldEvent]:
        """Every held event, in order (shutdown)."""
        out = [self._pop() for _ in range(len(self._heap))]
        self._settled, self._pending = None, []
        return out

    def next_due(self, now: float) -> float | None:
        """Seconds until the next event settles, or None when nothing is held."""
        if not self._heap:
            return None
        if not self._pending:
            return 0.0
        return max(0.0, self._pending[0].arrived + self.hold - now)

    def _pop(self) -> HeldEvent:
        return heapq.heappop(self._heap)
