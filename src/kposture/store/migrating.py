"""Schema migrations: bring a store's database to the newest Alembic revision when it is opened.

The revisions ship inside the package (``migrations/versions``) and run programmatically on the
caller's connection (no ``alembic.ini``). A store already at the newest revision costs one query and
takes no lock. A store written by a newer kposture (a revision this one does not know) is refused
rather than touched. When several processes (a fleet of webhooks and watchers) open a new store at
once, one migrates while the others wait: a transaction-scoped advisory lock on PostgreSQL, the
write lock (``BEGIN IMMEDIATE``) on SQLite; each re-reads the revision once it holds the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")

MIGRATION_LOCK = 0x6B706F7374757265  # "kposture": one key for every kposture store
"""The PostgreSQL advisory lock key held while migrating."""


class UnknownRevisionError(Exception):
    """The database is at a revision this kposture does not ship (a newer kposture wrote it)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, bound to ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


@cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def head_revision() -> str:
    """The newest revision this kposture knows."""
    head = _scripts().get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> None:
    """Upgrade the database to ``head_revision()``; ``UnknownRevisionError`` for a newer store."""
    with _alembic_quiet_unless_debugging():
        _migrate(engine)


@contextmanager
def _alembic_quiet_unless_debugging() -> Iterator[None]:
    """Alembic logs its context and every revision it runs at INFO (multi-line docstrings included)
    each time a store opens: heard only when debug logging is on (``--log-level debug``), or when
    the caller configured the ``alembic`` logger itself."""
    alembic = logging.getLogger("alembic")
    if alembic.level != logging.NOTSET or logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    alembic.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic.setLevel(logging.NOTSET)


def _migrate(engine: Engine) -> None:
    with engine.connect() as connection:
        if current_revision(connection) == head_revision():
            return  # the common case: no lock taken, readers never wait here
    with engine.begin() as connection:
        _lock(connection)
        current = current_revision(connection)  # again: another process may have migrated
        if current == head_revision():
            return
        if current is not None and current not in _known_revisions():
            raise UnknownRevisionError(
                f"the store is at schema revision {current}, which this kposture does not know "
                "(written by a newer version?); upgrade kposture to use it"
            )
        command.upgrade(alembic_config(connection), "head")


def _lock(connection: Connection) -> None:
    """Hold off other processes migrating the same database until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    elif connection.dialect.name == "sqlite":
        # pysqlite starts transactions lazily, at the first write: take the write lock now, so the
        # revision read below cannot be overtaken by another process's migration.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
