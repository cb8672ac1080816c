"""Client certificates for the audit sink: the server context asks for one (``CERT_OPTIONAL``, so
the admission webhook's callers need none) and verifies it against a CA, and uvicorn's HTTP
protocol passes the verified subject to the app in the ASGI ``tls`` extension
(``scope["extensions"]["tls"]["client_cert_name"]``), which uvicorn does not do itself.

A certificate that does not verify fails the TLS handshake; a connection without one reaches the
app with no name, and endpoints that need one (``/audit``) refuse it.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def require_client_ca(context: ssl.SSLContext, ca_file: Path) -> None:
    """Ask clients for a certificate and verify any they send against ``ca_file``."""
    context.load_verify_locations(cafile=str(ca_file))
    context.verify_mode = ssl.CERT_OPTIONAL


def _subject(peer: Any) -> str:
    if not isinstance(peer, dict):
        return ""
    parts = []
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            parts.append(f"{key}={value}")
    return ",".join(parts) or "verified"


class PeerCertificateProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, adding the verified client certificate's subject."""

    _client_cert_name = ""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._client_cert_name = _subject(transport.get_extra_info("peercert"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._client_cert_name:
            self.scope["extensions"] = {"tls": {"client_cert_name": self._client_cert_name}}
