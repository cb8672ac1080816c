"""Header values that may be secrets (a bearer token, an API key), and URLs that may hold one (a Slack
incoming-webhook URL is itself the credential).

A ``HeaderValue`` comes from the configuration as a literal, an environment variable (read once, when
the sink is built) or a file (read again for every delivery attempt, so a rotated token — a projected
ServiceAccount token, a mounted Secret — is picked up). Neither its ``repr`` nor any message shows
the value: only where it comes from. ``redact_url`` keeps the scheme, host and port of a URL and
nothing else, for logs, sink names and error messages.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class CredentialError(ValueError):
    """A header or URL source cannot be read (the variable is unset, the file is missing)."""


@dataclass(frozen=True, slots=True, repr=False)
class HeaderValue:
    """Where a header's value comes from: ``kind`` is ``literal``, ``env`` or ``file``; ``ref`` is the
    value itself, the variable's name or the file's path."""

    kind: str
    ref: str
    prefix: str = ""
    """Put before the value (``Bearer `` for a bearer token)."""

    @classmethod
    def parse(cls, text: str, prefix: str = "") -> HeaderValue:
        """``env:NAME``, ``file:PATH`` or a literal value."""
        for kind in ("env", "file"):
            if text.startswith(f"{kind}:"):
                ref = text[len(kind) + 1 :]
                if not ref:
                    raise CredentialError(f"{kind}: needs a {'name' if kind == 'env' else 'path'}")
                return cls(kind, ref, prefix)
        return cls("literal", text, prefix)

    def describe(self) -> str:
        if self.kind == "literal":
            return "<literal>"
        return f"<{self.kind} {self.ref}>"

    def __repr__(self) -> str:
        return f"HeaderValue({self.describe()})"


class ResolvedHeader:
    """A header ready to send: environment variables already read, files read at each ``value()``."""

    __slots__ = ("_source", "_value", "name")

    def __init__(
        self, name: str, source: HeaderValue, environ: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self._source = source
        self._value: str | None = None
        if source.kind == "literal":
            self._value = source.prefix + source.ref
        elif source.kind == "env":
            env = os.environ if environ is None else environ
            if not env.get(source.ref):
                raise CredentialError(
                    f"header {name}: the environment variable {source.ref} is not set"
                )
            self._value = source.prefix + env[source.ref].strip()
        elif source.kind == "file":
            self.value()  # fail now, not at the first alert
        else:
            raise CredentialError(f"header {name}: unknown value source {source.kind!r}")

    def value(self) -> str:
        if self._value is not None:
            return self._value
        return self._source.prefix + read_secret_file(Path(self._source.ref), f"header {self.name}")

    def __repr__(self) -> str:
        return f"ResolvedHeader({self.name!r}, {self._source.describe()})"


def read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if not text:
        raise CredentialError(f"{what}: {path} is empty")
    if "\n" in text or "\r" in text:
        raise CredentialError(f"{what}: {path} holds more than one line")
    return text


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/…``: scheme, host and port only (no user, path or query)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not host:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def url_host(url: str) -> str:
    """The host (and port) of ``url``, for a sink's default name."""
    try:
        parts = urllib.parse.urlsplit(url)
        return (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return ""
