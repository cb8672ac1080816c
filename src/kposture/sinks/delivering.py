"""One HTTP POST of a JSON body, and how long to wait before trying again.

``post_json`` uses the standard library (urllib, so ``HTTPS_PROXY``/``NO_PROXY`` apply) and never
follows a redirect: a webhook that answers 3xx is misconfigured, and following it would send the
body (and the headers) somewhere the user did not name. It returns the status and a ``Retry-After``
delay when the receiver sent one; an unreachable receiver or a timeout raises ``OSError``.

``classify`` decides what a status means for the alert: delivered (2xx), worth retrying (5xx, 408,
425, 429 — and 401/403, because a rotated or not-yet-mounted token is the usual cause and dropping
alerts for it would lose them), or refused for good (any other 3xx/4xx: the URL or the payload is
wrong, and retrying the same request cannot succeed). ``Backoff`` gives exponential delays with
jitter, so sinks that failed together do not retry in lockstep.
"""

from __future__ import annotations

import email.utils
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kposture.sinks.credentials import redact_url


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    retry_after: float | None = None


Post = Callable[[str, bytes, Mapping[str, str], float], Response]
"""``post(url, body, headers, timeout)``: one delivery attempt (``OSError`` when no answer)."""


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REFUSED = "refused"


_RETRYABLE_4XX = frozenset({401, 403, 408, 425, 429})


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status >= 500 or status in _RETRYABLE_4XX:
        return Outcome.RETRY
    return Outcome.REFUSED


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before attempt ``failures + 1``: ``initial * multiplier ** (failures - 1)`` capped at
    ``maximum``, then spread by ``±jitter`` (a fraction) and capped again."""

    initial: float = 0.5
    maximum: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        if self.multiplier < 1 or not 0 <= self.jitter < 1:
            raise ValueError("backoff needs multiplier >= 1 and 0 <= jitter < 1")

    def delay(self, failures: int, unit: float) -> float:
        """``unit`` is a random number in [0, 1) (passed in, so the result is reproducible)."""
        exponent = max(0, failures - 1)
        base = self.initial * self.multiplier ** min(exponent, 64)
        base = min(self.maximum, base)
        spread = base * (1 - self.jitter + 2 * self.jitter * unit)
        return min(self.maximum, spread)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def make_post(ca_file: str = "") -> Post:
    """A ``Post`` over urllib that verifies TLS (against ``ca_file`` when given)."""
    context = ssl.create_default_context(cafile=ca_file or None)
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _NoRedirect()
    )

    def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
        try:
            with opener.open(request, timeout=timeout) as answer:
                answer.read(64 * 1024)  # let the connection finish cleanly; the body is not used
                return Response(answer.status)
        except urllib.error.HTTPError as error:
            with error:
                retry_after = parse_retry_after(error.headers.get("Retry-After"))
                return Response(error.code, retry_after)
        except urllib.error.URLError as error:
            reason = error.reason
            raise ConnectionError(
                f"{redact_url(url)}: {reason if isinstance(reason, str) else describe(reason)}"
            ) from None

    return post


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date); ``None`` if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def describe(exc: BaseException) -> str:
    """A one-line description of a delivery error that names no URL path, header or body."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
