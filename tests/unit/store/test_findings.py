"""``reconcile`` on SQLite and PostgreSQL: every transition kind, idempotency, scoped and full
reconciles, deleted objects, suppression, scan rows, atomicity and concurrent writers."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select

from finding_samples import at, finding, ref
from kposture.model import ResourceRef, Severity
from kposture.model.lifecycle import Change, FindingStatus
from kposture.store.connecting import Store, StoreError, resolve_url
from kposture.store.finding_queries import FindingQuery, HistoryQuery, history, open_findings
from kposture.store.findings import (
    Scope,
    has_findings,
    reconcile,
    start_scan,
    suppression_text,
)
from kposture.store.schema import finding_transitions, findings, scans

WEB = ref("Deployment", "shop", "web")
API = ref("Deployment", "shop", "api")
DB = ref("StatefulSet", "data", "db")
PRIV = finding("privileged-container", WEB)
HOSTPATH = finding(
    "host-path-volume", WEB, path="spec.template.spec.volumes[0]", severity=Severity.HIGH
)
API_PRIV = finding("privileged-container", API)
DB_ROOT = finding(
    "run-as-root", DB, path="spec.template.spec.securityContext", severity=Severity.MEDIUM
)
EVERYTHING = Scope.cluster()


def changes(transitions: list) -> list[tuple[str, str, str]]:
    return sorted((t.change.value, t.rule_id, t.resource.name) for t in transitions)


def count(store: Store, table) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def statuses(store: Store) -> dict[str, str]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(findings.c.fingerprint, findings.c.status)).all()
    return {row.fingerprint: row.status for row in rows}


def test_lifecycle_opened_resolved_reopened_with_history(store: Store) -> None:
    first = reconcile(
        store,
        "dev",
        [PRIV, HOSTPATH],
        EVERYTHING,
        at(0),
        changed_by_of=lambda r: "kubectl-client-side-apply",
    )
    assert changes(first) == [
        ("opened", "host-path-volume", "web"),
        ("opened", "privileged-container", "web"),
    ]
    assert all(t.changed_by == "kubectl-client-side-apply" and t.at == at(0) for t in first)
    opened = next(t for t in first if t.rule_id == "privileged-container")
    assert opened.fingerprint == PRIV.fingerprint and opened.severity is Severity.CRITICAL
    assert opened.path == "spec.template.spec.containers[0].securityContext.privileged"
    assert opened.status is FindingStatus.OPEN

    fixed = reconcile(
        store, "dev", [HOSTPATH], EVERYTHING, at(1), changed_by_of=lambda r: "kubectl-edit"
    )
    assert [(t.change, t.reason, t.changed_by) for t in fixed] == [
        (Change.RESOLVED, "fixed", "kubectl-edit")
    ]

    again = reconcile(
        store, "dev", [PRIV, HOSTPATH], EVERYTHING, at(2), changed_by_of=lambda r: "helm"
    )
    assert [(t.change, t.rule_id, t.changed_by) for t in again] == [
        (Change.REOPENED, "privileged-container", "helm")
    ]

    timeline = history(store, HistoryQuery(rule="privileged-container"))
    assert [(e.change, e.at, e.changed_by, e.reason) for e in timeline] == [
        (Change.REOPENED, at(2), "helm", ""),
        (Change.RESOLVED, at(1), "kubectl-edit", "fixed"),
        (Change.OPENED, at(0), "kubectl-client-side-apply", ""),
    ]
    assert [(e.from_status, e.to_status) for e in timeline] == [
        (FindingStatus.RESOLVED, FindingStatus.OPEN),
        (FindingStatus.OPEN, FindingStatus.RESOLVED),
        (None, FindingStatus.OPEN),
    ]
    assert {e.source for e in timeline} == {"cluster"}
    [row] = open_findings(store, FindingQuery(rule="privileged-container"))
    assert (row.first_seen, row.last_seen, row.resolved_at) == (at(0), at(2), None)
    assert row.changed_by == "helm"


def test_reconciling_the_same_state_twice_writes_no_transition(store: Store) -> None:
    reconcile(store, "dev", [PRIV, HOSTPATH, DB_ROOT], EVERYTHING, at(0))
    reconcile(store, "dev", [PRIV], EVERYTHING, at(1))
    before = count(store, finding_transitions)
    assert reconcile(store, "dev", [PRIV], EVERYTHING, at(2)) == []
    assert reconcile(store, "dev", [PRIV], Scope.of([WEB, DB]), at(3)) == []
    assert count(store, finding_transitions) == before
    [row] = open_findings(store)
    assert row.last_seen == at(3) and row.first_seen == at(0)
    # A resolved finding stays resolved, with its time, when it is still absent.
    assert {e.change for e in history(store, HistoryQuery(since=at(1)))} == {Change.RESOLVED}
    assert count(store, scans) == 4


def test_scoped_reconcile_only_touches_its_objects(store: Store) -> None:
    reconcile(store, "dev", [PRIV, API_PRIV, DB_ROOT], EVERYTHING, at(0))
    # web was re-evaluated and is clean; api and db were not looked at.
    done = reconcile(store, "dev", [], Scope.of([WEB]), at(1))
    assert changes(done) == [("resolved", "privileged-container", "web")]
    assert {f.resource.name for f in open_findings(store)} == {"api", "db"}
    # A finding handed over puts its object in scope even when the scope does not name it.
    done = reconcile(store, "dev", [HOSTPATH], Scope.of([]), at(2))
    assert changes(done) == [("opened", "host-path-volume", "web")]


def test_scoped_reconcile_tells_objects_of_the_same_name_apart(store: Store) -> None:
    """The scoped read goes by kind and name; the namespace and the kind must still match."""
    twins = [
        finding("privileged-container", ref("Deployment", namespace, "web"))
        for namespace in ("shop", "pay", "")
    ]
    other_kind = finding("privileged-container", ref("StatefulSet", "shop", "web"))
    reconcile(store, "dev", [*twins, other_kind], EVERYTHING, at(0))
    done = reconcile(store, "dev", [], Scope.of([WEB]), at(1))
    assert [(t.change.value, t.resource.namespace) for t in done] == [("resolved", "shop")]
    assert sorted((f.resource.kind, f.resource.namespace) for f in open_findings(store)) == [
        ("Deployment", ""),
        ("Deployment", "pay"),
        ("StatefulSet", "shop"),
    ]


def test_scoped_reconcile_reads_through_the_object_index(store: Store) -> None:
    """A watcher's reconcile of a few objects must not scan every finding of the cluster (SQLite
    does for a (kind, namespace, name) IN list); the plan of each read of its objects' findings
    searches the (cluster, kind, name) index."""
    if store.dialect != "sqlite":
        pytest.skip("the query plan is checked on SQLite; PostgreSQL plans by table statistics")
    reconcile(store, "dev", many(300), EVERYTHING, at(0))
    reads: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        where = statement.partition("WHERE")[2]
        if statement.lstrip().startswith("SELECT") and "findings.kind" in where:
            reads.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", keep)
    try:
        reconcile(store, "dev", [], Scope.of([ref("Deployment", "bulk", "app-7"), WEB]), at(1))
    finally:
        event.remove(store.engine, "before_cursor_execute", keep)
    assert reads
    with store.engine.connect() as connection:
        for statement, parameters in reads:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = " ".join(str(row[-1]) for row in plan)
            assert "USING INDEX ix_findings_cluster_id_kind_name" in details, details


def test_deleted_objects_resolve_as_deleted(store: Store) -> None:
    reconcile(store, "dev", [PRIV, HOSTPATH, DB_ROOT], EVERYTHING, at(0))
    gone = reconcile(
        store, "dev", [], Scope.of([], deleted=[WEB]), at(1), changed_by_of=lambda r: ""
    )
    assert sorted((t.change, t.reason, t.rule_id) for t in gone) == [
        (Change.RESOLVED, "deleted", "host-path-volume"),
        (Change.RESOLVED, "deleted", "privileged-container"),
    ]
    with store.engine.connect() as connection:
        resolved_at = connection.execute(
            select(findings.c.resolved_at).where(findings.c.fingerprint == PRIV.fingerprint)
        ).scalar_one()
    assert resolved_at == at(1)
    # A full scan that lists what exists tells deleted from fixed on its own.
    reconcile(store, "dev", [PRIV, API_PRIV], EVERYTHING, at(2))
    done = reconcile(store, "dev", [], Scope.cluster(present=[WEB, DB]), at(3))
    assert sorted((t.resource.name, t.reason) for t in done) == [
        ("api", "deleted"),
        ("web", "fixed"),
    ]


def test_object_read_at_another_version_is_the_same_object(store: Store) -> None:
    old = finding(
        "privileged-container", ResourceRef("extensions/v1beta1", "Deployment", "shop", "web")
    )
    reconcile(store, "dev", [PRIV], EVERYTHING, at(0))
    # Same group? No: extensions is another group, so it is another object and PRIV stays.
    assert changes(reconcile(store, "dev", [], Scope.of([old.resource]), at(1))) == []
    moved = replace(PRIV, resource=ResourceRef("apps/v1beta2", "Deployment", "shop", "web"))
    assert reconcile(store, "dev", [moved], Scope.of([moved.resource]), at(2)) == []
    [row] = open_findings(store)
    assert row.resource.api_version == "apps/v1beta2"


def test_suppression_and_its_end(store: Store) -> None:
    reconcile(store, "dev", [PRIV], EVERYTHING, at(0))
    covered = finding("privileged-container", WEB, suppressed="node agent, approved by sec")
    [t] = reconcile(store, "dev", [covered], EVERYTHING, at(1), changed_by_of=lambda r: "argocd")
    assert (t.change, t.reason, t.changed_by) == (
        Change.SUPPRESSED,
        "annotation: node agent, approved by sec",
        "argocd",
    )
    assert t.status is FindingStatus.SUPPRESSED
    assert reconcile(store, "dev", [covered], EVERYTHING, at(2)) == []
    assert open_findings(store) == []
    [shown] = open_findings(store, FindingQuery(include_suppressed=True))
    assert shown.status is FindingStatus.SUPPRESSED
    assert shown.suppressed_by == "annotation: node agent, approved by sec"
    [t] = reconcile(store, "dev", [PRIV], EVERYTHING, at(3))
    assert t.change is Change.UNSUPPRESSED and t.status is FindingStatus.OPEN
    # A suppressed finding that goes away resolves; found again still suppressed, it is suppressed.
    reconcile(store, "dev", [covered], EVERYTHING, at(4))
    [t] = reconcile(store, "dev", [], EVERYTHING, at(5))
    assert (t.change, t.reason) == (Change.RESOLVED, "fixed")
    [t] = reconcile(store, "dev", [covered], EVERYTHING, at(6))
    assert t.change is Change.SUPPRESSED
    changes_seen = [e.change for e in history(store)]
    assert changes_seen == [
        Change.SUPPRESSED,
        Change.RESOLVED,
        Change.SUPPRESSED,
        Change.UNSUPPRESSED,
        Change.SUPPRESSED,
        Change.OPENED,
    ]


def test_new_finding_already_suppressed(store: Store) -> None:
    covered = finding("privileged-container", WEB, suppressed="approved")
    [t] = reconcile(store, "dev", [covered], EVERYTHING, at(0))
    assert (t.change, t.reason) == (Change.SUPPRESSED, "annotation: approved")
    [entry] = history(store)
    assert entry.from_status is None and entry.change is Change.SUPPRESSED


def test_suppression_text() -> None:
    from kposture.model.findings import Suppression

    assert suppression_text(None) == ""
    assert (
        suppression_text(Suppression("policy", "legacy", "2026-12-31"))
        == "policy: legacy (until 2026-12-31)"
    )
    assert suppression_text(Suppression("annotation", "")) == "annotation"


def test_a_changed_message_or_severity_updates_without_a_transition(store: Store) -> None:
    reconcile(store, "dev", [PRIV], EVERYTHING, at(0))
    louder = replace(PRIV, severity=Severity.HIGH, message="container 'app' runs privileged (v2)")
    assert reconcile(store, "dev", [louder], EVERYTHING, at(1)) == []
    [row] = open_findings(store)
    assert (row.severity, row.message, row.last_seen) == (Severity.HIGH, louder.message, at(1))


def test_scope_limits_what_can_resolve(store: Store) -> None:
    reconcile(
        store,
        "dev",
        [PRIV, DB_ROOT, finding("cluster-admin-binding", ref("ClusterRoleBinding", "", "ops"))],
        EVERYTHING,
        at(0),
    )
    # Kinds that could not be listed, rules that did not run, and other namespaces keep their state.
    assert (
        reconcile(
            store,
            "dev",
            [],
            Scope.cluster(skip_kinds=["Deployment", "StatefulSet", "ClusterRoleBinding"]),
            at(1),
        )
        == []
    )
    assert reconcile(store, "dev", [], Scope.cluster(rules=["other-rule"]), at(2)) == []
    done = reconcile(store, "dev", [], Scope.cluster(namespaces=["data"]), at(3))
    # Cluster-scoped objects are read by a namespaced scan too.
    assert changes(done) == [
        ("resolved", "cluster-admin-binding", "ops"),
        ("resolved", "run-as-root", "db"),
    ]
    assert [f.resource.name for f in open_findings(store)] == ["web"]


def test_clusters_are_separate(store: Store) -> None:
    reconcile(store, "dev", [PRIV], EVERYTHING, at(0))
    assert changes(reconcile(store, "prod", [PRIV], EVERYTHING, at(0))) == [
        ("opened", "privileged-container", "web")
    ]
    assert changes(reconcile(store, "prod", [], EVERYTHING, at(1))) == [
        ("resolved", "privileged-container", "web")
    ]
    [still] = open_findings(store)
    assert still.cluster == "dev"


def test_duplicate_fingerprints_count_once(store: Store) -> None:
    assert len(reconcile(store, "dev", [PRIV, PRIV], EVERYTHING, at(0))) == 1


def test_scan_rows_and_watch_sessions(store: Store) -> None:
    reconcile(
        store,
        "dev",
        [PRIV],
        EVERYTHING,
        at(0),
        source="cluster",
        objects=12,
        tool_version="1.2.3",
        server="https://dev:6443",
    )
    session = start_scan(store, "dev", "watch", at(1), tool_version="1.2.4")
    reconcile(store, "dev", [PRIV, API_PRIV], EVERYTHING, at(2), objects=30, scan_id=session)
    reconcile(store, "dev", [], Scope.of([WEB]), at(2), objects=31, scan_id=session)
    reconcile(store, "dev", [PRIV], Scope.of([WEB]), at(3), objects=31, scan_id=session)
    with store.engine.connect() as connection:
        rows = connection.execute(select(scans).order_by(scans.c.id)).mappings().all()
    # One row for the watch session, kept up to date: objects now, findings of the last full
    # reconcile (a batch's scope holds only some of them).
    assert [(r["source"], r["objects"], r["findings"], r["tool_version"]) for r in rows] == [
        ("cluster", 12, 1, "1.2.3"),
        ("watch", 31, 2, "1.2.4"),
    ]
    assert rows[1]["started_at"] == at(1) and rows[1]["finished_at"] == at(3)
    assert [e.source for e in history(store)] == ["watch", "watch", "watch", "cluster"]


def test_whether_a_cluster_was_ever_recorded(store: Store) -> None:
    assert not has_findings(store, "dev")
    start_scan(store, "dev", "watch", at(0))
    assert not has_findings(store, "dev")  # a session that recorded nothing yet
    reconcile(store, "dev", [PRIV], EVERYTHING, at(1))
    reconcile(store, "dev", [], EVERYTHING, at(2))
    assert has_findings(store, "dev")  # resolved ones count: the cluster has a history
    assert not has_findings(store, "prod")


def test_one_transaction_per_call(store: Store) -> None:
    def broken(_ref: ResourceRef) -> str:
        raise RuntimeError("manager lookup failed")

    with pytest.raises(RuntimeError):
        reconcile(store, "dev", [PRIV], EVERYTHING, at(0), changed_by_of=broken)
    assert count(store, findings) == count(store, scans) == count(store, finding_transitions) == 0


def test_in_the_callers_transaction(store: Store) -> None:
    with store.engine.connect() as connection:
        with connection.begin() as transaction:
            assert len(reconcile(connection, "dev", [PRIV], EVERYTHING, at(0))) == 1
            transaction.rollback()
        assert count(store, findings) == 0
        with connection.begin():
            reconcile(connection, "dev", [PRIV], EVERYTHING, at(0))
    assert count(store, findings) == 1


def test_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        reconcile(store, "dev", [PRIV], EVERYTHING, at(0).replace(tzinfo=None))


def test_database_errors_are_store_errors(store_url: str) -> None:
    # A database nobody migrated: the tables are missing.
    unmigrated = Store(create_engine(resolve_url(store_url)), "the-url")
    with unmigrated, pytest.raises(StoreError, match="cannot record findings in the-url"):
        reconcile(unmigrated, "dev", [PRIV], EVERYTHING, at(0))


def many(count_: int, namespace: str = "bulk") -> list:
    return [
        finding("privileged-container", ref("Deployment", namespace, f"app-{i}"))
        for i in range(count_)
    ]


def test_batches_beyond_one_chunk(store: Store) -> None:
    bulk = many(2500)
    assert len(reconcile(store, "dev", bulk, EVERYTHING, at(0))) == 2500
    assert reconcile(store, "dev", bulk, EVERYTHING, at(1)) == []
    # A scoped reconcile of 1,200 objects (more than one chunk), half of them clean now.
    refs = [f.resource for f in bulk[:1200]]
    done = reconcile(store, "dev", bulk[600:], Scope.of(refs), at(2))
    assert len(done) == 600 and {t.change for t in done} == {Change.RESOLVED}
    done = reconcile(store, "dev", bulk, EVERYTHING, at(3))
    assert len(done) == 600 and {t.change for t in done} == {Change.REOPENED}
    assert len(open_findings(store)) == 2500


def test_concurrent_writers_open_each_finding_once(store: Store) -> None:
    bulk = many(300)
    barrier = threading.Barrier(3)
    results: list[int] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            barrier.wait()
            results.append(len(reconcile(store, "dev", bulk, EVERYTHING, at(0))))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [0, 0, 300]
    assert count(store, finding_transitions) == 300
    assert set(statuses(store).values()) == {"open"}
