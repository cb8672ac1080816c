"""Opening a store from a URL: which database, how it is tuned, and the error when it cannot be opened.

``open_store(url)`` accepts ``sqlite:///PATH`` (or a bare file path), ``postgresql://...`` /
``postgres://...`` (both use the psycopg 3 driver) and ``postgresql+psycopg://...``; no URL means the
default SQLite file, ``$XDG_DATA_HOME/kposture/kposture.db`` (``~/.local/share/kposture/kposture.db``).
``sqlite://NAME`` (two slashes: a host) is refused with the spelling that works, and so are
in-memory SQLite databases, which no other process (the watcher, ``findings``) could share.
Every connection to SQLite turns on write-ahead logging (one writer and many readers at once),
foreign keys and a busy timeout, so a reader never fails while the webhook writes. The schema is
migrated to the newest revision on open (``migrating``). Any failure is a ``StoreError`` naming the
URL with its password masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from kposture.store.migrating import UnknownRevisionError, migrate

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite connection waits for another writer before giving up."""

POSTGRES_CONNECT_TIMEOUT_S = 10

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+pysqlite"}


class StoreError(Exception):
    """The store could not be opened or used; the message names the URL with its password masked."""


class Store:
    """An open store: the engine and the URL it was opened with (masked for messages)."""

    __slots__ = ("engine", "url")

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url})"


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """The default SQLite file under the user's data directory (XDG base directory spec)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or ""
    root = Path(base) if Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "kposture" / "kposture.db"


def default_url(environ: Mapping[str, str] | None = None) -> str:
    return f"sqlite:///{default_path(environ)}"


def masked(url: str | URL) -> str:
    """The URL as text with any password replaced by ``***``."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return str(url) if "@" not in str(url) else "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def resolve_url(url: str | None, environ: Mapping[str, str] | None = None) -> URL:
    """The SQLAlchemy URL for what a user wrote: a URL, a bare SQLite file path, or nothing."""
    if not url:
        url = default_url(environ)
    elif "://" not in url:
        url = f"sqlite:///{Path(url).expanduser()}"
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"{masked(url)} is not a database URL: {exc}") from None
    if parsed.drivername in _POSTGRES_SCHEMES:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in _SQLITE_SCHEMES:
        return _checked_sqlite(parsed, url)
    raise StoreError(
        f"{masked(parsed)}: unsupported database (use sqlite:///PATH or postgresql://...)"
    )


def _checked_sqlite(parsed: URL, given: str) -> URL:
    """A SQLite URL that names a file: ``sqlite://NAME`` (a host, which SQLite has not) and
    in-memory databases are refused with the spelling that works."""
    shown = given if "@" not in given else masked(given)
    if parsed.host or parsed.port:
        named = f"{parsed.host or ''}{'/' + parsed.database if parsed.database else ''}"
        raise StoreError(
            f"{shown} is not a SQLite URL (sqlite:// is followed by a host, which SQLite has not): "
            f"write sqlite:///{named} for a path relative to the working directory, "
            "sqlite:////ABSOLUTE/PATH, or just the path"
        )
    if _in_memory(parsed):
        raise StoreError(
            f"no store: {shown} is an in-memory database, which lives and dies with one "
            "process, so the watcher, scan --save and findings/history cannot share it; give a file "
            "(sqlite:///PATH or just the path) or a PostgreSQL URL"
        )
    return parsed


def _in_memory(parsed: URL) -> bool:
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return True
    # SQLite URI filenames (uri=true): file::memory: and file:NAME?mode=memory.
    return database.startswith("file:") and (
        database.startswith("file::memory:")
        or "mode=memory" in database
        or parsed.query.get("mode") == "memory"
    )


def open_store(
    url: str | None = None, *, create: bool = True, environ: Mapping[str, str] | None = None
) -> Store:
    """Open (migrating as needed) the store at ``url``; ``StoreError`` when impossible.

    A missing SQLite file is created, unless ``create`` is false (readers: nothing was recorded).
    """
    parsed = resolve_url(url, environ)
    shown = masked(parsed)
    if parsed.drivername.startswith("sqlite"):
        engine = _sqlite_engine(parsed, shown, create=create)
    else:
        engine = create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
                "application_name": "kposture",
            },
        )
    try:
        migrate(engine)
    except UnknownRevisionError as exc:
        engine.dispose()
        raise StoreError(f"{shown}: {exc}") from None
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = error_reason(exc, password=parsed.password)
        raise StoreError(f"cannot open the store at {shown}: {reason}") from None
    return Store(engine, shown)


def _sqlite_engine(url: URL, shown: str, *, create: bool) -> Engine:
    database = url.database or ""
    if not database.startswith("file:"):
        path = Path(database)
        if not create and not path.exists():
            raise StoreError(f"no store at {shown} (nothing has been recorded there)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # The store holds who deployed what and where the cluster is weak: owner-only.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            blocker = _file_in_the_way(path)
            reason = f"{blocker} is not a directory" if blocker else exc.strerror or str(exc)
            raise StoreError(f"cannot open the store at {shown}: {reason}") from None
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _tune_sqlite)
    return engine


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing folder of ``path`` when it is no folder (``--db notes.txt/kp.db``: the
    OS says only "File exists" or "Not a directory")."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Safe with WAL: a power loss may lose the last commits, never corrupt the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def error_reason(exc: SQLAlchemyError, *, password: object = None) -> str:
    """The driver's own message without SQLAlchemy's statement dump (first two lines), and with
    ``password`` scrubbed in case the driver echoes it."""
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    text = "; ".join(lines[:2]) or type(original).__name__
    if password:
        text = text.replace(str(password), "***")
    return text
