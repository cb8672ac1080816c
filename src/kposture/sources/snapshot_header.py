"""The description block of a snapshot file, read back: ``snapshot_info`` and the listing problems
it recorded.

A snapshot (``sources.snapshots``) is a ``List`` whose ``metadata.annotations["kposture.io/snapshot"]``
holds a JSON description: context, server, time, namespaces, per kind its count and any listing
problem, and every input error of the cluster read (``errors``: message and level). Reading a
snapshot back turns those recorded problems into input errors of the offline scan, at the levels
the live scan gave them, so the offline report says which kinds are missing as the live one did.
Kept apart from ``snapshots`` (which needs the cluster source) so the manifest loader can use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SNAPSHOT_ANNOTATION = "kposture.io/snapshot"
SNAPSHOT_SCHEMA = "kposture.snapshot/v1"

_LEVELS = ("error", "warning")


def snapshot_info(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The description block of a parsed snapshot document, or None when it is not one."""
    meta = document.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    text = annotations.get(SNAPSHOT_ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(text, str):
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def recorded_problems(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(message, level) of every problem the cluster read recorded: the ``errors`` list, or, in a
    snapshot without one, the per-kind listing problems. An unknown level counts as an error."""
    errors = info.get("errors")
    if not isinstance(errors, list):
        kinds = info.get("kinds")
        errors = [
            {"message": kind.get("error"), "level": kind.get("level")}
            for kind in (kinds if isinstance(kinds, list) else ())
            if isinstance(kind, Mapping) and kind.get("error")
        ]
    problems: list[tuple[str, str]] = []
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        message, level = error.get("message"), error.get("level")
        if isinstance(message, str) and message:
            problems.append((message, level if level in _LEVELS else "error"))
    return problems
