"""Prometheus metrics of the admission webhook, in a registry of their own (one per app, so tests and
several apps in one process never share counters).

Counts decisions by outcome, violated rules by rule and mode, requests rejected before judging by
HTTP status, and observes request latency per endpoint; with ``track_writer``, also what became of
the decisions handed to the store's writer (written, dropped, lost, waiting). ``render`` is what
``GET /metrics`` serves.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kposture.model.admission import AdmissionDecision

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds; fine below 10 ms, where a webhook's budget is."""


class WriterCounts(Protocol):
    """What the store's ``DecisionWriter`` counts."""

    @property
    def written(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def pending(self) -> int: ...


class Metrics:
    """The webhook's counters and histograms."""

    __slots__ = (
        "_by_outcome",
        "_by_rule",
        "decisions",
        "latency",
        "registry",
        "request_errors",
        "verdicts",
    )

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Labelled children, looked up once: labels() costs a few microseconds per call, and a
        # decision counts one per violated rule.
        self._by_outcome: dict[tuple[str, str], Counter] = {}
        self._by_rule: dict[tuple[str, str], Counter] = {}
        self.decisions = Counter(
            "kposture_admission_decisions",
            "Admission decisions by outcome and whether the request was a dry run.",
            ("outcome", "dry_run"),
            registry=self.registry,
        )
        self.verdicts = Counter(
            "kposture_admission_violations",
            "Violated rules in admission decisions, by rule and the mode in force.",
            ("rule", "mode"),
            registry=self.registry,
        )
        self.request_errors = Counter(
            "kposture_admission_request_errors",
            "Requests answered without a decision (malformed, oversized, wrong content type).",
            ("endpoint", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "kposture_admission_request_duration_seconds",
            "Time from reading a review to answering it, per endpoint.",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def track_writer(self, writer: WriterCounts) -> None:
        """Expose the decision writer's counts, read when ``/metrics`` is scraped."""
        log = Gauge(
            "kposture_admission_decision_log",
            "Decisions handed to the store: written, dropped (queue full), failed (the store "
            "refused the batch), pending (waiting to be written).",
            ("state",),
            registry=self.registry,
        )
        log.labels("written").set_function(lambda: writer.written)
        log.labels("dropped").set_function(lambda: writer.dropped)
        log.labels("failed").set_function(lambda: writer.failed)
        log.labels("pending").set_function(lambda: writer.pending)

    def count(self, decision: AdmissionDecision) -> None:
        key = (decision.outcome.value, "true" if decision.dry_run else "false")
        counter = self._by_outcome.get(key)
        if counter is None:
            counter = self._by_outcome[key] = self.decisions.labels(*key)
        counter.inc()
        for verdict in decision.verdicts:
            rule_key = (verdict.rule_id, verdict.mode.value)
            rule_counter = self._by_rule.get(rule_key)
            if rule_counter is None:
                rule_counter = self._by_rule[rule_key] = self.verdicts.labels(*rule_key)
            rule_counter.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
