"""Keeping the garbage collector's full passes off the path of an alert.

Owns when the watcher collects and freezes its heap. The watcher holds the whole cluster as parsed
JSON (about 300,000 tracked objects for 10,000 Kubernetes objects), and Python's cyclic collector
walks every tracked object in each of its full (generation 2) passes: measured at up to 200 ms
with 10,000 objects, a pause every few thousand changes that delays every event in flight, and it
grows with the cluster. Frozen objects (``gc.freeze``) are never walked again; the ones that become
garbage are still freed by reference counting (the watcher's objects hold no cycles: about ten
small cyclic objects per batch, SQL expressions, are the measured exception).

- ``settle`` collects everything once and freezes what survives: after each full reconcile
  (start-up, a relist), and every ``every`` seconds when no event is waiting, to reclaim cycles
  that formed among frozen objects. It costs one full collection (a few hundred ms).
- ``after_batch`` collects the young generations (what the batch allocated, about a millisecond)
  and freezes the survivors, so no automatic collection ever walks more than one batch's objects.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

SETTLE_EVERY = 300.0
"""Seconds between full settles, taken when no event is waiting."""


class Heap:
    """Collects and freezes the heap; see the module docstring."""

    def __init__(
        self, every: float = SETTLE_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every = every
        self._clock = clock
        self._last: float | None = None
        self.settles = 0

    def settle(self) -> None:
        """Collect everything once (frozen objects included) and freeze what survives."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._last = self._clock()
        self.settles += 1

    def after_batch(self, *, idle: bool) -> None:
        """A batch is done: freeze what it left alive; ``idle`` (no event waiting) and the last
        settle ``every`` seconds old: settle instead."""
        if idle and self._last is not None and self._clock() - self._last >= self.every:
            self.settle()
            return
        gc.collect(1)
        gc.freeze()

    def release(self) -> None:
        """Unfreeze, so the collector walks everything again (when the watcher stops)."""
        gc.unfreeze()
