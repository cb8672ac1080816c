"""The audit logs ``kposture detect`` and ``kposture detect tune`` read, checked and read the same
way: the sources checked before any work (files that exist, stdin once, ``--follow`` alone and not
gzip), their events in order, the skipped records printed on stderr, and the inputs that gave no
event (only unreadable records, records that are no audit event, or nothing at all: an empty file,
an ``EventList`` without items) turned into exit 2 once the run is reported.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import typer
from rich.markup import escape

from kposture.cli.consoles import error_console
from kposture.model.audit import AuditEvent
from kposture.sinks.summaries import counted
from kposture.sources.audit_following import follow_audit_log
from kposture.sources.audit_logs import AuditLogReader, AuditReadIssue, is_gzip_file

EXIT_USAGE = 2
MAX_ISSUES_PRINTED = 50


def fail(message: str) -> NoReturn:
    """``error: message`` on stderr, exit 2."""
    error_console().print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(EXIT_USAGE)


class IssuePrinter:
    """Prints the first skipped records on stderr; the rest are only counted."""

    def __init__(self) -> None:
        self.printed = 0
        self.console = error_console()

    def __call__(self, issue: AuditReadIssue) -> None:
        if self.printed < MAX_ISSUES_PRINTED:
            self.console.print(f"[yellow]warning:[/] {escape(issue.display())}")
        elif self.printed == MAX_ISSUES_PRINTED:
            self.console.print("[yellow]warning:[/] further skipped records are only counted")
        self.printed += 1


def _not_a_log(path: Path) -> str:
    if path.is_dir():
        return "is a directory (give the audit log files in it)"
    if path.exists():
        return "is not a regular file"
    return "no such file"


def check_sources(paths: list[str], follow: Path | None) -> None:
    """Exit 2 before reading anything when the sources cannot all be read."""
    if paths and follow is not None:
        fail(
            f"--follow {follow} follows one live log and reads nothing else: "
            f"{', '.join(paths)} would not be read (run one kposture detect per source)"
        )
    if not paths and follow is None:
        fail("give audit logs: FILE... (- for stdin), or --follow FILE")
    if paths.count("-") > 1:
        fail("- (stdin) can be read once")
    problems = [
        f"{path}: {_not_a_log(Path(path))}"
        for path in paths
        if path != "-" and not Path(path).is_file()
    ]
    if problems:
        fail("; ".join(problems))
    if follow is not None and follow.is_file() and is_gzip_file(follow):
        fail(
            f"{follow} is gzip-compressed: a compressed backup does not grow and cannot be "
            "followed; read it with kposture detect FILE, and follow the live log"
        )


def audit_events(
    reader: AuditLogReader, sources: list[str], follow: Path | None
) -> Iterator[AuditEvent]:
    """The events of ``sources`` in order (``-`` is stdin), or of ``follow`` until SIGTERM or
    Ctrl-C."""
    if follow is not None:
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            yield from follow_audit_log(reader, follow, should_stop=stop.is_set)
        except KeyboardInterrupt:
            return
        finally:
            signal.signal(signal.SIGTERM, previous)
        return
    for source in sources:
        if source == "-":
            yield from reader.read_stream(sys.stdin.buffer, "-")
        else:
            yield from reader.read_file(Path(source))


def _eventless(name: str, others: int, unreadable: int) -> str:
    """``no audit events in FILE: 1 record is not an audit event; wrong --format?``"""
    what = (
        f"{others:,} record is not an audit event"
        if others == 1
        else (f"{others:,} records are not audit events")
    )
    if unreadable:
        what += f", {counted(unreadable, 'unreadable record')}"
    return f"no audit events in {name}: {what}; wrong --format?"


def fail_unless_readable(reader: AuditLogReader) -> None:
    """Exit 2 naming every input that gave no event: all its records unreadable, none at all (an
    empty file, or lists without items), or records that are no audit event (another format's, a
    ``kubectl`` List)."""
    stats = reader.stats
    problems = [
        f"no audit event could be read from {name} ({counted(bad, 'unreadable record')})"
        for name, bad in stats.unreadable
    ]
    problems.extend(
        f"no audit events in {name} (it is empty or its lists have no items)"
        for name in stats.empty
    )
    problems.extend(
        _eventless(name, others, unreadable) for name, others, unreadable in stats.eventless
    )
    if problems:
        fail("; ".join(problems))
