"""The spools refuse an alert that is already waiting: a detection's alert for the same audit event
is queued once however often the log is replayed, across restarts of a directory spool, and again
once delivered."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from tests.unit.sinks.alert_samples import finding_alert

from audit_samples import audit_event
from kposture.detections import Detector
from kposture.model.incidents import DetectionAlert, sink_alert
from kposture.sinks.spools import DirectorySpool, MemorySpool, spool_identity

RECEIVED = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def _exec_alerts(audit_id: str) -> list[DetectionAlert]:
    event = audit_event(verb="create", resource="pods", subresource="exec", code=101)
    event = replace(event, audit_id=audit_id)
    return [sink_alert(alert, RECEIVED) for alert in Detector().process(event)]


def _spool(tmp_path: Path, kind: str) -> MemorySpool | DirectorySpool:
    return MemorySpool() if kind == "memory" else DirectorySpool(tmp_path / "spool")


def test_the_identity_is_the_detections_audit_event_and_message() -> None:
    (first,) = _exec_alerts("a-1")
    (again,) = _exec_alerts("a-1")
    (other,) = _exec_alerts("a-2")
    assert spool_identity(first) == spool_identity(again) != spool_identity(other)
    (no_id,) = _exec_alerts("")
    assert spool_identity(no_id) == "" and spool_identity(finding_alert()) == ""


@pytest.mark.parametrize("kind", ["memory", "directory"])
def test_an_alert_already_waiting_is_not_queued_again(tmp_path: Path, kind: str) -> None:
    spool = _spool(tmp_path, kind)
    (alert,) = _exec_alerts("a-1")
    (other,) = _exec_alerts("a-2")
    identity = spool_identity(alert)
    assert spool.append(b"first", identity) == 0
    assert spool.append(b"first again", identity) == 0
    spool.append(b"other", spool_identity(other))
    spool.append(b"anonymous")
    spool.append(b"anonymous")
    assert len(spool) == 4 and spool.duplicates == 1
    entry = spool.peek()
    assert entry is not None and entry.body == b"first"
    spool.remove(entry.key)
    spool.append(b"delivered, then replayed", identity)
    assert len(spool) == 4
    spool.close()


def test_a_directory_spool_remembers_the_identities_across_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    (legacy := directory).mkdir()
    (legacy / f"{7:020d}.alert").write_bytes(b"from an older version")
    spool = DirectorySpool(directory)
    (alert,) = _exec_alerts("a-1")
    spool.append(b"first", spool_identity(alert))
    spool.close()
    reopened = DirectorySpool(directory)
    assert reopened.append(b"replayed", spool_identity(alert)) == 0
    assert len(reopened) == 2 and reopened.duplicates == 1
    entry = reopened.peek()
    assert entry is not None and entry.body == b"from an older version"
    reopened.remove(entry.key)
    entry = reopened.peek()
    assert entry is not None and entry.body == b"first"
    reopened.remove(entry.key)
    assert list(directory.glob("*.alert")) == []
    reopened.close()
