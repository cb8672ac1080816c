"""The Rich consoles the commands print through: stdout for reports, stderr for errors.

A report piped into a CI log is not a terminal, where Rich would wrap everything at 80 columns and
split rule ids and file:line pairs across lines; there it gets a wider default (``COLUMNS`` still
wins). Errors are never hard-wrapped, so ``file:line: message`` stays on one line.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPED_WIDTH = 160


def report_console() -> Console:
    """The console for a report on stdout."""
    if sys.stdout.isatty() or "COLUMNS" in os.environ:
        return Console()
    return Console(width=PIPED_WIDTH)


def error_console() -> Console:
    """The console for errors and notes on stderr."""
    return Console(stderr=True, soft_wrap=True)
