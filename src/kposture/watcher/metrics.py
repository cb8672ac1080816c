"""The watcher's Prometheus metrics and the small HTTP server that publishes them.

Owns the metric names of ``docs/watch.md``: open findings by severity, rule and namespace (gauges),
transitions by change, watch reconnects and relists by kind (counters), event lag (received to
stored) and event to alert (received to the alerts handed to the sinks), the time of each stage of
a batch (queued, judge, store, alert) and the watcher thread's CPU time per batch, evaluation time
and events per batch (histograms), objects watched by kind; and the alert sinks' counters
(``add_sinks``). A registry of its own, served by prometheus-client's threaded server on
``127.0.0.1`` by default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client import Counter as PromCounter

from kposture.model.lifecycle import Transition
from kposture.sinks.fanning import Sinks
from kposture.sinks.metrics import SinkCollector
from kposture.watcher.watching import BatchTiming

LAG_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
EVALUATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_EVENT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
STAGES = ("queued", "judge", "store", "alert")
"""A batch's stages in order (``BatchTiming``)."""


class WatchMetrics:
    """Every watcher metric, in ``registry``; the ``Observer`` the watcher reports to."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.open = Gauge(
            "kposture_open_findings",
            "Open (not suppressed) findings.",
            ("severity", "rule", "namespace"),
            registry=r,
        )
        self.changes = PromCounter(
            "kposture_finding_transitions", "Finding transitions stored.", ("change",), registry=r
        )
        self.reconnects = PromCounter(
            "kposture_watch_reconnects", "Watch streams opened again.", ("kind",), registry=r
        )
        self.relists = PromCounter(
            "kposture_watch_relists", "Kinds listed again after 410 Gone.", ("kind",), registry=r
        )
        self.lag = Histogram(
            "kposture_event_lag_seconds",
            "From an event's arrival to its findings stored.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.to_alert = Histogram(
            "kposture_event_alert_seconds",
            "From an event's arrival to its batch's transitions stored and handed to the sinks.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.stage = Histogram(
            "kposture_batch_stage_seconds",
            "Time of each stage of a batch: queued (from its first event's arrival), judge, "
            "store (the reconcile transaction), alert (logged and handed to the sinks).",
            ("stage",),
            buckets=EVALUATION_BUCKETS,
            registry=r,
        )
        self.cpu = Histogram(
            "kposture_batch_cpu_seconds",
            "CPU time of the watcher thread per batch (well below the batch's wall time: it "
            "waited for a core, not worked).",
            buckets=EVALUATION_BUCKETS,
            registry=r,
        )
        self.size = Histogram(
            "kposture_batch_events",
            "Events per batch.",
            buckets=BATCH_EVENT_BUCKETS,
            registry=r,
        )
        self.evaluation = Histogram(
            "kposture_evaluation_seconds",
            "Judging one batch (inventory, dependents, rules).",
            ("scope",),
            buckets=EVALUATION_BUCKETS,
            registry=r,
        )
        self.work = PromCounter(
            "kposture_rule_evaluations",
            "Rule evaluations run (object and rule pairs), by scope: full or affected objects.",
            ("scope",),
            registry=r,
        )
        self.watched = Gauge(
            "kposture_watched_objects", "Objects held, by kind.", ("kind",), registry=r
        )
        self._kinds: set[str] = set()

    # -- Observer --------------------------------------------------------------------------------

    def batch(self, timing: BatchTiming) -> None:
        for arrived in timing.arrived:
            self.lag.observe(timing.stored - arrived)
            self.to_alert.observe(timing.alerted - arrived)
        for stage in STAGES:
            self.stage.labels(stage).observe(getattr(timing, stage))
        self.cpu.observe(timing.cpu)
        self.size.observe(len(timing.arrived))
        scope = "full" if timing.full else "affected"
        self.evaluation.labels(scope).observe(timing.judge)
        self.work.labels(scope).inc(timing.work)

    def transitions(self, transitions: Sequence[Transition]) -> None:
        for transition in transitions:
            self.changes.labels(transition.change.value).inc()

    def open_findings(self, changes: Mapping[tuple[str, str, str], int]) -> None:
        """Set the label sets whose count changed (0 for those with none left)."""
        for labels, count in changes.items():
            self.open.labels(*labels).set(count)

    def objects(self, counts: Mapping[str, int]) -> None:
        for kind in self._kinds - set(counts):
            self.watched.labels(kind).set(0)
        for kind, count in counts.items():
            self.watched.labels(kind).set(count)
        self._kinds = set(counts)

    # -- stream status ---------------------------------------------------------------------------

    def stream_status(self, kind: str, what: str, _detail: str) -> None:
        if what in ("reconnect", "lost"):
            self.reconnects.labels(kind).inc()
        elif what == "relist":
            self.relists.labels(kind).inc()

    def add_sinks(self, sinks: Sinks) -> None:
        """Publish the alert sinks' counters too (``kposture_alerts_total``,
        ``kposture_alert_queue_pending``, docs/alerts.md), read at scrape time."""
        self.registry.register(SinkCollector(sinks))

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        start_http_server(port, addr=address, registry=self.registry)
