"""Who changed what: a transition is attributed to the manager whose managedFields entry the batch
changed (the one that changes the object itself before one that only writes metadata or status),
and a dependent's re-evaluation to the manager of the object that changed, via that object. The
managedFields here are what kube-apiserver 1.20 wrote for ``kubectl apply``, the controller
manager's status update (with the revision annotation; no ``subresource`` before 1.22) and
``kubectl patch`` of the template, as the watch keeps them (top-level fields, no field sets)."""

from __future__ import annotations

import copy
from typing import Any

from kposture.model import K8sObject, SourceLocation
from kposture.sources.cluster_watch import FIELDS, summarise_managed_fields
from kposture.sources.objects import resource_ref
from kposture.watcher.attribution import Attribution, author
from kposture.watcher.dependents import affected
from kposture.watcher.state import ClusterState

APPLIED = {"manager": "kubectl-client-side-apply", "operation": "Update", "time": "T1"}
STATUS = {"manager": "kube-controller-manager", "operation": "Update", "time": "T1"}
PATCHED = {"manager": "kubectl-patch", "operation": "Update", "time": "T2"}


def _entry(base: dict[str, str], time: str, *tops: str) -> dict[str, Any]:
    return {**base, "time": f"2026-11-27T04:07:{time}Z", FIELDS: ",".join(tops)}


def _deployment(privileged: bool, *entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "uid-web",
            "labels": {"app": "web"},
            "managedFields": list(entries),
        },
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "app", "securityContext": {"privileged": privileged}}]
                },
            },
        },
    }


def _state() -> ClusterState:
    return ClusterState(SourceLocation("cluster:test", 0, 0, "cluster"), resource_ref)


def _put(state: ClusterState, raw: dict[str, Any]) -> K8sObject:
    new = state.upsert(raw).new
    assert new is not None
    return new


def test_the_watch_keeps_the_top_level_fields_of_each_entry() -> None:
    entries: list[dict[str, Any]] = [
        {
            "manager": "kube-controller-manager",
            "fieldsV1": {"f:metadata": {"f:annotations": {}}, "f:status": {"f:x": {}}},
        },
        {"manager": "kubectl-patch", "fieldsV1": {"f:spec": {}}},
        {"manager": "no-fields"},
    ]
    summarise_managed_fields({"metadata": {"managedFields": entries}})
    assert [entry.get(FIELDS) for entry in entries] == ["metadata,status", "spec", None]


def test_a_template_patch_is_the_patch_even_with_the_controllers_status_in_the_same_batch() -> None:
    state = _state()
    applied = _deployment(
        True, _entry(APPLIED, "33", "metadata", "spec"), _entry(STATUS, "33", "metadata", "status")
    )
    state.upsert(applied)
    before = state.objects[("Deployment", "shop", "web")]
    # The controller's entry moves to a later second than the patch: by time alone it would win.
    patched = _deployment(
        False,
        _entry(APPLIED, "33", "metadata", "spec"),
        _entry(STATUS, "38", "metadata", "status"),
        _entry(PATCHED, "37", "spec"),
    )
    after = _put(state, patched)
    assert author(before, after) == "kubectl-patch"
    # The controller's update alone is the controller's.
    status_only = copy.deepcopy(patched)
    status_only["metadata"]["managedFields"][1]["time"] = "2026-11-27T04:07:59Z"
    assert author(after, _put(state, status_only)) == "kube-controller-manager"


def test_status_subresource_entries_come_last_and_new_objects_take_the_best_entry() -> None:
    status = {**STATUS, "subresource": "status", "time": "2026-11-27T05:00:00Z"}
    created = _deployment(True, _entry(APPLIED, "33", "metadata", "spec"), status)
    state = _state()
    assert author(None, _put(state, created)) == "kubectl-client-side-apply"
    labelled = _deployment(
        True,
        _entry(APPLIED, "33", "metadata", "spec"),
        _entry({"manager": "kubectl-label", "operation": "Update"}, "50", "metadata"),
    )
    assert author(None, _put(state, labelled)) == "kubectl-client-side-apply"
    before = state.objects[("Deployment", "shop", "web")]
    relabelled = copy.deepcopy(labelled)
    relabelled["metadata"]["managedFields"][1]["time"] = "2026-11-27T04:08:10Z"
    assert author(before, _put(state, relabelled)) == "kubectl-label"


def test_a_network_policy_is_who_resolved_the_workloads_findings() -> None:
    state = _state()
    state.upsert(_deployment(False, _entry(APPLIED, "10", "metadata", "spec")))
    state.upsert({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    old = state.inventory()
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "deny-all",
            "namespace": "shop",
            "managedFields": [_entry(APPLIED, "40", "metadata", "spec")],
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    deltas = [state.upsert(policy)]
    new = state.inventory()
    found = affected(deltas, old, new, state.children, state.in_namespace, None)
    authors = Attribution(new, deltas, found.causes)
    web = new.get("Deployment", "shop", "web")
    namespace = new.get("Namespace", "", "shop")
    assert web is not None and namespace is not None
    assert authors(web.ref) == "kubectl-client-side-apply via NetworkPolicy/shop/deny-all"
    assert authors(namespace.ref) == "kubectl-client-side-apply via NetworkPolicy/shop/deny-all"
    created = new.get("NetworkPolicy", "shop", "deny-all")
    assert created is not None
    assert authors(created.ref) == "kubectl-client-side-apply"
    # Deleted again: the workloads' findings reopen because of a deletion, which names nobody.
    old = new
    removed = state.delete(policy)
    assert removed is not None
    deltas = [removed]
    new = state.inventory()
    found = affected(deltas, old, new, state.children, state.in_namespace, None)
    authors = Attribution(new, deltas, found.causes)
    assert authors(web.ref) == "deletion of NetworkPolicy/shop/deny-all"
    gone = old.get("NetworkPolicy", "shop", "deny-all")
    assert gone is not None
    assert authors(gone.ref) == ""  # a deletion's own findings: nobody to name


def test_an_objects_own_change_wins_over_a_dependency_in_the_same_batch() -> None:
    state = _state()
    state.upsert(_deployment(True, _entry(APPLIED, "10", "metadata", "spec")))
    old = state.inventory()
    before = state.objects[("Deployment", "shop", "web")]
    deltas = [
        state.upsert(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {
                    "name": "np",
                    "namespace": "shop",
                    "managedFields": [_entry(APPLIED, "20", "spec")],
                },
                "spec": {"podSelector": {}},
            }
        ),
        state.upsert(
            _deployment(
                False, _entry(APPLIED, "10", "metadata", "spec"), _entry(PATCHED, "21", "spec")
            )
        ),
    ]
    new = state.inventory()
    found = affected(deltas, old, new, state.children, state.in_namespace, None)
    assert ("Deployment", "shop", "web") not in found.causes
    assert Attribution(new, deltas, found.causes)(before.ref) == "kubectl-patch"


ANNOTATED = {"manager": "kubectl-annotate", "operation": "Update"}


def test_a_change_that_moves_no_entry_is_the_most_recent_managers_not_an_older_apply() -> None:
    # `kubectl annotate deploy web kposture.io/ignore-` removes the annotation without moving
    # the kubectl-annotate entry's time: the 8-minute-old apply did not make that change.
    state = _state()
    annotated = _deployment(
        True,
        _entry(APPLIED, "03", "metadata", "spec"),
        _entry(STATUS, "05", "metadata", "status"),
        {**_entry(ANNOTATED, "00", "metadata"), "time": "2026-11-27T04:15:00Z"},
    )
    before = _put(state, annotated)
    unannotated = copy.deepcopy(annotated)
    unannotated["metadata"]["labels"]["tier"] = "front"
    assert author(before, _put(state, unannotated)) == "kubectl-annotate"


def test_a_change_that_moves_no_entry_skips_a_newer_status_only_entry() -> None:
    state = _state()
    status = {**STATUS, "subresource": "status", "time": "2026-11-27T05:00:00Z"}
    created = _deployment(True, _entry(APPLIED, "33", "metadata", "spec"), status)
    before = _put(state, created)
    assert author(before, _put(state, copy.deepcopy(created))) == "kubectl-client-side-apply"
    only_status = _deployment(True, status)
    before = _put(state, only_status)
    assert author(before, _put(state, copy.deepcopy(only_status))) == "kube-controller-manager"
    nameless = _deployment(True)
    before = _put(state, nameless)
    assert author(before, _put(state, copy.deepcopy(nameless))) == ""
