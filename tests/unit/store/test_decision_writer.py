"""The webhook's decision writer with a stand-in for the database: batching by size and by time,
flushing on close, dropping (counted, never blocking) when the queue is full, surviving failures."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence

import pytest

from kposture.model import ResourceRef
from kposture.model.admission import AdmissionDecision, Outcome
from kposture.store.connecting import StoreError
from kposture.store.decision_writing import DecisionWriter


def _decision(n: int) -> AdmissionDecision:
    return AdmissionDecision(
        uid=f"uid-{n}",
        time=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        operation="CREATE",
        user="alice",
        groups=(),
        resource=ResourceRef("v1", "Pod", "shop", f"web-{n}"),
        outcome=Outcome.ALLOWED,
    )


class Sink:
    """Records the batches it is given; ``gate`` (when set) holds every write until opened."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.gate = gate
        self.entered = threading.Event()

    def __call__(self, batch: Sequence[AdmissionDecision]) -> None:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the gate"
        self.batches.append([d.uid for d in batch])


def _eventually(condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` for up to 10 s (a hang detector: a condition that never holds fails)."""
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_batches_by_size_and_flushes_the_rest_on_close() -> None:
    sink = Sink()
    # An interval no test run outlives: the partial last batch is written only if close() cuts the
    # writer's wait short, so close() must not wait the interval out.
    writer = DecisionWriter(write=sink, batch_size=10, interval=3600.0)
    for n in range(30):
        assert writer.record(_decision(n))
    assert _eventually(lambda: writer.written == 30)
    assert writer.record(_decision(30))
    # the writer took decision 30 and now waits out the interval for the rest of its batch
    assert _eventually(lambda: writer.pending == 0)
    for n in range(31, 35):
        assert writer.record(_decision(n))
    writer.close(60)  # 60 s is a hang detector, not a bound: past it the last 5 are still unwritten
    assert [len(b) for b in sink.batches] == [10, 10, 10, 5]
    assert [uid for batch in sink.batches for uid in batch] == [f"uid-{n}" for n in range(35)]
    assert (writer.written, writer.dropped, writer.failed, writer.batches) == (35, 0, 0, 4)


def test_a_partial_batch_is_written_after_the_interval() -> None:
    sink = Sink()
    writer = DecisionWriter(write=sink, batch_size=500, interval=0.05)
    for n in range(3):
        writer.record(_decision(n))
    deadline = time.monotonic() + 5
    while writer.written < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.written == 3 and sink.batches == [["uid-0", "uid-1", "uid-2"]]
    writer.close()


def test_a_full_queue_drops_counts_and_warns_without_blocking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = threading.Event()
    sink = Sink(gate)
    writer = DecisionWriter(write=sink, max_queue=5, batch_size=1, interval=0.01, warn_every=60)
    writer.record(_decision(0))
    assert sink.entered.wait(5)  # the thread holds decision 0 and waits on the "database"
    caplog.set_level(logging.WARNING, logger="kposture.store")
    # the writer stays held on the gate until the end: a record() that waited for room would never
    # return, so getting here at all shows the calls did not block
    accepted = [writer.record(_decision(n)) for n in range(1, 1001)]
    assert not gate.is_set()
    assert accepted == [True] * 5 + [False] * 995
    assert writer.dropped == 995 and writer.pending == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # rate-limited
    assert "dropped a decision (1 so far)" in warnings[0].getMessage()
    assert "queue is full" in warnings[0].getMessage()
    gate.set()
    writer.close()
    assert writer.written == 6 and writer.dropped == 995


def test_a_failed_batch_is_counted_and_the_writer_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def flaky(batch: Sequence[AdmissionDecision]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise StoreError("cannot write admission decisions to sqlite:///x.db: disk I/O error")

    writer = DecisionWriter(write=flaky, batch_size=2, interval=30.0)
    for n in range(5):
        writer.record(_decision(n))
    writer.close()
    assert calls == [2, 2, 1]
    assert (writer.failed, writer.written) == (2, 3)
    assert "lost 2 decisions" in caplog.text and "disk I/O error" in caplog.text


def test_an_unexpected_error_does_not_stop_the_thread() -> None:
    calls: list[int] = []

    def broken(batch: Sequence[AdmissionDecision]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("bug")

    writer = DecisionWriter(write=broken, batch_size=1, interval=30.0)
    for n in range(3):
        writer.record(_decision(n))
    writer.close()
    assert (writer.failed, writer.written) == (1, 2)


def test_record_after_close_is_dropped() -> None:
    writer = DecisionWriter(write=Sink())
    writer.close()
    writer.close()  # twice is fine
    assert writer.record(_decision(0)) is False
    assert writer.dropped == 1


def test_needs_a_store_or_a_write_function() -> None:
    with pytest.raises(ValueError, match="store or a write function"):
        DecisionWriter()
