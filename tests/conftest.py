"""Shared test fixtures: where the real-world corpus lives.

The corpus (third-party manifests, RBAC defaults, audit events with labels) sits beside the checkout in
development and CI, never in a user's clone. ``KPOSTURE_CORPUS`` points at it (default
``../shared/corpus`` relative to the repository root); tests that need it skip with a reason when absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# The store fixtures (a private PostgreSQL server, store_url over SQLite and PostgreSQL).
pytest_plugins = ("store_fixtures",)


def corpus_root() -> Path:
    """The configured corpus folder (it may not exist)."""
    configured = os.environ.get("KPOSTURE_CORPUS", "../shared/corpus")
    path = Path(configured)
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The corpus folder; skips the test when it is absent."""
    root = corpus_root()
    if not root.is_dir():
        pytest.skip(f"corpus not found at {root} (set KPOSTURE_CORPUS to the shared corpus folder)")
    return root
