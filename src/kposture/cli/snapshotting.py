"""Writing a cluster read to a snapshot file (atomically) or stdout, with the time it was taken."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from kposture import __version__
from kposture.cli.scanning import rfc3339
from kposture.sources.cluster import ClusterRead
from kposture.sources.snapshots import write_snapshot


def write_snapshot_file(read: ClusterRead, destination: str, now: dt.datetime | None = None) -> int:
    """Write ``read`` to ``destination`` (``-`` for stdout); a file appears whole or not at all."""
    taken_at = rfc3339(now or dt.datetime.now(dt.UTC))
    if destination == "-":
        count = write_snapshot(read, sys.stdout, taken_at, __version__)
        sys.stdout.flush()
        return count
    target = Path(destination)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            count = write_snapshot(read, out, taken_at, __version__)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return count
