"""``last_manager``: the most recent managedFields entry for the object itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kposture.inventory.managers import last_change, last_manager, managed_changes
from kposture.model import K8sObject, ResourceRef


def obj(*entries: dict[str, Any]) -> K8sObject:
    raw = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "managedFields": list(entries)},
    }
    return K8sObject(ResourceRef("apps/v1", "Deployment", "shop", "web"), raw)


def entry(
    manager: str, time: str | None, operation: str = "Update", subresource: str = ""
) -> dict[str, Any]:
    out: dict[str, Any] = {"manager": manager, "operation": operation, "apiVersion": "apps/v1"}
    if time is not None:
        out["time"] = time
    if subresource:
        out["subresource"] = subresource
    return out


def test_most_recent_entry_wins_whatever_the_order() -> None:
    deployed = obj(
        entry("kubectl-edit", "2026-11-20T09:00:00Z"),
        entry("kubectl-client-side-apply", "2026-11-20T08:00:00Z"),
    )
    assert last_manager(deployed) == "kubectl-edit"
    change = last_change(deployed)
    assert change is not None
    assert change.operation == "Update"
    assert change.time == dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)


def test_status_updates_by_controllers_do_not_count_when_the_object_has_its_own() -> None:
    deployed = obj(
        entry("helm", "2026-11-20T08:00:00Z", "Apply"),
        entry("kube-controller-manager", "2026-11-20T09:00:00Z", subresource="status"),
    )
    assert last_manager(deployed) == "helm"
    only_status = obj(
        entry("kube-controller-manager", "2026-11-20T09:00:00Z", subresource="status")
    )
    assert last_manager(only_status) == "kube-controller-manager"


def test_ties_go_to_the_later_entry_and_missing_times_sort_first() -> None:
    assert (
        last_manager(obj(entry("a", "2026-11-20T08:00:00Z"), entry("b", "2026-11-20T08:00:00Z")))
        == "b"
    )
    assert last_manager(obj(entry("a", "2026-11-20T08:00:00Z"), entry("b", None))) == "a"
    assert last_manager(obj(entry("a", "not a time"), entry("b", None))) == "b"


def test_objects_without_managers() -> None:
    assert last_manager(obj()) == ""
    assert last_change(obj()) is None
    assert last_manager({"metadata": {"managedFields": [{"operation": "Update"}, "junk"]}}) == ""
    assert last_manager({"metadata": "junk"}) == ""
    assert managed_changes({}) == []


def test_plain_mappings_work_too() -> None:
    raw = {
        "metadata": {
            "managedFields": [entry("argocd-controller", "2026-11-20T08:00:00+01:00", "Apply")]
        }
    }
    assert last_manager(raw) == "argocd-controller"
