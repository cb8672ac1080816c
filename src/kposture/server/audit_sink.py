"""The audit webhook sink: ``POST /audit`` takes the ``EventList`` batches kube-apiserver's webhook
audit backend posts, answers at once, and judges them off the request path.

The handler authenticates the caller (a client certificate verified against ``--audit-client-ca``,
or ``Authorization: Bearer`` with the token of ``--audit-token-file``), reads the body up to the
size limit, parses it and checks it is an ``EventList`` (or one ``Event``), puts it on a bounded
queue and answers ``200``. It never waits for detection, the store or the sinks, so the API server
is never held longer than one parse. Refusals, each counted by reason in
``kposture_audit_batches_total``, each logged with the caller's address and port: 401 no or wrong
credentials; 400 malformed, truncated or not an event list; 413 over the size limit; 415 not JSON; 429 with
``Retry-After`` when the queue is full (whether the API server retries it is up to its webhook
backend). One worker thread takes the batches and holds their events for ``hold`` seconds
(``event_order.HeldEvents``), so that events of batches the API server posted concurrently, or
logged out of order, are judged in the order their requests were received; then it turns them into
``AuditEvent``s through the audit-log reader as ``detect`` reads an ``EventList`` (only those a
detection wants; an item that is no event is dropped alone), runs the ``Detector`` and hands each
alert to the alert sinks and to the store (one transaction per release of held events). A failure
there is logged and counted, never raised into the server. On shutdown one line sums the sink up
(``summary``): events received, alerts, items dropped.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.responses import Response

from kposture.detections import Detector
from kposture.model.incidents import sink_alert
from kposture.model.lifecycle import Alert
from kposture.server.app import read_body
from kposture.server.event_order import DEFAULT_HOLD_SECONDS, HeldEvent, HeldEvents
from kposture.server.reviews import ReviewError
from kposture.sinks.summaries import counted
from kposture.sources.audit_logs import AuditLogReader
from kposture.sources.json_errors import json_error_text

log = logging.getLogger("kposture.audit")

DEFAULT_MAX_BATCH_BYTES = 32 * 1024 * 1024
DEFAULT_QUEUE_BATCHES = 256
RETRY_AFTER_SECONDS = 1
AlertSink = Callable[[Sequence[Alert]], object]
"""Takes the alerts of one batch (the store writer); called on the worker thread."""


class AuditSinkMetrics:
    """The sink's Prometheus metrics, in the server's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "kposture_audit_events",
            "Audit events by outcome: received (accepted in a batch), judged (built and shown to "
            "the detections), passed (no detection wants them), dropped (not an event).",
            ["outcome"],
            registry=registry,
        )
        self.batches = Counter(
            "kposture_audit_batches",
            "Audit webhook batches by outcome: accepted, or the reason they were refused.",
            ["outcome"],
            registry=registry,
        )
        self.alerts = Counter(
            "kposture_audit_alerts", "Alerts raised by detection.", ["detection"], registry=registry
        )
        self.errors = Counter(
            "kposture_audit_detection_errors",
            "Detection errors on single events, by detection.",
            ["detection"],
            registry=registry,
        )
        self.depth = Gauge(
            "kposture_audit_queue_depth", "Batches waiting for the worker.", registry=registry
        )
        self.lag = Gauge(
            "kposture_audit_processing_lag_seconds",
            "Time the events judged last waited between their batch's arrival and the end of "
            "their judging (the ordering hold included).",
            registry=registry,
        )


@dataclass(frozen=True, slots=True)
class _Batch:
    items: list[Any]
    received: float


class AuditProcessor:
    """The bounded queue and the worker thread that judges batches."""

    def __init__(
        self,
        detector: Detector,
        metrics: AuditSinkMetrics,
        *,
        send: Callable[[Alert], object] | None = None,
        record: AlertSink | None = None,
        capacity: int = DEFAULT_QUEUE_BATCHES,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        cluster: str = "",
        hold: float = DEFAULT_HOLD_SECONDS,
    ) -> None:
        self.detector = detector
        self.cluster = cluster
        self.metrics = metrics
        self.send = send
        self.record = record
        self.clock = clock
        self.reader = AuditLogReader(keep=detector.wants)
        self._batches = 0
        """Batches taken by the worker: the n-th is read as ``webhook batch n``."""
        self._held = HeldEvents(hold)
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=max(1, capacity))
        self._thread = threading.Thread(target=self._run, name="kposture-audit", daemon=True)
        self._thread.start()

    def offer(self, items: list[Any]) -> bool:
        """Queue a batch; False when the queue is full."""
        try:
            self._queue.put_nowait(_Batch(items, time.monotonic()))
        except queue.Full:
            return False
        self.metrics.depth.set(self._queue.qsize())
        return True

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued batch is judged (tests, shutdown); whether it was."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0 and not self._held:
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 10.0) -> None:
        """Judge what is queued, stop the worker and log the ``summary`` line."""
        self.drain(timeout)
        try:
            self._queue.put(None, timeout=1.0)
        except queue.Full:
            log.info("%s", self.summary())
            return
        self._thread.join(timeout)
        log.info("%s", self.summary())

    def summary(self) -> str:
        """One line about the sink's run: events received and judged, alerts, items dropped
        (not an event), requests under a reused audit ID and detection errors when any."""
        read, stats = self.reader.stats, self.detector.stats
        parts = [
            f"audit sink: {counted(read.read, 'event')} received ({stats.judged} judged)",
            counted(stats.alerts, "alert"),
            f"{read.skipped_total} dropped",
        ]
        if stats.reused_audit_ids:
            first = stats.first_reused
            where = f" (the first {first[0]!r} in {first[1]})" if first is not None else ""
            parts.append(counted(stats.reused_audit_ids, "reused audit ID") + where)
        if stats.errors:
            parts.append(counted(stats.errors, "detection error"))
        return ", ".join(parts)

    def _run(self) -> None:
        while True:
            wait = self._held.next_due(time.monotonic())
            try:
                batch = self._queue.get(timeout=wait) if wait is not None else self._queue.get()
            except queue.Empty:
                self._judge_safely(self._held.due(time.monotonic()))
                continue
            try:
                if batch is None:
                    self._judge_safely(self._held.all())
                    return
                self._judge_safely(self._take(batch))
                self._judge_safely(self._held.due(time.monotonic()))
            finally:
                self._queue.task_done()
                self.metrics.depth.set(self._queue.qsize())

    def _take(self, batch: _Batch) -> list[HeldEvent]:
        """Put the batch's items in the hold (``HeldEvents``); those it has to let go at once."""
        self._batches += 1
        overflow = []
        for index, item in enumerate(batch.items):
            overflow.extend(self._held.add(item, batch.received, self._batches, index))
        return overflow

    def _judge_safely(self, events: list[HeldEvent]) -> None:
        if not events:
            return
        try:
            self._judge(events)
        except Exception:  # the worker must outlive any one batch
            log.exception("judging audit events failed")

    def _judge(self, events: list[HeldEvent]) -> None:
        """Read the items in their order as ``detect`` reads an ``EventList`` (each a detection
        wants is built, with what came before already judged) and judge them."""
        reader, detector, metrics = self.reader, self.detector, self.metrics
        detector.today = self.clock().date()
        before = (reader.stats.events, reader.stats.passed, reader.stats.skipped_total)
        errors_before = dict(detector.stats.errors_by_detection)
        alerts = []
        for held in events:
            name = f"webhook batch {held.batch}"
            for event in reader.parse_batch((held.item,), name, 0, held.index):
                alerts.extend(detector.process(event))
        metrics.events.labels("judged").inc(reader.stats.events - before[0])
        metrics.events.labels("passed").inc(reader.stats.passed - before[1])
        metrics.events.labels("dropped").inc(reader.stats.skipped_total - before[2])
        for detection, count in detector.stats.errors_by_detection.items():
            if count > errors_before.get(detection, 0):
                metrics.errors.labels(detection).inc(count - errors_before.get(detection, 0))
        now = self.clock()
        converted = [sink_alert(alert, now, self.cluster) for alert in alerts]
        for alert in alerts:
            metrics.alerts.labels(alert.detection_id).inc()
        if self.send is not None:
            for item in converted:
                try:
                    self.send(item)
                except Exception as exc:  # a sink must not stop the others or the store
                    log.error("alert sink failed: %s", type(exc).__name__)
        if self.record is not None and converted:
            try:
                self.record(converted)
            except Exception as exc:
                log.error("could not store %s: %s", counted(len(converted), "alert"), exc)
        metrics.lag.set(time.monotonic() - min(held.arrived for held in events))


class TokenFile:
    """The bearer token, read again when its file changes (a rotated Secret)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, int] | None = None
        self._token = b""
        self.token()

    def token(self) -> bytes:
        status = os.stat(self.path)  # noqa: PTH116 - a Secret volume's symlinks are followed
        signature = (status.st_mtime_ns, status.st_ino)
        if signature != self._signature:
            token = self.path.read_bytes().strip()
            if not token:
                raise ValueError(f"{self.path}: the token file is empty")
            self._token, self._signature = token, signature
        return self._token


def client_certificate(request: Request) -> str | None:
    """The subject of the verified client certificate of the connection, if any (set by
    ``serving``'s protocol in the ASGI ``tls`` extension)."""
    tls = request.scope.get("extensions", {}).get("tls") or {}
    name = tls.get("client_cert_name")
    return name if isinstance(name, str) and name else None


def _caller(request: Request) -> str:
    """The caller's address and port, as the refusal log lines name it."""
    peer = request.client
    return f"{peer.host}:{peer.port}" if peer is not None else "an unknown address"


def _bearer_token(request: Request) -> str:
    """The bearer token the request sent, or empty."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def _unauthenticated(request: Request, tokens: TokenFile | None) -> str:
    """Why a request was not authenticated, never echoing what it sent: a bearer token that was
    sent is refused as such, not reported missing."""
    if not _bearer_token(request):
        return "a client certificate or bearer token is needed"
    if tokens is None:
        return "bearer tokens are not accepted here: a client certificate is needed"
    return "the bearer token is not accepted"


def _authenticated(request: Request, tokens: TokenFile | None, certificates: bool) -> bool:
    if certificates and client_certificate(request) is not None:
        return True
    if tokens is None:
        return False
    given = _bearer_token(request)
    if not given:
        return False
    try:
        expected = tokens.token()
    except (OSError, ValueError) as exc:
        log.error("cannot read the audit token file: %s", exc)
        return False
    return hmac.compare_digest(given.encode(), expected)


def _items(body: bytes) -> list[Any]:
    """The events of an ``EventList`` (or of one ``Event``); ``ReviewError`` (400) otherwise."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        truncated = error.pos >= len(body.rstrip()) - 1 or error.msg.startswith("Unterminated")
        raise ReviewError(
            f"{'truncated' if truncated else 'malformed'} JSON: {json_error_text(error)}"
        ) from None
    except ValueError:
        raise ReviewError("malformed JSON: not UTF-8") from None
    if isinstance(data, dict) and data.get("kind") == "EventList":
        items = data.get("items")
        if not isinstance(items, list):
            raise ReviewError("not-an-event-list: an EventList without items")
        return items
    if isinstance(data, dict) and data.get("kind") == "Event":
        return [data]
    raise ReviewError("not-an-event-list: the body is not an audit EventList")


def mount_audit_sink(
    app: FastAPI,
    processor: AuditProcessor,
    *,
    token_file: Path | None,
    client_certificates: bool,
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
) -> None:
    """Add ``POST /audit`` to ``app``. At least one way to authenticate must be given."""
    if token_file is None and not client_certificates:
        raise ValueError("the audit sink needs --audit-token-file or --audit-client-ca")
    tokens = TokenFile(token_file) if token_file is not None else None
    metrics = processor.metrics

    def refuse(status: int, reason: str, message: str, request: Request) -> Response:
        metrics.batches.labels(reason).inc()
        log.warning(
            "refused an audit batch from %s: %s (HTTP %d)", _caller(request), message, status
        )
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 429 else None
        body = json.dumps({"error": message}).encode()
        return Response(body, status, headers=headers, media_type="application/json")

    @app.post("/audit")
    async def audit(request: Request) -> Response:
        if not _authenticated(request, tokens, client_certificates):
            return refuse(401, "unauthenticated", _unauthenticated(request, tokens), request)
        try:
            body = await read_body(request, max_batch_bytes)
        except ReviewError as error:
            if error.status == 415:
                return refuse(415, "not-json", str(error), request)
            if "limit" in str(error):
                limit = (
                    f"the batch is over the {max_batch_bytes}-byte limit (--audit-max-batch-bytes)"
                )
                return refuse(413, "oversized", limit, request)
            return refuse(400, "malformed", str(error), request)
        try:
            items = _items(body)
        except ReviewError as error:
            return refuse(400, str(error).split(" ", 1)[0].rstrip(":"), str(error), request)
        if not processor.offer(items):
            return refuse(429, "queue-full", "the detection queue is full; retry later", request)
        metrics.batches.labels("accepted").inc()
        metrics.events.labels("received").inc(len(items))
        return Response(b'{"status":"accepted"}', 200, media_type="application/json")
