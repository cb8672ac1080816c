"""The sinks' counters as Prometheus metrics."""

from __future__ import annotations

import io

from prometheus_client import CollectorRegistry, generate_latest
from tests.unit.sinks.alert_samples import finding_alert

from kposture.model.rules import Severity
from kposture.sinks.fanning import Sinks
from kposture.sinks.json_lines import JsonLinesSink
from kposture.sinks.metrics import SinkCollector
from kposture.sinks.routing import Route


def test_counters_and_pending_by_sink() -> None:
    sinks = Sinks([(JsonLinesSink(io.StringIO(), name="siem"), Route(Severity.HIGH))])
    registry = CollectorRegistry()
    registry.register(SinkCollector(sinks))
    sinks.send(finding_alert(severity=Severity.LOW))
    sinks.send(finding_alert(severity=Severity.CRITICAL))
    text = generate_latest(registry).decode()
    assert 'kposture_alerts_total{outcome="sent",sink="siem"} 1.0' in text
    assert 'kposture_alerts_total{outcome="filtered",sink="siem"} 1.0' in text
    assert 'kposture_alerts_total{outcome="dropped",sink="siem"} 0.0' in text
    assert 'kposture_alert_queue_pending{sink="siem"} 0.0' in text
    assert (
        registry.get_sample_value("kposture_alerts_total", {"sink": "siem", "outcome": "sent"}) == 1
    )
