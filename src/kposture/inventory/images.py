"""Container image references: parsing and normalising ``image:`` strings the way Docker does.

Owns ``ImageRef`` and ``parse_image`` (registry host detection, the implicit Docker Hub registry and
``library/`` namespace, tag, digest, a port in the host) and ``registry_allowed``, the path-boundary
match of a reference against a registry allowlist. Used by the supply-chain rules; pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
SHA256_PREFIX = "sha256:"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One parsed image reference.

    ``registry`` is the lower-cased host (with port), ``docker.io`` when the reference names none;
    ``repository`` is the path below it (``library/nginx`` for a bare Docker Hub name); ``tag`` and
    ``digest`` (``sha256:...``) are empty when absent.
    """

    raw: str
    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The normalised name without tag or digest: ``docker.io/library/nginx``."""
        return f"{self.registry}/{self.repository}"

    @property
    def normalised(self) -> str:
        """The fully qualified reference: ``docker.io/library/nginx:1.25@sha256:...``."""
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{digest}"

    @property
    def is_pinned(self) -> bool:
        """Whether the reference carries a sha256 digest (the tag, if any, is then ignored)."""
        return self.digest.startswith(SHA256_PREFIX) and len(self.digest) > len(SHA256_PREFIX)

    @property
    def is_mutable(self) -> bool:
        """Whether what the reference pulls can change: no digest and no tag or ``latest``."""
        return not self.is_pinned and self.tag in ("", "latest")


def _is_registry_host(component: str) -> bool:
    # Docker's rule (distribution/reference): a first component is a host when it contains a dot
    # or a colon (a port), or is exactly "localhost"; otherwise it is a Docker Hub namespace.
    return "." in component or ":" in component or component == "localhost"


def parse_image(text: str) -> ImageRef | None:
    """Parse an image reference; None for an empty or blank string."""
    raw = text.strip()
    if not raw:
        return None
    rest, _, digest = raw.partition("@")
    # The tag is after the last colon that follows the last slash (a colon before it is a port).
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = ""
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    first, sep, remainder = rest.partition("/")
    if sep and _is_registry_host(first):
        registry, repository = first.lower(), remainder
    else:
        registry, repository = DOCKER_HUB, rest
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    return ImageRef(raw, registry, repository, tag, digest)


def normalise_allowlist_entry(entry: str) -> str:
    """An allowlist entry as a normalised prefix: lower-case host, Docker Hub aliases folded, no
    trailing slash (``index.docker.io/library/`` -> ``docker.io/library``)."""
    text = entry.strip().rstrip("/")
    host, sep, path = text.partition("/")
    host = host.lower()
    if host in _DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
    return f"{host}{sep}{path}"


def registry_allowed(image: ImageRef, allowlist: Iterable[str]) -> bool:
    """Whether the image's normalised name is, or lies below, one of the allowlist prefixes.

    The match respects path boundaries: ``ghcr.io/org`` allows ``ghcr.io/org/app`` but not
    ``ghcr.io/organisation/app``; ``registry.example.com`` allows every image on that host but not
    ``registry.example.com.evil.io``.
    """
    name = image.name
    for entry in allowlist:
        prefix = normalise_allowlist_entry(entry)
        if prefix and (name == prefix or name.startswith(prefix + "/")):
            return True
    return False
