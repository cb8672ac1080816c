"""Prometheus metrics of the alert sinks, read from their ``SinkStats`` at scrape time.

``SinkCollector`` is a custom collector: register it in the driver's registry (the watcher's or the
server's) with ``registry.register(SinkCollector(sinks))``. It exposes

- ``kposture_alerts_total{sink, outcome}`` — a counter per ``SinkStats`` counter (``queued``, ``sent``,
  ``failed``, ``retried``, ``dropped``, ``rejected``, ``filtered``, ``deduplicated``, ``errors``,
  ``already_queued``);
- ``kposture_alert_queue_pending{sink}`` — alerts waiting in each sink's queue.

Sink names carry no secret (see ``Sink.name``), so they are safe as label values.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kposture.sinks.base import COUNTERS
from kposture.sinks.fanning import Sinks


class SinkCollector(Collector):
    def __init__(self, sinks: Sinks) -> None:
        self._sinks = sinks

    def collect(self) -> Iterator[Metric]:
        totals = CounterMetricFamily(
            "kposture_alerts",
            "Alerts by sink and outcome (see docs/alerts.md for each outcome).",
            labels=["sink", "outcome"],
        )
        pending = GaugeMetricFamily(
            "kposture_alert_queue_pending",
            "Alerts waiting in a sink's queue for delivery.",
            labels=["sink"],
        )
        for name, counts in self._sinks.stats().items():
            for counter in COUNTERS:
                totals.add_metric([name, counter], counts[counter])
            pending.add_metric([name], counts["pending"])
        yield totals
        yield pending
