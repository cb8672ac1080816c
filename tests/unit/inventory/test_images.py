"""Image reference parsing (Docker's rules) and the registry allowlist match."""

from __future__ import annotations

import pytest

from kposture.inventory import parse_image, registry_allowed

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", "", ""),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", ""),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", ""),
        ("docker.io/nginx", "docker.io", "library/nginx", "", ""),
        ("index.docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", ""),
        ("ghcr.io/org/app:v1", "ghcr.io", "org/app", "v1", ""),
        ("localhost/app", "localhost", "app", "", ""),
        ("localhost:5000/team/app:2", "localhost:5000", "team/app", "2", ""),
        ("registry:5000/app", "registry:5000", "app", "", ""),
        ("Registry.Example.com/app", "registry.example.com", "app", "", ""),
        (f"nginx@{DIGEST}", "docker.io", "library/nginx", "", DIGEST),
        (f"quay.io/org/app:1.0@{DIGEST}", "quay.io", "org/app", "1.0", DIGEST),
        (f"localhost:5000/app@{DIGEST}", "localhost:5000", "app", "", DIGEST),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str, digest: str) -> None:
    image = parse_image(text)
    assert image is not None
    assert (image.registry, image.repository, image.tag, image.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


def test_blank_is_none() -> None:
    assert parse_image("  ") is None


def test_mutable_and_pinned() -> None:
    assert parse_image("nginx").is_mutable  # type: ignore[union-attr]
    assert parse_image("nginx:latest").is_mutable  # type: ignore[union-attr]
    assert not parse_image("nginx:1.27").is_mutable  # type: ignore[union-attr]
    pinned = parse_image(f"nginx:latest@{DIGEST}")
    assert pinned is not None and pinned.is_pinned and not pinned.is_mutable
    assert not parse_image("nginx:1.27").is_pinned  # type: ignore[union-attr]


def test_normalised() -> None:
    image = parse_image(f"nginx:1.27@{DIGEST}")
    assert image is not None
    assert image.normalised == f"docker.io/library/nginx:1.27@{DIGEST}"


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("ghcr.io/org/app:1", True),
        ("ghcr.io/org", True),
        ("ghcr.io/organisation/app:1", False),
        ("ghcr.io/other/app", False),
        ("registry.example.com/a/b/c:1", True),
        ("registry.example.com.evil.io/app", False),
        ("nginx:1.27", True),
        ("bitnami/redis", False),
    ],
)
def test_allowlist_path_boundary(text: str, allowed: bool) -> None:
    image = parse_image(text)
    assert image is not None
    allowlist = ("ghcr.io/org/", "Registry.Example.com", "index.docker.io/library")
    assert registry_allowed(image, allowlist) is allowed
