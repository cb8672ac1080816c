"""Admission decisions through a real store, on SQLite and PostgreSQL: what goes in comes back,
filters select the right rows, the background writer batches into the database."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from kposture.model import Severity
from kposture.model.admission import AdmissionMode, Outcome, RuleVerdict
from kposture.store.connecting import Store, open_store
from kposture.store.decision_writing import DecisionWriter
from kposture.store.decisions import DecisionQuery, recent_decisions, write_decisions
from kposture.store.schema import admission_decisions, admission_verdicts
from store_samples import HOST_PATH, PRIVILEGED, T0, decision, sample_decisions

pytestmark = pytest.mark.e2e


def test_round_trip_keeps_every_field_and_verdict_order(store: Store) -> None:
    written = sample_decisions()
    assert write_decisions(store, written) == len(written)
    read = recent_decisions(store, DecisionQuery(limit=100))
    assert read == list(reversed(written))  # newest first, equal field by field
    denied = next(d for d in read if d.uid == "uid-denied")
    assert [v.rule_id for v in denied.verdicts] == ["privileged-container", "host-path-volume"]
    assert denied.time == T0 + dt.timedelta(minutes=1)
    assert denied.time.tzinfo is not None and denied.time.utcoffset() == dt.timedelta(0)


def test_times_in_other_zones_are_stored_as_the_same_instant(store: Store) -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    local = decision("uid-tokyo", 0, Outcome.ALLOWED)
    local = replace(local, time=local.time.astimezone(tokyo))
    write_decisions(store, [local])
    (read,) = recent_decisions(store)
    assert read.time == local.time and read.time.tzinfo == dt.UTC


def test_write_nothing_writes_nothing(store: Store) -> None:
    assert write_decisions(store, []) == 0
    assert recent_decisions(store) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (DecisionQuery(namespace="blog"), ["uid-dry-run", "uid-warned"]),
        (DecisionQuery(outcome=Outcome.DENIED), ["uid-denied"]),
        (DecisionQuery(rule_id="host-path-volume"), ["uid-warned", "uid-denied"]),
        (DecisionQuery(rule_id="no-such-rule"), []),
        (
            DecisionQuery(since=T0 + dt.timedelta(minutes=3)),
            ["uid-error", "uid-exempt", "uid-dry-run"],
        ),
        (DecisionQuery(limit=2), ["uid-error", "uid-exempt"]),
        (DecisionQuery(namespace="blog", rule_id="host-path-volume"), ["uid-warned"]),
        (DecisionQuery(namespace="shop", outcome=Outcome.ERROR), ["uid-error"]),
        (DecisionQuery(namespace="", outcome=Outcome.ALLOWED), []),
    ],
)
def test_filters(store: Store, query: DecisionQuery, expected: list[str]) -> None:
    write_decisions(store, sample_decisions())
    assert [d.uid for d in recent_decisions(store, query)] == expected


def test_same_time_is_ordered_by_arrival(store: Store) -> None:
    first = decision("first", 0, Outcome.ALLOWED)
    second = decision("second", 0, Outcome.ALLOWED)
    write_decisions(store, [first])
    write_decisions(store, [second])
    assert [d.uid for d in recent_decisions(store)] == ["second", "first"]


def test_rule_filter_uses_whole_decisions(store: Store) -> None:
    """A decision matched by one of its verdicts comes back with all of them."""
    write_decisions(store, sample_decisions())
    (denied,) = recent_decisions(store, DecisionQuery(rule_id="privileged-container"))
    assert denied.verdicts == (PRIVILEGED, HOST_PATH)


def test_secret_values_have_nowhere_to_go(store: Store) -> None:
    """A decision about a Secret carries rule messages (key names, fingerprints), never values:
    no column can hold an object body, and nothing of the value reaches the database."""
    value = "hunter2-Sup3rSecret"
    secret = {  # what the webhook judged; the store only ever sees the decision below
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": base64.b64encode(value.encode()).decode()},
    }
    verdict = RuleVerdict(
        "secret-in-plain-configmap",
        Severity.HIGH,
        AdmissionMode.ENFORCE,
        "key 'password' holds a credential-like value (fingerprint 3f2a9c…)",
    )
    made = decision("uid-secret", 0, Outcome.DENIED, kind="Secret", name="db", verdicts=(verdict,))
    write_decisions(store, [made])
    columns = {c.name for c in admission_decisions.columns} | {
        c.name for c in admission_verdicts.columns
    }
    assert not columns & {"object", "old_object", "raw", "data", "body", "patch"}
    with store.engine.connect() as connection:
        rows = [
            *connection.execute(select(admission_decisions)).all(),
            *connection.execute(select(admission_verdicts)).all(),
        ]
    stored = repr(rows)
    assert "'password'" in stored
    assert value not in stored
    assert secret["data"]["password"] not in stored  # type: ignore[index]


def test_writer_batches_into_the_store_and_flushes_on_close(store: Store) -> None:
    made = [
        decision(f"uid-{i}", i / 1000, Outcome.DENIED, verdicts=(PRIVILEGED,)) for i in range(1200)
    ]
    writer = DecisionWriter(store, batch_size=500, interval=5.0)
    for item in made:
        assert writer.record(item)
    writer.close()
    assert writer.written == 1200 and writer.dropped == 0 and writer.failed == 0
    assert writer.batches == 3  # 500 + 500 + the 200 left at close
    read = recent_decisions(store, DecisionQuery(limit=5000))
    assert len(read) == 1200
    assert {d.uid for d in read} == {d.uid for d in made}


def test_writer_from_many_threads(store: Store) -> None:
    writer = DecisionWriter(store, batch_size=100, interval=0.05)

    def produce(thread: int) -> None:
        for i in range(250):
            writer.record(decision(f"t{thread}-{i}", i / 1000, Outcome.ALLOWED))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert writer.written == 1000
    assert len(recent_decisions(store, DecisionQuery(limit=5000))) == 1000


def test_sqlite_readers_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    """WAL: a reader holding a read transaction open does not stop batches from committing."""
    url = f"sqlite:///{tmp_path / 'kposture.db'}"
    with open_store(url) as writer_store, open_store(url) as reader_store:
        write_decisions(writer_store, sample_decisions())
        with reader_store.engine.connect() as reader:
            reader.exec_driver_sql("BEGIN")
            before = reader.exec_driver_sql("SELECT count(*) FROM admission_decisions").scalar()
            write_decisions(writer_store, sample_decisions())  # must not block or fail
            during = reader.exec_driver_sql("SELECT count(*) FROM admission_decisions").scalar()
            reader.exec_driver_sql("COMMIT")
        assert before == during == 6  # the reader's snapshot
        assert len(recent_decisions(reader_store, DecisionQuery(limit=100))) == 12
        with reader_store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
