"""The watcher's Prometheus metrics and the small HTTP server that publishes them.

Owns the metric names of ``docs/watch.md``: open findings by severity, rule and namespace (gauges),
transitions by change, watch reconnects and relists by kind (counters), event lag (received to
stored) and evaluation time (histograms), objects watched by kind. A registry of its own, served by
prometheus-client's threaded server on ``127.0.0.1`` by default.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client import Counter as PromCounter

from kposture.model.lifecycle import Transition

LAG_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
EVALUATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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
        self._open_keys: set[tuple[str, str, str]] = set()
        self._kinds: set[str] = set()

    # -- Observer --------------------------------------------------------------------------------

    def batch(self, lags: Sequence[float], evaluation: float, work: int, full: bool) -> None:
        for lag in lags:
            self.lag.observe(lag)
        scope = "full" if full else "affected"
        self.evaluation.labels(scope).observe(evaluation)
        self.work.labels(scope).inc(work)

    def transitions(self, transitions: Sequence[Transition]) -> None:
        for transition in transitions:
            self.changes.labels(transition.change.value).inc()

    def open_findings(self, counts: Counter[tuple[str, str, str]]) -> None:
        for gone in self._open_keys - set(counts):
            self.open.labels(*gone).set(0)
        for labels, count in counts.items():
            self.open.labels(*labels).set(count)
        self._open_keys = set(counts)

    def objects(self, counts: Counter[str]) -> None:
        for kind in self._kinds - set(counts):
            self.watched.labels(kind).set(0)
        for kind, count in counts.items():
            self.watched.labels(kind).set(count)
        self._kinds = set(counts)

    # -- stream status ---------------------------------------------------------------------------

    def stream_status(self, kind: str, what: str, _detail: str) -> None:
        if what == "reconnect":
            self.reconnects.labels(kind).inc()
        elif what == "relist":
            self.relists.labels(kind).inc()

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        start_http_server(port, addr=address, registry=self.registry)
