"""Snapshots: what a cluster read listed, saved as one JSON ``v1`` ``List`` to scan offline later.

Owns the snapshot format: a ``List`` whose ``metadata.annotations["kposture.io/snapshot"]`` holds a
JSON string with the context, server, time, namespaces and, per kind, the apiVersion, count and any
listing problem; then one object per line, so findings from ``kposture scan FILE`` point at the
object's line. The manifest loader reads a snapshot like any ``List`` file (``kubectl get -o json``
output too), and turns the listing problems it recorded into input errors (``snapshot_header``).
Secret values are never written: listing strips them, and writing strips again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from kposture.sources.cluster import ClusterRead
from kposture.sources.cluster_listing import strip_secret
from kposture.sources.snapshot_header import SNAPSHOT_ANNOTATION, SNAPSHOT_SCHEMA, snapshot_info


def snapshot_header(read: ClusterRead, taken_at: str, tool_version: str) -> dict[str, Any]:
    """The snapshot's description block (what the annotation holds, as a mapping)."""
    return {
        "schema": SNAPSHOT_SCHEMA,
        "tool": {"name": "kposture", "version": tool_version},
        "context": read.context,
        "server": read.server,
        "taken_at": taken_at,
        "namespaces": list(read.namespaces) if read.namespaces is not None else None,
        "kinds": [
            {
                "kind": summary.kind,
                "apiVersion": summary.api_version,
                "count": summary.count,
                **({"error": summary.problem, "level": summary.level} if summary.problem else {}),
            }
            for summary in read.kinds
        ],
        "errors": [
            {"message": error.message, "level": error.level} for error in read.loaded.errors
        ],
    }


def _safe(item: Mapping[str, Any]) -> Mapping[str, Any]:
    if item.get("kind") != "Secret" or not isinstance(item, dict):
        return item
    copy = json.loads(json.dumps(item))
    strip_secret(copy)
    return dict(copy)


def write_snapshot(read: ClusterRead, out: TextIO, taken_at: str, tool_version: str) -> int:
    """Write the snapshot to ``out``; return the number of objects written."""
    header = json.dumps(snapshot_header(read, taken_at, tool_version), separators=(",", ":"))
    meta = json.dumps({"annotations": {SNAPSHOT_ANNOTATION: header}})
    out.write(f'{{"apiVersion": "v1", "kind": "List", "metadata": {meta},\n"items": [')
    count = 0
    for obj in read.loaded.objects:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(_safe(obj.raw), separators=(",", ":")))
        count += 1
    out.write("\n]}\n")
    return count


__all__ = [
    "SNAPSHOT_ANNOTATION",
    "SNAPSHOT_SCHEMA",
    "snapshot_header",
    "snapshot_info",
    "write_snapshot",
]
