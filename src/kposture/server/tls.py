"""The serving certificate: one live ``SSLContext`` that picks up a new certificate and key when their
files change, so a rotated certificate is served without a restart or a dropped connection.

Owns when a reload happens and that it is safe: the files are watched by their stat signature
(modification time, size, inode — a Kubernetes Secret volume swaps a symlink, which changes the
inode), a changed pair is first loaded into a scratch context, and only a pair that loads (the key
matches the certificate) replaces the live one; a half-written rotation is retried on the next
check. New TLS handshakes use the new certificate; open connections keep theirs. Key material is
never logged.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("kposture.tls")

DEFAULT_RELOAD_INTERVAL = 2.0
"""Seconds between checks of the certificate files."""

Signature = tuple[tuple[int, int, int, int], ...]


class CertificateLoadError(ValueError):
    """The certificate or key file cannot be read or does not form a usable pair."""


def _server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(slots=True)
class ServingCertificate:
    """A live server ``SSLContext`` over ``cert_file`` and ``key_file``; call ``reload_if_changed``
    periodically."""

    cert_file: Path
    key_file: Path
    context: ssl.SSLContext
    signature: Signature

    @classmethod
    def load(cls, cert_file: Path, key_file: Path) -> ServingCertificate:
        """Load the pair; ``CertificateLoadError`` names the file or says they do not match."""
        signature = _signature(cert_file, key_file)
        context = _server_context()
        _load_pair(context, cert_file, key_file)
        return cls(cert_file, key_file, context, signature)

    def reload_if_changed(self) -> bool:
        """Load the files into the live context if they changed since the last load; True when the
        served certificate changed. A pair that does not load is logged and retried next time."""
        try:
            signature = _signature(self.cert_file, self.key_file)
        except CertificateLoadError as exc:
            log.warning("certificate reload skipped: %s", exc)
            return False
        if signature == self.signature:
            return False
        try:
            _load_pair(_server_context(), self.cert_file, self.key_file)  # trial run
            _load_pair(self.context, self.cert_file, self.key_file)
        except CertificateLoadError as exc:
            log.warning("certificate files changed but do not load yet (%s); keeping the old", exc)
            return False
        self.signature = signature
        log.info("serving the new certificate from %s", self.cert_file)
        return True


def _signature(cert_file: Path, key_file: Path) -> Signature:
    out = []
    for path in (cert_file, key_file):
        try:
            status = os.stat(path)  # noqa: PTH116 - follows the Secret volume's symlinks
        except OSError as exc:
            raise CertificateLoadError(f"{path}: {exc.strerror or exc}") from None
        out.append((status.st_mtime_ns, status.st_size, status.st_ino, status.st_dev))
    return tuple(out)


def _load_pair(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    try:
        context.load_cert_chain(cert_file, key_file)
    except FileNotFoundError as exc:
        raise CertificateLoadError(f"{exc.filename}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        reason = (
            getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        )
        raise CertificateLoadError(
            f"{cert_file} and {key_file} are not a usable certificate and key ({reason})"
        ) from None
