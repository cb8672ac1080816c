"""Persistence: admission decisions today, and later scans, findings and their history. SQLAlchemy 2
Core over a SQLite file by default or PostgreSQL by URL, with Alembic migrations. Imports only the
model: it writes what the drivers hand it."""
