"""Builds the running sinks from an ``AlertsConfig``: reads the URLs and headers given as ``env:`` or
``file:`` references, opens each webhook's spool (a directory under the user's data directory
unless the configuration names one) and wraps them in a ``Sinks`` fan-out with their routes.

Every problem a user can fix (an unset variable, an unreadable file, a spool directory in use) is
raised as ``AlertSetupError`` before any sink starts, naming the sink but no secret. The default
spool directory of a webhook is ``<root>/<kind>-<12 hex digits of the URL's SHA-256>``, so each
receiver keeps its own queue across restarts and two receivers never share one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from kposture.sinks.base import Sink
from kposture.sinks.credentials import CredentialError, ResolvedHeader, read_secret_file
from kposture.sinks.delivering import Backoff, Post, make_post
from kposture.sinks.documents import alert_json
from kposture.sinks.fanning import Sinks
from kposture.sinks.json_lines import JsonLinesSink
from kposture.sinks.routing import Route
from kposture.sinks.slack_payloads import slack_json
from kposture.sinks.specs import AlertsConfig, AlertSpecError, SinkSpec, check_url
from kposture.sinks.spools import DirectorySpool, MemorySpool, Spool, SpoolError
from kposture.sinks.webhooks import WebhookSink


class AlertSetupError(ValueError):
    """A configured sink cannot start; the message names the sink and the reason."""


def default_spool_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/kposture/spool`` (``~/.local/share/kposture/spool``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "kposture" / "spool"


def build_sinks(
    config: AlertsConfig,
    *,
    stdout: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    spool_root: Path | None = None,
    post: Post | None = None,
    clock: Callable[[], float] | None = None,
) -> Sinks:
    """Start every configured sink; on any error, close the ones already started and raise
    ``AlertSetupError``. ``spool_root`` overrides the configuration's and the default root."""
    env = os.environ if environ is None else environ
    root = spool_root or (Path(config.spool_root) if config.spool_root else default_spool_root(env))
    started: list[tuple[Sink, Route]] = []
    names: set[str] = set()
    try:
        for index, spec in enumerate(config.sinks):
            name = _unique_name(spec, index, names)
            sink = _build_one(spec, name, stdout=stdout, environ=env, root=root, post=post)
            started.append((sink, _route(spec, config)))
        return Sinks(started, clock=clock) if clock else Sinks(started)
    except BaseException:
        for sink, _ in started:
            with contextlib.suppress(Exception):
                sink.close(0)
        raise


def _route(spec: SinkSpec, config: AlertsConfig) -> Route:
    return Route(
        min_severity=spec.min_severity or config.min_severity,
        dedup_window=config.dedup_window if spec.dedup_window is None else spec.dedup_window,
    )


def _unique_name(spec: SinkSpec, index: int, taken: set[str]) -> str:
    name = spec.name or (spec.kind if spec.kind == "stdout" else f"{spec.kind}-{index + 1}")
    if name in taken:
        name = f"{name}-{index + 1}"
    taken.add(name)
    return name


def _build_one(
    spec: SinkSpec,
    name: str,
    *,
    stdout: TextIO | None,
    environ: Mapping[str, str],
    root: Path,
    post: Post | None,
) -> Sink:
    if spec.kind == "stdout":
        return JsonLinesSink(stdout, name=name)
    what = f"alert sink {name} ({spec.describe()})"
    url = _resolve_url(spec, environ, what)
    try:
        headers = [ResolvedHeader(header, value, environ) for header, value in spec.headers]
    except CredentialError as exc:
        raise AlertSetupError(f"{what}: {exc}") from None
    spool = _open_spool(spec, url, root, what)
    try:
        return WebhookSink(
            url,
            name=name,
            render=slack_json if spec.kind == "slack" else alert_json,
            headers=headers,
            spool=spool,
            timeout=spec.timeout,
            backoff=Backoff(
                initial=spec.backoff_initial, maximum=max(spec.backoff_initial, spec.backoff_max)
            ),
            post=post or make_post(spec.ca_file),
        )
    except (OSError, ValueError) as exc:
        spool.close()
        raise AlertSetupError(f"{what}: {exc}") from None


def _resolve_url(spec: SinkSpec, environ: Mapping[str, str], what: str) -> str:
    target = spec.target
    if target is None:
        raise AlertSetupError(f"{what}: no URL")
    try:
        if target.kind == "env":
            url = environ.get(target.ref, "").strip()
            if not url:
                raise AlertSetupError(f"{what}: the environment variable {target.ref} is not set")
        elif target.kind == "file":
            url = read_secret_file(Path(target.ref), "URL")
        else:
            url = target.ref
        check_url(url, spec.kind)
    except (CredentialError, AlertSpecError) as exc:
        raise AlertSetupError(f"{what}: {exc}") from None
    return url


def _open_spool(spec: SinkSpec, url: str, root: Path, what: str) -> Spool:
    if spec.spool == "memory":
        return MemorySpool(spec.queue_max, spec.queue_bytes)
    if spec.spool:
        directory = Path(spec.spool)
    else:
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        directory = root / f"{spec.kind}-{digest}"
    try:
        return DirectorySpool(directory, spec.queue_max, spec.queue_bytes)
    except SpoolError as exc:
        raise AlertSetupError(f"{what}: {exc}") from None
