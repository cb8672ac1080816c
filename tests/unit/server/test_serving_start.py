"""``serving.serve`` says it is serving HTTPS only once the socket listens: a port already taken
must not leave a "serving HTTPS on ..." line behind an error."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from tests.unit.server.admission_support import decider

from kposture.server import certificates as certs
from kposture.server import serving
from kposture.server.app import create_app

NOW = dt.datetime.now(dt.UTC)


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    certs.write_certificate_files(
        tmp_path, dns_names=["localhost"], ip_addresses=[certs.parse_ip("127.0.0.1")],
        now=NOW, days=2, ca_days=3,
    )  # fmt: skip
    return tmp_path / certs.TLS_CERT_FILE, tmp_path / certs.TLS_KEY_FILE


def test_a_taken_port_never_logs_serving(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cert, key = _pair(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.INFO), pytest.raises((SystemExit, OSError)):
            serving.serve(
                create_app(decider()), cert_file=cert, key_file=key, host="127.0.0.1", port=port
            )
    assert "serving HTTPS" not in caplog.text


def test_serving_is_logged_once_listening(tmp_path: Path) -> None:
    cert, key = _pair(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listening = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "serving HTTPS" in record.getMessage():
                # The socket accepts connections when the line is written.
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    listening.set()

    handler = Seen()
    logger = logging.getLogger("kposture.serve")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    stop: list[serving._Server] = []
    original = serving._Server.startup

    async def startup(self: serving._Server, sockets: object = None) -> None:
        stop.append(self)
        await original(self, sockets=sockets)  # type: ignore[arg-type]

    try:
        serving._Server.startup = startup  # type: ignore[method-assign]
        thread = threading.Thread(
            target=serving.serve,
            kwargs={"app": create_app(decider()), "cert_file": cert, "key_file": key,
                    "host": "127.0.0.1", "port": port},
            daemon=True,
        )  # fmt: skip
        thread.start()
        assert listening.wait(10)
        context = ssl.create_default_context(cafile=str(tmp_path / certs.CA_CERT_FILE))
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            pass
    finally:
        serving._Server.startup = original  # type: ignore[method-assign]
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        for server in stop:
            server.should_exit = True
        deadline = time.monotonic() + 10
        while thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
