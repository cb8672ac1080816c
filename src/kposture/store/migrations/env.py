"""Alembic environment for kposture's store: runs the packaged revisions on the connection that
``kposture.store.migrating`` hands over (never from an ini file or a URL of its own)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from kposture.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("kposture migrations run through kposture.store.migrating with a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters tables by copying them; batch mode does that for later revisions.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
