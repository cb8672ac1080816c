"""Decisions made by the webhook app reach a real SQLite store through the store's DecisionWriter:
every field the issue asks for (uid, user, object, rules, mode, outcome, latency), and the
writer's counts on /metrics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.unit.server.admission_support import (
    AsgiClient,
    body,
    decider_from,
    deployment,
    pod,
    review,
)

from kposture.model.admission import AdmissionMode, Outcome
from kposture.server.app import create_app
from kposture.server.metrics import Metrics
from kposture.store.connecting import open_store
from kposture.store.decision_writing import DecisionWriter
from kposture.store.decisions import DecisionQuery, recent_decisions

JSON = {"content-type": "application/json"}
POLICY = """\
admission:
  mode: warn
  rules:
    privileged-container: enforce
  namespaces:
    - namespaces: [staging]
      mode: dry-run
  exemptions:
    - namespaces: [legacy]
      reason: legacy apps migrate in Q3
"""


def test_decisions_reach_the_sqlite_store(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'kposture.db'}")
    writer = DecisionWriter(store, interval=0.01)
    metrics = Metrics()
    metrics.track_writer(writer)
    client = AsgiClient(create_app(decider_from(POLICY), record=writer.record, metrics=metrics))
    posts = [
        review(pod(privileged=True), uid="uid-denied", user="alice"),
        review(pod("api", namespace="staging", privileged=True), uid="uid-dry", user="bob"),
        review(pod("old", namespace="legacy", privileged=True), uid="uid-exempt"),
        review(deployment(host_pid=True), uid="uid-warned", groups=("devs",)),
        review(pod("clean"), uid="uid-allowed"),
    ]
    answers = [
        client.post("/validate", content=body(data), headers=JSON).json()["response"]
        for data in posts
    ]
    assert [a["allowed"] for a in answers] == [False, True, True, True, True]
    writer.close(timeout=10)
    assert (writer.written, writer.dropped, writer.failed) == (5, 0, 0)
    assert 'kposture_admission_decision_log{state="written"} 5.0' in metrics.render().decode()

    with store:
        stored = {d.uid: d for d in recent_decisions(store, DecisionQuery(limit=10))}
    assert set(stored) == {"uid-denied", "uid-dry", "uid-exempt", "uid-warned", "uid-allowed"}
    assert {uid: d.outcome for uid, d in stored.items()} == {
        "uid-denied": Outcome.DENIED,
        "uid-dry": Outcome.DRY_RUN,
        "uid-exempt": Outcome.EXEMPT,
        "uid-warned": Outcome.WARNED,
        "uid-allowed": Outcome.ALLOWED,
    }

    denied = stored["uid-denied"]
    assert denied.user == "alice"
    assert denied.groups == ("devs", "system:authenticated")
    assert denied.operation == "CREATE"
    assert (denied.resource.kind, denied.resource.namespace, denied.resource.name) == (
        "Pod",
        "shop",
        "web",
    )
    assert denied.latency_ms > 0
    assert denied.time.tzinfo is not None
    assert abs(denied.time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    modes = {v.rule_id: v.mode for v in denied.verdicts}
    assert modes["privileged-container"] is AdmissionMode.ENFORCE
    assert modes["privilege-escalation-allowed"] is AdmissionMode.WARN

    dry = stored["uid-dry"]
    assert dry.user == "bob"
    assert {v.mode for v in dry.verdicts} == {AdmissionMode.DRY_RUN}
    assert "privileged-container" in {v.rule_id for v in dry.verdicts}

    assert stored["uid-exempt"].reason.startswith("legacy apps migrate in Q3")
    assert stored["uid-exempt"].verdicts == ()

    warned = stored["uid-warned"]
    assert warned.resource.kind == "Deployment"
    assert [(v.rule_id, v.mode) for v in warned.verdicts] == [("host-pid", AdmissionMode.WARN)]
    assert stored["uid-allowed"].verdicts == ()


def test_noop_and_malformed_reviews_record_nothing(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'kposture.db'}")
    writer = DecisionWriter(store, interval=0.01)
    client = AsgiClient(create_app(decider_from(POLICY), record=writer.record))
    client.post("/noop", content=body(review(pod(privileged=True))), headers=JSON)
    client.post("/validate", content=b"{", headers=JSON)
    writer.close(timeout=10)
    with store:
        assert recent_decisions(store) == []
    assert writer.written == 0
