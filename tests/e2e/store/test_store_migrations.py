"""Opening a store migrates it, on SQLite and PostgreSQL: from empty to the newest revision, again
without change, to exactly the schema the code uses; a store from a newer kposture is refused."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from kposture.store.connecting import StoreError, open_store
from kposture.store.decisions import DecisionQuery, recent_decisions, write_decisions
from kposture.store.migrating import current_revision, head_revision
from kposture.store.schema import metadata
from store_samples import sample_decisions

pytestmark = pytest.mark.e2e

TABLES = {
    "clusters",
    "scans",
    "findings",
    "finding_transitions",
    "alerts",
    "admission_decisions",
    "admission_verdicts",
    "alembic_version",
}


def test_empty_database_is_migrated_to_head(store_url: str) -> None:
    with open_store(store_url) as store, store.engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == TABLES
        assert current_revision(connection) == head_revision()


def test_migrated_schema_is_the_schema_the_code_uses(store_url: str) -> None:
    """The shipped revisions and ``schema.py`` agree (tables, columns, types, indexes, keys)."""
    with open_store(store_url) as store, store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        indexes = {i["name"] for i in inspect(connection).get_indexes("admission_decisions")}
        assert {"ix_admission_decisions_at", "ix_admission_decisions_namespace_at"} <= indexes


def test_reopening_changes_nothing_and_keeps_data(store_url: str) -> None:
    with open_store(store_url) as store:
        write_decisions(store, sample_decisions())
    for _ in range(2):
        with open_store(store_url) as store:
            assert len(recent_decisions(store, DecisionQuery(limit=100))) == 6
            with store.engine.connect() as connection:
                assert current_revision(connection) == head_revision()
                versions = connection.execute(text("SELECT count(*) FROM alembic_version"))
                assert versions.scalar() == 1


def test_store_from_a_newer_kposture_is_refused(store_url: str) -> None:
    with open_store(store_url) as store, store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StoreError, match=r"9999_future.*newer version"):
        open_store(store_url)


def test_deleting_a_decision_deletes_its_verdicts(store_url: str) -> None:
    """Foreign keys are on (SQLite needs the pragma), so pruning old decisions cannot orphan rows."""
    with open_store(store_url) as store:
        write_decisions(store, sample_decisions())
        with store.engine.begin() as connection:
            connection.execute(text("DELETE FROM admission_decisions"))
            left = connection.execute(text("SELECT count(*) FROM admission_verdicts")).scalar()
        assert left == 0


def test_processes_opening_a_new_store_together_migrate_it_once(store_url: str) -> None:
    """Webhook replicas starting at the same moment: one migrates, the others wait and find it done."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_and_write(n: int) -> None:
        try:
            start.wait()
            with open_store(store_url) as store:
                write_decisions(store, sample_decisions()[n : n + 1])
        except BaseException as exc:  # reported below with the others
            errors.append(exc)

    threads = [threading.Thread(target=open_and_write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_store(store_url) as store:
        assert len(recent_decisions(store, DecisionQuery(limit=100))) == 4
