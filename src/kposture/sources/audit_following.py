"""Following an audit log file as kube-apiserver writes and rotates it (``kposture detect --follow``).

The follower keeps the open file's device, inode and offset, and the file's first bytes as it read
them (up to ``FINGERPRINT_BYTES``). At the end of the data it looks at the path: a different inode
means the file was rotated (renamed away, deleted, or replaced by a rename over it), so what is left
in the old file is read to its end before the new file is read from its start. The old file stays
open for ``ROTATION_GRACE_SECONDS`` more (and until the follower stops): what a writer still adds
to it after the rename is read at every end of the new file's data, each line once; then its
unterminated last line, if any, is handed on and it is closed. The file was
truncated in place (copytruncate) when it is shorter than the offset or when its first bytes are no
longer the ones read; the first bytes are checked after every read too, so a truncated file that has
already grown past the old offset is not read from the middle. A truncated file is read again from
its start. A line is handed on only once its newline arrives, so a half-written event is never
parsed early; the last unterminated line of a rotated file is handed on when the file is left.
Nothing is read twice and nothing is skipped, except what a copytruncate rotation loses between its
copy and its truncation (which no reader can see), a file rewritten in place with the very same
first bytes, which cannot be told from one that grew, and what is written to a rotated file after
its grace period.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kposture.model.audit import AuditEvent
from kposture.sources.audit_logs import AuditLogReader

_CHUNK = 1 << 16
ROTATION_GRACE_SECONDS = 2.0
"""How long a rotated file is still read for lines its writer adds after the rename."""
FINGERPRINT_BYTES = 4096
"""How much of the start of the file is compared to tell a truncated and rewritten file from one
that grew: enough to hold the first event's audit ID."""


@dataclass(frozen=True, slots=True)
class FollowPosition:
    """Where a follower is: the file's device and inode, the byte offset of the next unread line,
    and the number of lines read from that file."""

    device: int
    inode: int
    offset: int
    line: int


class LineFollower:
    """Complete lines of a file that grows and rotates, each with its 1-based line number in the
    file it came from; ``None`` for a line longer than ``max_bytes`` (never held whole)."""

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        *,
        poll_interval: float = 0.5,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
        start: FollowPosition | None = None,
        clock: Callable[[], float] = time.monotonic,
        rotation_grace: float = ROTATION_GRACE_SECONDS,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.poll_interval = poll_interval
        self.should_stop = should_stop
        self.sleep = sleep
        self.start = start
        self.clock = clock
        self.rotation_grace = rotation_grace
        self._retiring: _Cursor | None = None
        """The rotated file, still read for late lines until ``_retire_at``."""
        self._retire_at = 0.0
        self.rotations = 0
        self.truncations = 0
        self._position: FollowPosition | None = None

    @property
    def position(self) -> FollowPosition | None:
        return self._position

    def lines(self) -> Iterator[tuple[int, bytes | None]]:
        handle = None
        while handle is None:
            try:
                handle = _open(self.path)
            except FileNotFoundError:
                if self.should_stop():
                    return
                self.sleep(self.poll_interval)
        try:
            yield from self._follow(handle)
        finally:
            handle.close()

    def _follow(self, stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
        cursor = _Cursor.at(stream)
        start = self.start
        if (
            start is not None
            and (start.device, start.inode) == (cursor.device, cursor.inode)
            and start.offset <= os.fstat(stream.fileno()).st_size
        ):
            stream.seek(start.offset)
            cursor.consumed, cursor.line = start.offset, start.line
            cursor.head = os.pread(stream.fileno(), min(start.offset, FINGERPRINT_BYTES), 0)
        try:
            while True:
                chunk = cursor.stream.read(_CHUNK)
                if chunk:
                    if cursor.rewritten():
                        self._restart(cursor)
                        continue
                    cursor.remember_head(chunk)
                    yield from self._split(cursor, chunk)
                    continue
                stopping = self.should_stop()
                yield from self._drain_retiring(final=stopping)
                if stopping:
                    return
                try:
                    now = self.path.stat()
                except FileNotFoundError:
                    self.sleep(self.poll_interval)
                    continue
                if (now.st_dev, now.st_ino) != (cursor.device, cursor.inode):
                    yield from self._split(cursor, cursor.stream.read(), current=False)
                    try:
                        replacement = _open(self.path)
                    except FileNotFoundError:
                        continue
                    yield from self._drain_retiring(final=True)
                    self._retiring, self._retire_at = cursor, self.clock() + self.rotation_grace
                    cursor = _Cursor.at(replacement)
                    self.rotations += 1
                    self._position = FollowPosition(cursor.device, cursor.inode, 0, 0)
                elif now.st_size < cursor.read_offset or cursor.rewritten():
                    self._restart(cursor)
                else:
                    self.sleep(self.poll_interval)
        finally:
            cursor.stream.close()
            if self._retiring is not None:
                self._retiring.stream.close()
                self._retiring = None

    def _drain_retiring(self, *, final: bool) -> Iterator[tuple[int, bytes | None]]:
        """The lines added to the rotated file since it was last read; when ``final`` or its grace
        is over, its unterminated last line too, and it is closed."""
        retiring = self._retiring
        if retiring is None:
            return
        if not final and self.clock() < self._retire_at:
            yield from self._split(retiring, retiring.stream.read(), current=False)
            return
        self._retiring = None
        try:
            yield from self._leave(retiring)
        finally:
            retiring.stream.close()

    def _restart(self, cursor: _Cursor) -> None:
        """The file was truncated in place: read it again from its start."""
        cursor.stream.seek(0)
        cursor.reset()
        self.truncations += 1
        self._position = FollowPosition(cursor.device, cursor.inode, 0, 0)

    def _split(
        self, cursor: _Cursor, chunk: bytes, *, current: bool = True
    ) -> Iterator[tuple[int, bytes | None]]:
        """The complete lines of ``chunk`` after what ``cursor`` holds; ``current``: the cursor is
        the followed file's, whose position is kept (not a rotated file being drained)."""
        cursor.pending += chunk
        while True:
            cut = cursor.pending.find(b"\n")
            if cut < 0:
                break
            piece, cursor.pending = cursor.pending[: cut + 1], cursor.pending[cut + 1 :]
            cursor.consumed += len(piece)
            cursor.line += 1
            if current:
                self._position = FollowPosition(
                    cursor.device, cursor.inode, cursor.consumed, cursor.line
                )
            oversized = cursor.oversized or len(piece) > self.max_bytes + 1
            cursor.oversized = False
            yield cursor.line, None if oversized else piece
        if len(cursor.pending) > self.max_bytes:
            cursor.consumed += len(cursor.pending)
            cursor.pending = b""
            cursor.oversized = True

    def _leave(self, cursor: _Cursor) -> Iterator[tuple[int, bytes | None]]:
        """The rest of a rotated file, its unterminated last line included."""
        yield from self._split(cursor, cursor.stream.read(), current=False)
        if cursor.pending or cursor.oversized:
            cursor.line += 1
            last = None if cursor.oversized else cursor.pending
            cursor.pending, cursor.oversized = b"", False
            yield cursor.line, last


@dataclass(slots=True)
class _Cursor:
    """The open file being followed and what was read of it."""

    stream: BinaryIO
    device: int
    inode: int
    line: int = 0
    consumed: int = 0
    pending: bytes = b""
    oversized: bool = False
    head: bytes = b""
    """The first bytes of the file as they were read (up to ``FINGERPRINT_BYTES``)."""

    @classmethod
    def at(cls, stream: BinaryIO) -> _Cursor:
        info = os.fstat(stream.fileno())
        return cls(stream, info.st_dev, info.st_ino)

    @property
    def read_offset(self) -> int:
        """Bytes of the file read so far: those handed on or skipped, and the pending line."""
        return self.consumed + len(self.pending)

    def remember_head(self, chunk: bytes) -> None:
        """Keep the start of the file from ``chunk``, read at ``read_offset``."""
        missing = FINGERPRINT_BYTES - len(self.head)
        if missing > 0 and self.read_offset == len(self.head):
            self.head += chunk[:missing]

    def rewritten(self) -> bool:
        """Whether the file no longer starts with the bytes read from it: truncated and written
        again, even past the old offset."""
        return bool(self.head) and os.pread(self.stream.fileno(), len(self.head), 0) != self.head

    def reset(self) -> None:
        self.line, self.consumed, self.pending, self.oversized = 0, 0, b"", False
        self.head = b""


def _open(path: Path) -> BinaryIO:
    """The file unbuffered: each read sees the file as it is then, with nothing read ahead from
    before a truncation."""
    return path.open("rb", buffering=0)


def follow_audit_log(
    reader: AuditLogReader,
    path: Path,
    *,
    poll_interval: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    start: FollowPosition | None = None,
) -> Iterator[AuditEvent]:
    """Events from ``path`` as it grows and rotates, until ``should_stop()`` is true at the end of
    the data."""
    follower = LineFollower(
        path,
        reader.max_event_bytes,
        poll_interval=poll_interval,
        should_stop=should_stop,
        sleep=sleep,
        start=start,
    )
    name = str(path)
    for number, data in follower.lines():
        yield from reader.parse_line(data, name, number)
