"""Bounded FIFO queues of rendered alert bodies waiting for delivery: ``DirectorySpool`` on disk (one
file per alert, survives a restart or a crash) and ``MemorySpool`` (for tests, or when the user asks
for no disk).

A webhook sink appends an alert here before trying to send it and removes it only after the receiver
accepted it, so an outage loses nothing while the queue has room. The queue is bounded by a count and
a byte size; past either bound the oldest alerts are dropped and the count returned, so the caller
can warn and count. The entry being delivered (the one ``peek`` last returned) is never the one
dropped, so a delivery in flight is not counted as lost.

An alert with an identity (``spool_identity``: a detection's detection, audit ID and message) is not
queued again while one with the same identity waits, so replaying an audit log during an outage, or
twice, does not pile duplicates up for the receiver; once delivered, the same alert is accepted again.

``DirectorySpool`` writes each body to a hidden temporary file and renames it into place, so a crash
leaves whole entries or none; leftovers are removed on open. Names are zero-padded sequence numbers
(followed by a hash of the identity, so it survives a restart), so the name order is the arrival order
across restarts. A lock file keeps a second process from
draining the same directory (which would send alerts twice). Entries are not fsynced: a process
crash loses nothing, a power failure may lose the last writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kposture.model.incidents import DetectionAlert
from kposture.model.lifecycle import Alert

try:  # POSIX only; on other systems the directory is not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_SUFFIX = ".alert"
_DIGITS = 20
_NAME = re.compile(r"(\d+)(?:-([0-9a-f]{32}))?")
DEFAULT_MAX_COUNT = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class SpoolError(OSError):
    """The spool directory cannot be used (not writable, or another process holds it)."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    key: int
    body: bytes


def spool_identity(alert: Alert) -> str:
    """What makes ``alert`` the same alert again, for a spool: a detection's fingerprint
    (detection, audit ID and message) when its event has an audit ID; empty (never the same) for
    anything else."""
    if isinstance(alert, DetectionAlert) and alert.incident.event.audit_id:
        return f"detection:{alert.incident.fingerprint}"
    return ""


def _hashed(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32] if identity else ""


class Spool(Protocol):
    def append(self, body: bytes, identity: str = "") -> int:
        """Queue ``body`` unless an entry with the same non-empty ``identity`` is queued; returns
        how many entries were dropped to respect the bounds."""
        ...

    def peek(self) -> SpoolEntry | None:
        """The oldest entry, which stays queued (and is protected from dropping) until removed."""
        ...

    def remove(self, key: int) -> None: ...

    def __len__(self) -> int: ...

    @property
    def size(self) -> int:
        """Bytes held."""
        ...

    @property
    def persistent(self) -> bool: ...

    @property
    def duplicates(self) -> int:
        """Alerts ``append`` refused because the same alert was already waiting."""
        ...

    def close(self) -> None: ...


class _Bounded:
    """The order, sizes and bounds shared by both spools; subclasses store the bodies."""

    def __init__(self, max_count: int, max_bytes: int) -> None:
        if max_count < 1 or max_bytes < 1:
            raise ValueError("a spool needs room for at least one alert")
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._sizes: OrderedDict[int, int] = OrderedDict()
        self._hashes: dict[int, str] = {}
        """The hashed identity of each entry that has one; ``_queued`` the reverse."""
        self._queued: dict[str, int] = {}
        self.duplicates = 0
        """Alerts not queued because the same alert was already waiting."""
        self._bytes = 0
        self._next = 1
        self._leased: int | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sizes)

    @property
    def size(self) -> int:
        return self._bytes

    def append(self, body: bytes, identity: str = "") -> int:
        hashed = _hashed(identity)
        with self._lock:
            if hashed in self._queued:
                self.duplicates += 1
                return 0
            key = self._next
            self._next += 1
            if hashed:
                self._remember(key, hashed)
            try:
                self._store(key, body)
            except BaseException:
                self._unremember(key)
                raise
            self._sizes[key] = len(body)
            self._bytes += len(body)
            return self._enforce()

    def _enforce(self) -> int:
        dropped = 0
        while len(self._sizes) > self.max_count or self._bytes > self.max_bytes:
            # The oldest entry not in flight; an alert larger than the byte bound drops itself.
            victim = next((key for key in self._sizes if key != self._leased), None)
            if victim is None:
                break
            self._discard(victim)
            dropped += 1
        return dropped

    def peek(self) -> SpoolEntry | None:
        with self._lock:
            for key in list(self._sizes):
                body = self._load(key)
                if body is None:  # vanished from disk underneath us
                    self._forget(key)
                    continue
                self._leased = key
                return SpoolEntry(key, body)
            self._leased = None
            return None

    def remove(self, key: int) -> None:
        with self._lock:
            if key == self._leased:
                self._leased = None
            if key in self._sizes:
                self._discard(key)

    def _discard(self, key: int) -> None:
        self._delete(key)
        self._forget(key)

    def _forget(self, key: int) -> None:
        self._bytes -= self._sizes.pop(key, 0)
        self._unremember(key)

    def _remember(self, key: int, hashed: str) -> None:
        self._hashes[key] = hashed
        self._queued[hashed] = key

    def _unremember(self, key: int) -> None:
        hashed = self._hashes.pop(key, "")
        if hashed:
            self._queued.pop(hashed, None)

    # Storage, implemented by each spool.
    def _store(self, key: int, body: bytes) -> None:
        raise NotImplementedError

    def _load(self, key: int) -> bytes | None:
        raise NotImplementedError

    def _delete(self, key: int) -> None:
        raise NotImplementedError


class MemorySpool(_Bounded):
    """A spool in memory: bounded like the directory spool, lost when the process ends."""

    def __init__(
        self, max_count: int = DEFAULT_MAX_COUNT, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        super().__init__(max_count, max_bytes)
        self._bodies: dict[int, bytes] = {}

    @property
    def persistent(self) -> bool:
        return False

    def _store(self, key: int, body: bytes) -> None:
        self._bodies[key] = body

    def _load(self, key: int) -> bytes | None:
        return self._bodies.get(key)

    def _delete(self, key: int) -> None:
        self._bodies.pop(key, None)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"MemorySpool(count={len(self)}, bytes={self.size})"


class DirectorySpool(_Bounded):
    """A spool in a directory (created with mode 0700; entries 0600). ``dropped_on_open`` counts
    entries found on open beyond the bounds (the bounds may have shrunk since)."""

    def __init__(
        self,
        directory: Path,
        max_count: int = DEFAULT_MAX_COUNT,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__(max_count, max_bytes)
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock_file = (directory / ".lock").open("a")
        except OSError as exc:
            raise SpoolError(f"cannot use the spool directory {directory}: {exc.strerror}") from exc
        if fcntl is not None:
            try:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock_file.close()
                raise SpoolError(
                    f"the spool directory {directory} is in use by another process"
                ) from None
        self._load_existing()
        with self._lock:
            self.dropped_on_open = self._enforce()

    @property
    def persistent(self) -> bool:
        return True

    def _path(self, key: int) -> Path:
        hashed = self._hashes.get(key)
        identity = f"-{hashed}" if hashed else ""
        return self.directory / f"{key:0{_DIGITS}d}{identity}{_SUFFIX}"

    def _load_existing(self) -> None:
        found: list[tuple[int, int, str]] = []
        for path in self.directory.iterdir():
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write interrupted by a crash
                continue
            stem = path.name.removesuffix(_SUFFIX)
            named = _NAME.fullmatch(stem) if stem != path.name else None
            if named is None:
                continue
            with contextlib.suppress(FileNotFoundError):
                found.append((int(named[1]), path.stat().st_size, named[2] or ""))
        for key, size, hashed in sorted(found):
            self._sizes[key] = size
            self._bytes += size
            if hashed and hashed not in self._queued:
                self._remember(key, hashed)
        self._next = max((key for key, _, _ in found), default=0) + 1

    def _store(self, key: int, body: bytes) -> None:
        temporary = self.directory / f".{key}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(body)
            temporary.replace(self._path(key))
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _load(self, key: int) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def _delete(self, key: int) -> None:
        self._path(key).unlink(missing_ok=True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._lock_file.close()  # closing the descriptor releases the lock

    def __repr__(self) -> str:
        return f"DirectorySpool({str(self.directory)!r}, count={len(self)}, bytes={self.size})"
