"""A per-kind progress display on stderr while a cluster is listed (only on a terminal)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from kposture.sources.cluster_listing import Progress as ProgressCallback


@contextmanager
def listing_progress(enabled: bool | None = None) -> Iterator[ProgressCallback | None]:
    """Yield a progress callback for ``load_cluster`` that draws one row per kind on stderr, or
    None when stderr is not a terminal (CI logs stay clean)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    console = Console(stderr=True, emoji=False)
    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<32}"),
        BarColumn(bar_width=20),
        TextColumn("{task.fields[count]:>7} objects"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}
    lock = threading.Lock()

    def update(kind: str, count: int, finished: bool) -> None:
        with lock:
            task = tasks.get(kind)
            if task is None:
                task = tasks[kind] = display.add_task(f"listing {kind}", total=None, count=0)
        if finished:
            display.update(task, count=count, total=1, completed=1)
        else:
            display.update(task, count=count)

    with display:
        yield update
