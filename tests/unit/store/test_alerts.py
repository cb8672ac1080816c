"""The ``alerts`` table: the watcher's alerts are kept with their cluster and the transition each
announced; a detection's with its event; on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from finding_samples import at, finding, ref
from kposture.model import Severity
from kposture.model.lifecycle import Alert, Change, finding_alert
from kposture.store.alerts import recent_alerts, write_alerts
from kposture.store.connecting import Store
from kposture.store.findings import Scope, reconcile
from kposture.store.schema import alerts, clusters, finding_transitions, findings

WEB = ref("Deployment", "shop", "web")
API = ref("Deployment", "shop", "api")


def test_finding_alerts_name_their_cluster_and_transition(store: Store) -> None:
    web, api = finding(resource=WEB), finding(resource=API)
    opened = reconcile(store, "dev", [web, api], Scope.cluster(), at(0))
    resolved = reconcile(store, "dev", [api], Scope.cluster(), at(1))
    # The same finding in another cluster, at the same time: not the dev alert's transition.
    reconcile(store, "prod", [web], Scope.cluster(), at(1))
    assert [t.change for t in resolved] == [Change.RESOLVED]
    batch = [finding_alert(t, "dev") for t in (*opened, *resolved)]
    assert write_alerts(store, batch, cluster="dev") == 3
    with store.engine.connect() as connection:
        dev = connection.execute(select(clusters.c.id).where(clusters.c.name == "dev")).scalar()
        expected = {
            (row.fingerprint, row.at): row.id
            for row in connection.execute(
                select(findings.c.fingerprint, finding_transitions.c.at, finding_transitions.c.id)
                .join(findings, findings.c.id == finding_transitions.c.finding_id)
                .where(findings.c.cluster_id == dev)
            )
        }
        rows = connection.execute(select(alerts).order_by(alerts.c.id)).mappings().all()
    assert [row["cluster_id"] for row in rows] == [dev] * 3
    assert [row["transition_id"] for row in rows] == [
        expected[(alert.transition.fingerprint, alert.transition.at)] for alert in batch
    ]
    stored = recent_alerts(store)
    assert [(a.rule_id, a.dedup_key.split(":")[1]) for a in stored] == [
        ("privileged-container", "resolved"),
        ("privileged-container", "open"),
        ("privileged-container", "open"),
    ]
    assert stored[0].transition_id == rows[2]["transition_id"]


def test_a_detection_alert_keeps_its_event_and_no_transition(store: Store) -> None:
    detection = Alert(
        source="detection",
        rule_id="secret-read",
        severity=Severity.MEDIUM,
        message="mallory read Secret shop/db",
        at=at(0),
        resource=ref("Secret", "shop", "db"),
        dedup_key="k",
        event={"user": "mallory", "verb": "get"},
    )
    assert write_alerts(store, [detection]) == 1
    (stored,) = recent_alerts(store)
    assert stored.event == {"user": "mallory", "verb": "get"}
    assert stored.transition_id is None


def test_a_detection_alert_is_stored_with_the_cluster_it_names(store: Store) -> None:
    def detection(cluster: str) -> Alert:
        return Alert(
            source="detection",
            rule_id="pod-exec",
            severity=Severity.HIGH,
            message="mallory opened an exec session",
            at=at(0),
            resource=None,
            dedup_key=f"k-{cluster}",
            cluster=cluster,
        )

    assert write_alerts(store, [detection("review"), detection("review"), detection("")]) == 3
    with store.engine.connect() as connection:
        known = connection.execute(select(clusters.c.id, clusters.c.name)).all()
        stored = connection.execute(select(alerts.c.cluster_id).order_by(alerts.c.id)).scalars()
        assert [name for _, name in known] == ["review"]
        assert list(stored) == [known[0].id, known[0].id, None]
