"""The Rich consoles the commands print through: stdout for reports, stderr for errors.

A report piped into a CI log is not a terminal, where Rich would wrap everything at 80 columns and
split rule ids and file:line pairs across lines; there it gets a wider default (``COLUMNS`` still
wins). Errors are never hard-wrapped, so ``file:line: message`` stays on one line.

Neither console replaces emoji codes: a name such as ``oidc:fire:alice`` (a User, a Pod, a label)
is printed as written, never as ``oidc🔥alice``.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPED_WIDTH = 160


def stdout_is_piped() -> bool:
    """stdout goes to a pipe or a file, and no ``COLUMNS`` says how wide to print there."""
    return not sys.stdout.isatty() and "COLUMNS" not in os.environ


def report_console() -> Console:
    """The console for a report on stdout."""
    if stdout_is_piped():
        return Console(width=PIPED_WIDTH, emoji=False)
    return Console(emoji=False)


def error_console() -> Console:
    """The console for errors and notes on stderr."""
    return Console(stderr=True, soft_wrap=True, emoji=False)
