"""Runs the ASGI app on uvicorn over HTTPS only, with the serving certificate reloaded on change.

Owns the process side of ``kposture serve``: the uvicorn configuration (no plain HTTP, no access log
— each decision is logged once by the app; uvloop and httptools when installed, which halve the
cost of TLS and HTTP per request), the ``ServingCertificate`` whose live context uvicorn
serves, and the background task that checks the certificate files every ``reload_interval``
seconds. The CLI builds the app and calls ``serve``, which returns after a graceful stop (SIGTERM
or SIGINT) so the caller can flush what it holds — the decision log — before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from kposture.server.peer_certificates import PeerCertificateProtocol, require_client_ca
from kposture.server.tls import DEFAULT_RELOAD_INTERVAL, ServingCertificate

log = logging.getLogger("kposture.serve")


class _Server(uvicorn.Server):
    """uvicorn, except that a stop by signal returns from ``serve`` like any other stop.

    uvicorn re-raises the signal it caught once it has shut down, and the default SIGTERM handler
    then ends the process at once: decisions still queued for the store would be lost. The
    signals are still caught the same way (uvicorn's own handler starts the graceful shutdown).
    """

    stopped_by: tuple[int, ...] = ()
    announce: str = ""
    """Logged once the socket listens, so a port already taken never leaves a "serving" line
    behind its error."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.announce:
            log.info("%s", self.announce)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                captured = getattr(self, "_captured_signals", [])
                self.stopped_by = tuple(captured)
                captured.clear()


def _config(
    app: FastAPI,
    host: str,
    port: int,
    certificate: ServingCertificate,
    peer_certificates: bool = False,
) -> uvicorn.Config:
    def context_factory(
        _config: uvicorn.Config, _default: Callable[[], ssl.SSLContext]
    ) -> ssl.SSLContext:
        return certificate.context

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_context_factory=context_factory,
        access_log=False,
        log_config=None,
        lifespan="off",
        timeout_keep_alive=30,  # the API server keeps connections to webhooks open
        server_header=False,
        http=PeerCertificateProtocol if peer_certificates else "auto",
    )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (its TLS and sockets are compiled), else None:
    asyncio's own."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _watch(certificate: ServingCertificate, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        certificate.reload_if_changed()


async def _serve(server: uvicorn.Server, certificate: ServingCertificate, interval: float) -> None:
    watcher = asyncio.create_task(_watch(certificate, interval))
    try:
        await server.serve()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def serve(
    app: FastAPI,
    *,
    cert_file: Path,
    key_file: Path,
    host: str = "0.0.0.0",  # a webhook in a pod listens on the pod's address
    port: int,
    reload_interval: float = DEFAULT_RELOAD_INTERVAL,
    client_ca: Path | None = None,
) -> None:
    """Serve ``app`` over HTTPS until stopped (SIGTERM or SIGINT, then return);
    ``CertificateLoadError`` when the pair is unusable. ``client_ca``: verify client certificates
    against it and pass their subject to the app (the audit sink's authentication)."""
    certificate = ServingCertificate.load(cert_file, key_file)
    if client_ca is not None:
        require_client_ca(certificate.context, client_ca)
    server = _Server(_config(app, host, port, certificate, client_ca is not None))
    loop_factory = _loop_factory()
    server.announce = "serving HTTPS on {}:{} with {} (event loop {}, HTTP parser {})".format(
        host,
        port,
        cert_file,
        "uvloop" if loop_factory else "asyncio",
        "httptools" if importlib.util.find_spec("httptools") else "h11",
    )
    # Everything built so far (rules, app, imported modules: over 100,000 tracked objects) lives
    # as long as the process. Frozen, a full collection no longer walks it: 20-100 ms measured
    # here before, a pause every request in flight would wait out; under 1 ms after.
    gc.collect()
    gc.freeze()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(server, certificate, reload_interval))
    if server.stopped_by:
        names = ", ".join(signal.Signals(number).name for number in server.stopped_by)
        log.info("stopped by %s", names)
