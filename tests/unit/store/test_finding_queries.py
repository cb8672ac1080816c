"""``open_findings``, ``history`` and ``clusters`` on SQLite and PostgreSQL: filters, order and
what each row carries."""

from __future__ import annotations

import pytest

from finding_samples import at, finding, ref
from kposture.model import Severity
from kposture.model.lifecycle import Change, FindingStatus
from kposture.store.connecting import Store
from kposture.store.finding_queries import (
    FindingQuery,
    HistoryQuery,
    clusters,
    history,
    history_total,
    open_findings,
    stored_kinds,
    stored_rule_ids,
)
from kposture.store.findings import Scope, reconcile

WEB = ref("Deployment", "shop", "web")
DB = ref("StatefulSet", "data", "db")
OPS = ref("ClusterRoleBinding", "", "ops")
PRIV = finding("privileged-container", WEB)
HOSTPATH = finding(
    "host-path-volume", WEB, path="spec.template.spec.volumes[0]", severity=Severity.HIGH
)
ROOT = finding(
    "run-as-root", DB, path="spec.template.spec.securityContext", severity=Severity.MEDIUM
)
ADMIN = finding("rbac-cluster-admin-binding", OPS, path="roleRef", severity=Severity.HIGH)
LATEST = finding(
    "image-latest-tag", DB, path="spec.template.spec.containers[0].image", severity=Severity.LOW
)
COVERED = finding("rbac_wildcard", WEB, path="x", severity=Severity.LOW, suppressed="approved")


@pytest.fixture
def seeded(store: Store) -> Store:
    managers = {WEB: "kubectl-client-side-apply", DB: "helm", OPS: "argocd-controller"}
    everything = Scope.cluster()
    reconcile(
        store,
        "dev",
        [PRIV, HOSTPATH, ROOT, ADMIN, LATEST, COVERED],
        everything,
        at(0),
        changed_by_of=managers.get,
    )
    reconcile(
        store,
        "dev",
        [PRIV, ROOT, ADMIN, LATEST, COVERED],
        everything,
        at(10),
        changed_by_of=lambda r: "kubectl-edit",
    )
    reconcile(store, "prod", [PRIV], everything, at(20), server="https://prod:6443")
    return store


def names(found: list) -> list[tuple[str, str, str]]:
    return [(f.cluster, f.rule_id, f.resource.name) for f in found]


def test_open_findings_most_severe_first(seeded: Store) -> None:
    assert names(open_findings(seeded)) == [
        ("dev", "privileged-container", "web"),
        ("prod", "privileged-container", "web"),
        ("dev", "rbac-cluster-admin-binding", "ops"),
        ("dev", "run-as-root", "db"),
        ("dev", "image-latest-tag", "db"),
    ]
    first = open_findings(seeded)[0]
    assert first.status is FindingStatus.OPEN and first.severity is Severity.CRITICAL
    assert (first.first_seen, first.last_seen, first.changed_by) == (
        at(0),
        at(10),
        "kubectl-client-side-apply",
    )
    assert first.path == "spec.template.spec.containers[0].securityContext.privileged"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (FindingQuery(cluster="prod"), [("prod", "privileged-container", "web")]),
        (
            FindingQuery(cluster="dev", min_severity=Severity.HIGH),
            [("dev", "privileged-container", "web"), ("dev", "rbac-cluster-admin-binding", "ops")],
        ),
        (
            FindingQuery(namespace="data"),
            [("dev", "run-as-root", "db"), ("dev", "image-latest-tag", "db")],
        ),
        (FindingQuery(namespace=""), [("dev", "rbac-cluster-admin-binding", "ops")]),
        (FindingQuery(rule="rbac-*"), [("dev", "rbac-cluster-admin-binding", "ops")]),
        (FindingQuery(rule="r?n-as-[a-z]oot"), [("dev", "run-as-root", "db")]),
        (FindingQuery(rule="RUN-AS-*"), []),  # case-sensitive on both databases
        (FindingQuery(rule="rbac_*", include_suppressed=True), [("dev", "rbac_wildcard", "web")]),
        (
            FindingQuery(rule="rbac?wildcard", include_suppressed=True),
            [("dev", "rbac_wildcard", "web")],
        ),
        (FindingQuery(rule="rbac%"), []),  # LIKE wildcards are literal characters in a glob
        (
            FindingQuery(
                rule_ids=frozenset({"run-as-root", "image-latest-tag"}),
                min_severity=Severity.MEDIUM,
            ),
            [("dev", "run-as-root", "db")],
        ),
        (FindingQuery(rule_ids=frozenset()), []),
        (
            FindingQuery(kind="statefulset"),
            [("dev", "run-as-root", "db"), ("dev", "image-latest-tag", "db")],
        ),
        (FindingQuery(cluster="nowhere"), []),
        (FindingQuery(limit=1), [("dev", "privileged-container", "web")]),
    ],
)
def test_open_findings_filters(seeded: Store, query: FindingQuery, expected: list) -> None:
    assert names(open_findings(seeded, query)) == expected


def test_suppressed_are_listed_only_when_asked(seeded: Store) -> None:
    assert "rbac_wildcard" not in {f.rule_id for f in open_findings(seeded)}
    [covered] = [
        f
        for f in open_findings(seeded, FindingQuery(include_suppressed=True))
        if f.rule_id == "rbac_wildcard"
    ]
    assert (
        covered.status is FindingStatus.SUPPRESSED
        and covered.suppressed_by == "annotation: approved"
    )


def test_history_newest_first_with_who_and_why(seeded: Store) -> None:
    entries = history(seeded, HistoryQuery(cluster="dev"))
    assert [(e.at, e.change, e.rule_id) for e in entries][:1] == [
        (at(10), Change.RESOLVED, "host-path-volume")
    ]
    resolved = entries[0]
    assert (resolved.changed_by, resolved.reason, resolved.source) == (
        "kubectl-edit",
        "fixed",
        "cluster",
    )
    assert resolved.resource == WEB and resolved.severity is Severity.HIGH
    assert resolved.path == "spec.template.spec.volumes[0]"
    opened = [e for e in entries if e.at == at(0)]
    assert len(opened) == 6
    assert {e.change for e in opened} == {Change.OPENED, Change.SUPPRESSED}
    assert {e.changed_by for e in opened if e.resource == DB} == {"helm"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            HistoryQuery(since=at(5)),
            [("prod", "opened", "privileged-container"), ("dev", "resolved", "host-path-volume")],
        ),
        (
            HistoryQuery(kind="deployment", namespace="shop", name="web", cluster="dev"),
            [
                ("dev", "resolved", "host-path-volume"),
                ("dev", "opened", "privileged-container"),
                ("dev", "opened", "host-path-volume"),
                ("dev", "suppressed", "rbac_wildcard"),
            ],
        ),
        (
            HistoryQuery(kind="ClusterRoleBinding", name="ops"),
            [("dev", "opened", "rbac-cluster-admin-binding")],
        ),
        (
            HistoryQuery(rule="host-*"),
            [("dev", "resolved", "host-path-volume"), ("dev", "opened", "host-path-volume")],
        ),
        (
            HistoryQuery(rule="privileged-container", cluster="prod"),
            [("prod", "opened", "privileged-container")],
        ),
        (HistoryQuery(fingerprint=ROOT.fingerprint), [("dev", "opened", "run-as-root")]),
        (HistoryQuery(rule="h[o]st-*", limit=1), [("dev", "resolved", "host-path-volume")]),
        (
            HistoryQuery(limit=2),
            [("prod", "opened", "privileged-container"), ("dev", "resolved", "host-path-volume")],
        ),
    ],
)
def test_history_filters(seeded: Store, query: HistoryQuery, expected: list) -> None:
    found = [(e.cluster, e.change.value, e.rule_id) for e in history(seeded, query)]
    if query.kind == "deployment":  # same time: the order among them is the insert order, reversed
        assert sorted(found) == sorted(expected)
    else:
        assert found == expected


def test_clusters(seeded: Store) -> None:
    dev, prod = clusters(seeded)
    assert (dev.name, dev.server, dev.open_findings, dev.last_scan_at) == ("dev", "", 4, at(10))
    assert (prod.name, prod.server, prod.open_findings, prod.last_scan_at) == (
        "prod",
        "https://prod:6443",
        1,
        at(20),
    )
    assert dev.created_at == at(0)


def test_empty_store(store: Store) -> None:
    assert open_findings(store) == [] and history(store) == [] and clusters(store) == []


SHOP = ref("Namespace", "", "shop")
OPEN_SHOP = finding(
    "namespace-without-network-policy", SHOP, path="metadata.name", severity=Severity.MEDIUM
)


def test_a_namespace_filter_includes_the_namespace_object(store: Store) -> None:
    other = finding("namespace-without-network-policy", ref("Namespace", "", "data"), path="m")
    reconcile(store, "dev", [PRIV, ROOT, ADMIN, OPEN_SHOP, other], Scope.cluster(), at(0))
    assert names(open_findings(store, FindingQuery(namespace="shop"))) == [
        ("dev", "privileged-container", "web"),
        ("dev", "namespace-without-network-policy", "shop"),
    ]
    assert [e.resource for e in history(store, HistoryQuery(namespace="shop"))] == [SHOP, WEB]
    cluster_scoped = open_findings(store, FindingQuery(namespace=""))
    assert {f.resource.name for f in cluster_scoped} == {"ops", "shop", "data"}


def test_history_total_counts_past_the_limit(seeded: Store) -> None:
    assert len(history(seeded, HistoryQuery(limit=2))) == 2
    assert history_total(seeded, HistoryQuery(limit=2)) == len(history(seeded, HistoryQuery()))
    assert history_total(seeded, HistoryQuery(cluster="dev", rule="h[o]st-*", limit=1)) == 2
    assert history_total(seeded, HistoryQuery(rule="host-*")) == 2
    assert history_total(seeded, HistoryQuery(since=at(5), namespace="shop")) == 2


def test_stored_kinds_and_rules(seeded: Store) -> None:
    assert stored_kinds(seeded) == ["ClusterRoleBinding", "Deployment", "StatefulSet"]
    assert "rbac_wildcard" in stored_rule_ids(seeded)
    assert stored_rule_ids(seeded) == sorted(stored_rule_ids(seeded))
