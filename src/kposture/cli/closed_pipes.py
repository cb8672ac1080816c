"""A reader that went away: ``kposture history 2>&1 | head -4`` closes the pipe after four lines,
and the next write (the rest of the table, or the note on stderr saying what ``--limit`` left out)
raises ``BrokenPipeError``. Every command then stops quietly, with no traceback, and exit 141 as a
process ended by SIGPIPE does (128 + 13), whatever it was about to say: a gate such as
``kposture scan . | head`` under ``set -o pipefail`` must not pass for a scan that never finished.
(Click's own handling exited 1, and only when the pipe closed before the last write, so the same
command exited 0 or 1 by timing.)

``ClosedPipeGroup`` is the root command group's class, so this is said once for the whole CLI.
Rich's consoles handle a closed pipe themselves, with exit 1 (``Console.on_broken_pipe``); while a
command runs, that hook raises ``BrokenPipeError`` instead, for the group to end the command.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

CLOSED_PIPE_EXIT = 141
"""128 + SIGPIPE: what a shell reports for a process a closed pipe ended."""


class ClosedPipeGroup(TyperGroup):
    """A command group whose commands end quietly with ``CLOSED_PIPE_EXIT`` when stdout or stderr
    has no reader left."""

    def invoke(self, ctx: Any) -> Any:
        rich_hook = Console.on_broken_pipe
        Console.on_broken_pipe = _raise_broken_pipe  # type: ignore[method-assign,assignment]
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a closed pipe is found here, not at the interpreter's exit
            sys.stderr.flush()
        except BrokenPipeError:
            silence_closed_pipes()
            raise typer.Exit(CLOSED_PIPE_EXIT) from None
        finally:
            Console.on_broken_pipe = rich_hook  # type: ignore[method-assign]
        return result


def _raise_broken_pipe(console: Console) -> None:
    console.quiet = True  # nothing more from this console
    raise BrokenPipeError


def silence_closed_pipes() -> None:
    """Point stdout and stderr at the null device: what is still buffered for them has no reader
    and must not fail again when the interpreter flushes it at exit. Streams without a file
    descriptor (a test runner's) are left alone."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            try:
                descriptor = stream.fileno()
            except (OSError, ValueError):
                continue
            os.dup2(null, descriptor)
    finally:
        os.close(null)
