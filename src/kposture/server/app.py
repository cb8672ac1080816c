"""The ASGI app: the admission endpoints, health and metrics, wired to a ``Decider``.

Endpoints: ``POST /validate`` (judge an AdmissionReview), ``POST /noop`` (parse it the same way and
allow it without judging — the benchmark's baseline), ``GET /healthz``, ``GET /readyz``,
``GET /metrics``. A body that is not a usable review — malformed, or over the size limit — gets a
JSON ``{"error": ...}`` with 400 (415 for a content type other than JSON), never a 500. Each
decision is counted, logged on one line (rules, outcome, who — never the object's contents) and
handed to the ``record`` sink, which must not block (the store's batched writer, or nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from kposture.model import ResourceRef
from kposture.model.admission import AdmissionDecision, Outcome
from kposture.server.deciding import Decider, Judged, mode_gaps
from kposture.server.metrics import CONTENT_TYPE, Metrics
from kposture.server.reviews import AdmissionRequest, ReviewError, parse_review, review_response

DecisionSink = Callable[[AdmissionDecision], object]
"""Takes a decision and returns at once (its result, e.g. whether it was queued, is ignored)."""
Clock = Callable[[], dt.datetime]
JSON_TYPE = "application/json"
DRAIN_FACTOR = 4

log = logging.getLogger("kposture.admission")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=JSON_TYPE)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (415) anything but JSON and (400) more than ``limit`` bytes —
    checked against Content-Length first and again while reading, so a lying header cannot make
    the server buffer more."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != JSON_TYPE:
        shown = content_type[:60] or "none"
        raise ReviewError(f"content type must be {JSON_TYPE}, not {shown}", 415)
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise ReviewError("Content-Length is not a number")
    oversized = declared is not None and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    # An oversized body is read on and dropped, up to DRAIN_FACTOR times the limit, so a client
    # still sending reads the 400 rather than a connection reset; past that it is not worth
    # reading, and the connection is closed after the answer.
    if not oversized or int(declared or 0) <= limit * DRAIN_FACTOR:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                oversized = True
                chunks.clear()
            if oversized:
                if size > limit * DRAIN_FACTOR:
                    break
                continue
            chunks.append(chunk)
    if oversized:
        shown = f" ({declared} bytes)" if declared is not None else ""
        raise ReviewError(
            f"the review{shown} is over the {limit}-byte limit (admission maxRequestBytes)"
        )
    return b"".join(chunks)


_BARE = re.compile(r"[A-Za-z0-9._:/@(),*+-]+")


def log_value(value: str) -> str:
    """``value`` for a ``key=value`` log field: bare when it is a plain token, else JSON-quoted,
    so a uid, name or user holding a newline, a quote or a space cannot split the line or forge
    another field."""
    return value if _BARE.fullmatch(value) else json.dumps(value)


def _describe(decision: AdmissionDecision) -> str:
    """One log line: who did what to which object, the rules and the outcome (never contents)."""
    rules = ",".join(f"{v.rule_id}({v.mode.value})" for v in decision.verdicts) or "-"
    fields = [
        ("uid", decision.uid),
        ("op", decision.operation),
        ("resource", decision.resource.display()),
        ("user", decision.user),
        ("outcome", decision.outcome.value),
        ("rules", rules),
        ("latency_ms", f"{decision.latency_ms:.2f}"),
    ]
    if decision.dry_run:
        fields.append(("dry_run", "true"))
    if decision.reason:
        fields.append(("reason", decision.reason))
    return " ".join(f"{key}={log_value(value)}" for key, value in fields)


def _internal_failure(decider: Decider, request: AdmissionRequest, now: dt.datetime) -> Judged:
    """A decision for a request whose judging raised (a bug, not a rule error): allowed with a
    warning, or denied when the policy fails closed."""
    reason = "internal error while judging"
    decision = AdmissionDecision(
        uid=request.uid,
        time=now,
        operation=request.operation,
        user=request.user,
        groups=request.groups,
        resource=_fallback_ref(request),
        outcome=Outcome.ERROR,
        reason=reason,
        dry_run=request.dry_run,
    )
    if decider.admission.fail_closed:
        message = f"kposture could not judge this request: {reason} (onError: deny)"
        return Judged(decision, False, message, 500)
    return Judged(decision, True, warnings=(f"kposture: {reason}; allowed",))


def _fallback_ref(request: AdmissionRequest) -> ResourceRef:
    return ResourceRef(request.api_group_version, request.kind, request.namespace, request.name)


def create_app(
    decider: Decider,
    *,
    record: DecisionSink | None = None,
    metrics: Metrics | None = None,
    clock: Clock = _now,
) -> FastAPI:
    """The webhook app. ``record`` receives every decision (it must return at once)."""
    app = FastAPI(
        title="kposture admission webhook",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    counters = metrics or Metrics()
    limit = decider.admission.max_request_bytes
    for warning in mode_gaps(decider.admission):
        log.warning("%s", warning)
    app.state.metrics = counters
    validate_latency = counters.latency.labels("validate")
    noop_latency = counters.latency.labels("noop")

    def failed(endpoint: str, error: ReviewError) -> Response:
        counters.request_errors.labels(endpoint, str(error.status)).inc()
        log.warning("rejected %s request: %s (HTTP %d)", endpoint, error, error.status)
        return _json({"error": str(error)}, error.status)

    def sink(decision: AdmissionDecision) -> None:
        counters.count(decision)
        log.info("%s", _describe(decision))
        if record is None:
            return
        try:
            record(decision)
        except Exception as exc:  # the store must never fail an admission request
            log.error(
                "could not record decision %s: %s", log_value(decision.uid), type(exc).__name__
            )

    @app.post("/validate")
    async def validate(request: Request) -> Response:
        started = time.perf_counter()
        try:
            review = parse_review(await read_body(request, limit))
        except ReviewError as error:
            return failed("validate", error)
        now = clock()
        try:
            judged = decider.decide(review, now)
        except Exception:
            log.exception("judging request %s failed", log_value(review.uid))
            judged = _internal_failure(decider, review, now)
        elapsed = time.perf_counter() - started
        validate_latency.observe(elapsed)
        sink(replace(judged.decision, latency_ms=round(elapsed * 1000, 3)))
        return _json(
            review_response(
                review,
                allowed=judged.allowed,
                message=judged.message,
                code=judged.code,
                warnings=judged.warnings,
            )
        )

    @app.post("/noop")
    async def noop(request: Request) -> Response:
        started = time.perf_counter()
        try:
            review = parse_review(await read_body(request, limit))
        except ReviewError as error:
            return failed("noop", error)
        noop_latency.observe(time.perf_counter() - started)
        return _json(review_response(review, allowed=True))

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        return _json({"status": "ready", "rules": len(decider.registry)})

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(counters.render(), media_type=CONTENT_TYPE)

    return app
