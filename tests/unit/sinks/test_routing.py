"""Severity thresholds, de-duplication windows and the fan-out's isolation of a broken sink."""

from __future__ import annotations

import io
import json

import pytest
from tests.unit.sinks.alert_samples import finding_alert, transition_alert

from kposture.model.lifecycle import Alert, Change
from kposture.model.rules import Severity
from kposture.sinks.base import SinkStats
from kposture.sinks.fanning import Sinks
from kposture.sinks.json_lines import JsonLinesSink
from kposture.sinks.routing import Deduplicator, Route


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = SinkStats()
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        pass


class Broken(Recorder):
    def send(self, alert: Alert) -> None:
        raise BrokenPipeError("stream closed")


def test_dedup_same_key_within_window_once_then_again_after_it() -> None:
    dedup = Deduplicator(window=60)
    assert dedup.admit("k", 0.0)
    assert not dedup.admit("k", 30.0)
    assert not dedup.admit("k", 59.9)
    assert dedup.admit("k", 60.0)  # a new window opens at the next pass
    assert not dedup.admit("k", 100.0)
    assert dedup.admit("other", 100.0)


def test_empty_keys_and_a_zero_window_never_deduplicate() -> None:
    assert all(Deduplicator(60).admit("", 0.0) for _ in range(3))
    assert all(Deduplicator(0).admit("k", 0.0) for _ in range(3))
    with pytest.raises(ValueError, match="negative"):
        Deduplicator(-1)


def test_dedup_memory_is_bounded_and_forgets_least_recent_first() -> None:
    dedup = Deduplicator(window=3600, max_keys=100)
    for index in range(1000):
        assert dedup.admit(f"key-{index}", float(index) / 1000)
    assert len(dedup) == 100
    assert not dedup.admit("key-999", 2.0)  # still remembered
    assert dedup.admit("key-0", 2.0)  # forgotten: told again rather than lost


def test_dedup_expires_old_keys_as_time_passes() -> None:
    dedup = Deduplicator(window=10)
    for index in range(50):
        dedup.admit(f"k{index}", 0.0)
    dedup.admit("fresh", 20.0)
    assert len(dedup) == 1


def test_a_new_key_for_the_same_subject_passes_and_replaces_the_last() -> None:
    dedup = Deduplicator(window=600)
    assert dedup.admit("fp:open", 0.0, "fp")
    assert dedup.admit("fp:resolved", 1.0, "fp")
    assert dedup.admit("fp:open", 2.0, "fp")
    assert not dedup.admit("fp:open", 3.0, "fp")  # the state the sink was last told about
    assert dedup.admit("other:open", 3.0, "other")
    assert len(dedup) == 2
    dedup.forget("fp")
    assert dedup.admit("fp:open", 4.0, "fp")


def test_every_transition_of_a_finding_alerts_with_the_default_window() -> None:
    # The review's cases, within one 10-minute window: fix, break again, delete; a flip of
    # privileged true/false/true; suppressed then unsuppressed. Each stored transition is one
    # alert, and the last alert a receiver saw is the store's current state.
    clock = Clock()
    sink = Recorder("webhook")
    sinks = Sinks([(sink, Route(dedup_window=600))], clock=clock)
    changes = [
        (Change.OPENED, ""),
        (Change.RESOLVED, "fixed"),
        (Change.REOPENED, ""),
        (Change.RESOLVED, "deleted"),
        (Change.REOPENED, ""),
        (Change.SUPPRESSED, "annotation: accepted risk"),
        (Change.UNSUPPRESSED, ""),
    ]
    for change, reason in changes:
        clock.now += 1
        assert sinks.send(transition_alert(change, reason=reason)) == 1
    assert [(a.change, a.dedup_key.split(":")[1]) for a in sink.alerts] == [
        ("opened", "open"),
        ("resolved", "resolved"),
        ("reopened", "open"),
        ("resolved", "resolved"),
        ("reopened", "open"),
        ("suppressed", "suppressed"),
        ("unsuppressed", "open"),
    ]
    assert sink.stats.deduplicated == 0


def test_the_same_state_of_a_finding_sent_again_is_one_alert_per_window() -> None:
    clock = Clock()
    sink = Recorder("webhook")
    sinks = Sinks([(sink, Route(dedup_window=600))], clock=clock)
    resolved = transition_alert(Change.RESOLVED, reason="fixed")
    assert sinks.send(resolved) == 1
    clock.now += 5  # re-sent (a relist, a second watcher of the same cluster)
    assert sinks.send(transition_alert(Change.RESOLVED, reason="fixed")) == 0
    assert sinks.send(transition_alert(Change.RESOLVED, fingerprint="another")) == 1
    clock.now += 600
    assert sinks.send(resolved) == 1
    assert sink.stats.deduplicated == 1


def test_a_sink_that_skipped_a_transition_is_told_the_next_one() -> None:
    # The finding went below the sink's threshold while resolved: the sink never heard of the
    # resolution, so the reopening is news to it, not a repeat of the opening it saw.
    clock = Clock()
    sink = Recorder("high")
    sinks = Sinks([(sink, Route(min_severity=Severity.HIGH, dedup_window=600))], clock=clock)
    sinks.send(transition_alert(Change.OPENED))
    sinks.send(transition_alert(Change.RESOLVED, severity=Severity.LOW))
    sinks.send(transition_alert(Change.REOPENED))
    assert [a.change for a in sink.alerts] == ["opened", "reopened"]


def test_thresholds_and_dedup_are_per_sink() -> None:
    clock = Clock()
    everything, high, quiet = Recorder("all"), Recorder("high"), Recorder("quiet")
    sinks = Sinks(
        [
            (everything, Route()),
            (high, Route(min_severity=Severity.HIGH, dedup_window=300)),
            (quiet, Route(min_severity=Severity.CRITICAL)),
        ],
        clock=clock,
    )
    low = finding_alert("low one", severity=Severity.LOW, dedup_key="low")
    hot = finding_alert("hot", severity=Severity.HIGH, dedup_key="fp|opened")
    assert sinks.send(low) == 1
    assert sinks.send(hot) == 2
    clock.now += 100
    assert sinks.send(hot) == 1  # deduplicated for "high" only
    clock.now += 300
    assert sinks.send(hot) == 2
    assert [a.message for a in everything.alerts] == ["low one", "hot", "hot", "hot"]
    assert [a.message for a in high.alerts] == ["hot", "hot"]
    assert quiet.alerts == []
    stats = sinks.stats()
    assert stats["high"]["filtered"] == 1
    assert stats["high"]["deduplicated"] == 1
    assert stats["quiet"]["filtered"] == 4
    assert stats["all"]["deduplicated"] == 0


def test_a_filtered_alert_does_not_use_up_the_dedup_window() -> None:
    clock = Clock()
    sink = Recorder("s")
    sinks = Sinks([(sink, Route(min_severity=Severity.HIGH, dedup_window=60))], clock=clock)
    sinks.send(finding_alert(severity=Severity.LOW, dedup_key="same"))
    sinks.send(finding_alert(severity=Severity.HIGH, dedup_key="same"))
    assert len(sink.alerts) == 1


def test_a_broken_sink_is_counted_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, fine = Broken("broken"), Recorder("fine")
    sinks = Sinks([(broken, Route()), (fine, Route())])
    assert sinks.send(finding_alert()) == 1
    assert len(fine.alerts) == 1
    assert broken.stats.errors == 1
    assert (
        "alert sink broken failed to take an alert: BrokenPipeError: stream closed" in caplog.text
    )


def test_sink_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique: twin"):
        Sinks([(Recorder("twin"), Route()), (Recorder("twin"), Route())])


def test_stats_counters_read_as_attributes_and_reject_unknown_names() -> None:
    stats = SinkStats()
    stats.add("sent", 3)
    stats.set_pending(2)
    assert stats.sent == 3
    assert stats.pending == 2
    assert stats.snapshot()["sent"] == 3
    with pytest.raises(KeyError):
        stats.add("sendt")
    with pytest.raises(AttributeError):
        _ = stats.nothing
    assert repr(stats).startswith("SinkStats(queued=0, sent=3")


def test_fan_out_over_json_lines_end_to_end() -> None:
    out = io.StringIO()
    sinks = Sinks([(JsonLinesSink(out), Route(min_severity=Severity.MEDIUM))])
    sinks.send(finding_alert("kept", severity=Severity.CRITICAL))
    sinks.send(finding_alert("filtered", severity=Severity.INFO))
    assert sinks.flush(1)
    sinks.close(1)
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["kept"]
