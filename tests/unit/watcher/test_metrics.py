"""The watcher's /metrics carries the alert sinks' counters (docs/alerts.md) beside its own, and
counts a lost connection as a reconnect."""

from __future__ import annotations

from prometheus_client import generate_latest
from tests.unit.sinks.alert_samples import transition_alert

from kposture.model.lifecycle import Change
from kposture.model.rules import Severity
from kposture.sinks.base import SinkStats
from kposture.sinks.fanning import Sinks
from kposture.sinks.routing import Route
from kposture.watcher.metrics import WatchMetrics


class Recorder:
    name = "siem"

    def __init__(self) -> None:
        self.stats = SinkStats()

    def send(self, alert: object) -> None:
        self.stats.add("queued")

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        pass


def test_the_sinks_counters_are_scraped_with_the_watchers() -> None:
    metrics = WatchMetrics()
    sinks = Sinks([(Recorder(), Route(min_severity=Severity.HIGH))])
    metrics.add_sinks(sinks)
    sinks.send(transition_alert(Change.OPENED))
    sinks.send(transition_alert(Change.RESOLVED, severity=Severity.LOW))
    metrics.stream_status("Pod", "lost", "connection refused")
    metrics.stream_status("Pod", "reconnect", "watch ended")
    scraped = generate_latest(metrics.registry).decode()
    assert 'kposture_alerts_total{outcome="queued",sink="siem"} 1.0' in scraped
    assert 'kposture_alerts_total{outcome="filtered",sink="siem"} 1.0' in scraped
    assert 'kposture_alert_queue_pending{sink="siem"} 0.0' in scraped
    assert 'kposture_watch_reconnects_total{kind="Pod"} 2.0' in scraped
