"""Webhook sinks: a generic JSON webhook (the ``kposture.alert/v1`` document) and a Slack-compatible
incoming webhook (``text`` + blocks), both delivered by one ``WebhookSink``.

``send`` renders the alert and appends it to the sink's spool — nothing else, so the caller never
waits on the network. One background thread delivers the spool oldest first, one alert at a time,
and removes an alert only when the receiver answered 2xx (or refused it for good, counted as
``rejected``): alerts reach the receiver in the order they were sent, an outage only delays them,
and alerts spooled on disk before a restart are delivered after it. A failed attempt is retried
after an exponential backoff with jitter (at least the receiver's ``Retry-After``), for as long as
it takes; while the receiver is down the spool fills and, past its bounds, drops its oldest alerts
with a warning (``dropped``). Delivery is at least once: an alert whose 2xx was lost in transit is
sent again.

Logs name the sink and the receiver's host only, never the URL's path or query (a Slack webhook URL
is a credential), a header value or an alert body.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from kposture.model.lifecycle import Alert
from kposture.sinks.base import SinkStats
from kposture.sinks.credentials import ResolvedHeader, redact_url, url_host
from kposture.sinks.delivering import Backoff, Outcome, Post, classify, describe, make_post
from kposture.sinks.documents import alert_json
from kposture.sinks.slack_payloads import slack_json
from kposture.sinks.spools import MemorySpool, Spool, spool_identity
from kposture.sinks.summaries import counted

log = logging.getLogger("kposture.sinks")

Render = Callable[[Alert], bytes]

USER_AGENT = "kposture-alerts/1"

CLOSE_GRACE = 0.5
"""Seconds ``close`` waits beyond its timeout for an attempt in flight before leaving it behind."""


class WebhookSink:
    """Delivers rendered alerts to ``url`` from a spool on a background thread (started at once,
    so alerts left in a persistent spool by an earlier run go out straight away)."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "",
        render: Render = alert_json,
        headers: Sequence[ResolvedHeader] = (),
        spool: Spool | None = None,
        timeout: float = 5.0,
        backoff: Backoff | None = None,
        post: Post | None = None,
        warn_every: float = 60.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if timeout <= 0:
            raise ValueError("the timeout must be positive")
        self._url = url
        self._name = name or f"webhook:{url_host(url)}"
        self._render = render
        self._headers = tuple(headers)
        self._spool: Spool = spool if spool is not None else MemorySpool()
        self._timeout = timeout
        self._backoff = backoff or Backoff()
        self._post = post or make_post()
        self._warn_every = warn_every
        self._rng = rng
        self._stats = SinkStats()
        self._stats.set_pending(len(self._spool))
        self._cond = threading.Condition()
        self._closing = False
        self._closed = False
        self._deadline = float("inf")
        self._last_drop_warning = -float("inf")
        self._dropped_since_warning = 0
        on_open = int(getattr(self._spool, "dropped_on_open", 0))
        if on_open:
            self._dropped(on_open)
        self._thread = threading.Thread(
            target=self._run, name=f"kposture-{self._name}", daemon=True
        )
        self._thread.start()

    @property
    def name(self) -> str:
        return self._name

    @property
    def stats(self) -> SinkStats:
        return self._stats

    @property
    def spool(self) -> Spool:
        return self._spool

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, url={redact_url(self._url)!r}, "
            f"pending={len(self._spool)})"
        )

    # --- caller side ------------------------------------------------------------------------------

    def send(self, alert: Alert) -> None:
        body = self._render(alert)
        with self._cond:
            if self._closing:
                raise RuntimeError(f"sink {self._name} is closed")
            refused_before = self._spool.duplicates
            dropped = self._spool.append(body, spool_identity(alert))
            waiting = self._spool.duplicates > refused_before
            self._stats.add("already_queued" if waiting else "queued")
            self._stats.set_pending(len(self._spool))
            self._cond.notify_all()
        if dropped:
            self._dropped(dropped)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the spool is empty; ``False`` when ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._spool) == 0 or self._closed, timeout) and (
                len(self._spool) == 0
            )

    def close(self, timeout: float | None = 5.0) -> None:
        """Keep delivering for up to ``timeout`` seconds (``None``: until the spool is empty), then
        stop, without waiting for an attempt still in flight (a receiver that does not answer)
        beyond ``CLOSE_GRACE``: its alert stays in the spool. A persistent spool keeps what is left
        for the next start; a memory spool's leftovers are counted as dropped."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            if timeout is not None:
                self._deadline = time.monotonic() + timeout
            self._cond.notify_all()
        self._thread.join(None if timeout is None else timeout + CLOSE_GRACE)
        if self._thread.is_alive():
            log.warning(
                "alert sink %s: a delivery to %s was still waiting for an answer on close; "
                "its alert stays in the spool",
                self._name,
                redact_url(self._url),
            )
        left = len(self._spool)
        if left and not self._spool.persistent:
            self._stats.add("dropped", left)
            self._stats.set_pending(0)
            log.warning(
                "alert sink %s closed with %s undelivered, lost (the spool is in memory)",
                self._name,
                counted(left, "alert"),
            )
        else:
            self._stats.set_pending(left)
            if left:
                log.warning(
                    "alert sink %s closed with %s undelivered, kept in its spool for the next start",
                    self._name,
                    counted(left, "alert"),
                )
        self._spool.close()

    # --- delivery thread --------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        try:
            while True:
                entry = self._spool.peek()
                if entry is None:
                    with self._cond:
                        if self._closing:
                            return
                        if len(self._spool) == 0:
                            self._cond.wait()
                    continue
                if self._closing and time.monotonic() >= self._deadline:
                    return
                wait = self._attempt(entry.key, entry.body, failures)
                if wait is None:
                    if failures:
                        log.warning(
                            "alert sink %s delivering again after %s",
                            self._name,
                            counted(failures, "failed attempt"),
                        )
                    failures = 0
                    continue
                failures += 1
                self._stats.add("retried")
                if not self._sleep(wait):
                    return
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _attempt(self, key: int, body: bytes, failures: int) -> float | None:
        """Try once; ``None`` when the alert left the spool, else the delay before the next try."""
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        try:
            headers.update((header.name, header.value()) for header in self._headers)
            response = self._post(self._url, body, headers, self._timeout)
        except Exception as exc:  # unreachable, timed out, a header file gone: retry later
            return self._failed(describe(exc), None, failures)
        outcome = classify(response.status)
        if outcome is Outcome.RETRY:
            return self._failed(f"HTTP {response.status}", response.retry_after, failures)
        self._spool.remove(key)
        if outcome is Outcome.DELIVERED:
            self._stats.add("sent")
        else:
            self._stats.add("rejected")
            log.warning(
                "alert sink %s: %s refused an alert with HTTP %d; it is not retried",
                self._name,
                redact_url(self._url),
                response.status,
            )
        with self._cond:
            self._stats.set_pending(len(self._spool))
            self._cond.notify_all()
        return None

    def _failed(self, why: str, retry_after: float | None, failures: int) -> float:
        self._stats.add("failed")
        delay = self._backoff.delay(failures + 1, self._rng())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._backoff.maximum))
        if failures == 0:
            log.warning(
                "alert sink %s: delivery to %s failed (%s); retrying with backoff (%s spooled so far)",
                self._name,
                redact_url(self._url),
                why,
                counted(len(self._spool), "alert"),
            )
        return delay

    def _sleep(self, delay: float) -> bool:
        """Wait ``delay`` seconds unless closing cuts it short; ``False`` when it is time to stop."""
        until = time.monotonic() + delay
        with self._cond:
            while True:
                now = time.monotonic()
                if self._closing and now >= self._deadline:
                    return False
                end = min(until, self._deadline) if self._closing else until
                if now >= end:
                    return True
                self._cond.wait(end - now)

    def _dropped(self, count: int) -> None:
        self._stats.add("dropped", count)
        now = time.monotonic()
        with self._cond:
            self._dropped_since_warning += count
            if now - self._last_drop_warning < self._warn_every:
                return
            dropped, self._dropped_since_warning = self._dropped_since_warning, 0
            self._last_drop_warning = now
        log.warning(
            "alert sink %s: the queue is full (%s); dropped the %d oldest undelivered",
            self._name,
            counted(len(self._spool), "alert"),
            dropped,
        )


def slack_sink(url: str, *, name: str = "", **options: Any) -> WebhookSink:
    """A ``WebhookSink`` that posts Slack incoming-webhook payloads (same options)."""
    return WebhookSink(url, name=name or f"slack:{url_host(url)}", render=slack_json, **options)
