"""The webhook's decision log writer: ``record()`` never waits for the database.

The admission webhook answers within the API server's timeout whatever the store is doing, so a
decision is put on a bounded in-memory queue and a background thread inserts them in batches: as soon
as ``batch_size`` are waiting, or ``interval`` seconds after the first of a batch arrived. When the
queue is full (the database is slow or gone) the decision is dropped and counted, with a warning
logged at most once per ``warn_every`` seconds, instead of blocking the request. A batch the database
refuses is logged and counted as failed; the thread keeps going. ``close()`` writes everything still
queued before it returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from kposture.model.admission import AdmissionDecision
from kposture.store.connecting import Store, StoreError
from kposture.store.decisions import write_decisions

log = logging.getLogger("kposture.store")

WriteBatch = Callable[[Sequence[AdmissionDecision]], object]


class DecisionWriter:
    """Batches decisions from any number of threads into the store on one background thread."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        write: WriteBatch | None = None,
        max_queue: int = 10_000,
        batch_size: int = 500,
        interval: float = 0.2,
        warn_every: float = 10.0,
    ) -> None:
        if write is None:
            if store is None:
                raise ValueError("give a store or a write function")
            target = store

            def write(batch: Sequence[AdmissionDecision]) -> object:
                return write_decisions(target, batch)

        self._write = write
        # Unbounded underneath so close() can always enqueue its wake-up; record() keeps the bound.
        self._queue: queue.SimpleQueue[AdmissionDecision | None] = queue.SimpleQueue()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._interval = interval
        self._warn_every = warn_every
        self._closing = threading.Event()
        self._full = threading.Event()  # set when a batch's worth is waiting, or on close
        self._lock = threading.Lock()
        self._dropped = 0
        self._written = 0
        self._failed = 0
        self._batches = 0
        self._last_warning = -float("inf")
        self._thread = threading.Thread(
            target=self._run, name="kposture-decision-writer", daemon=True
        )
        self._thread.start()

    # --- producer side (webhook request handlers) -----------------------------------------------

    def record(self, decision: AdmissionDecision) -> bool:
        """Queue ``decision`` for writing; ``False`` (and counted) when it had to be dropped."""
        with self._lock:
            waiting = self._queue.qsize()
            accepted = not self._closing.is_set() and waiting < self._max_queue
            if accepted:
                self._queue.put(decision)
                if waiting + 1 >= self._batch_size:
                    self._full.set()
        if not accepted:
            self._drop()
        return accepted

    def _drop(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._dropped += 1
            dropped = self._dropped
            warn = now - self._last_warning >= self._warn_every
            if warn:
                self._last_warning = now
        if warn:
            reason = "the writer is closed" if self._closing.is_set() else "the queue is full"
            log.warning(
                "admission decision log: dropped a decision (%d so far): %s "
                "(%d waiting; is the store slow or unreachable?)",
                dropped,
                reason,
                self._queue.qsize(),
            )

    # --- counters (for /metrics and tests) -------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Decisions refused because the queue was full or the writer closed."""
        return self._dropped

    @property
    def written(self) -> int:
        """Decisions the store accepted."""
        return self._written

    @property
    def failed(self) -> int:
        """Decisions lost because the store refused their batch."""
        return self._failed

    @property
    def batches(self) -> int:
        """Batches written (or attempted)."""
        return self._batches

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting decisions and write everything queued; wait at most ``timeout`` seconds."""
        with self._lock:
            if not self._closing.is_set():
                self._closing.set()
                self._queue.put(None)  # after every accepted decision: the thread's last item
                self._full.set()
        self._thread.join(timeout)

    def __enter__(self) -> DecisionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- consumer side (the background thread) ---------------------------------------------------

    def _run(self) -> None:
        done = False
        while not done:
            batch, done = self._next_batch()
            if batch:
                self._flush(batch)

    def _next_batch(self) -> tuple[list[AdmissionDecision], bool]:
        """Wait for a first decision, then for the batch to fill or its time to be up, and take
        what is queued; also say whether ``close()``'s end marker was reached.

        The thread sleeps through the interval instead of waking for each decision: every wake-up
        would take the interpreter lock from the request handlers (measured on the webhook: a
        wake per decision cost p99 latency at 500 reviews/s)."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        if not self._closing.is_set() and self._queue.qsize() + 1 < self._batch_size:
            self._full.wait(self._interval)  # close() sets it too: no waiting out the interval
        self._full.clear()
        while len(batch) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _flush(self, batch: list[AdmissionDecision]) -> None:
        try:
            self._write(batch)
        except StoreError as exc:
            self._failed += len(batch)
            log.error("admission decision log: lost %d decisions: %s", len(batch), exc)
        except Exception:
            # Anything else would end the thread and silently fill the queue: log it and go on.
            self._failed += len(batch)
            log.exception("admission decision log: lost %d decisions", len(batch))
        else:
            self._written += len(batch)
        finally:
            self._batches += 1
