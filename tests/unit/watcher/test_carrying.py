"""Views carried from one inventory to the next: the very same view when a batch cannot change
it, equal to one built afresh; built again (not carried) when the batch shows in what it reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kposture.inventory.components import control_plane
from kposture.inventory.tools import gitops_namespaces
from kposture.model import SourceLocation
from kposture.sources.objects import resource_ref
from kposture.watcher.carrying import CONTROL_PLANE, GITOPS_NAMESPACES, carry_views
from kposture.watcher.state import ClusterState, Delta

ALL = {GITOPS_NAMESPACES, CONTROL_PLANE}


def _deployment(namespace: str, name: str, *, apiserver: bool = False) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [{"name": "app", "image": "nginx:1.25"}]
    if apiserver:
        containers.append(
            {
                "name": "kube-apiserver",
                "image": "registry.k8s.io/kube-apiserver:v1.20.2",
                "command": ["kube-apiserver", "--anonymous-auth=true"],
            }
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"},
        "spec": {"template": {"spec": {"containers": containers}}},
    }


def _object(kind: str, namespace: str, name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
    }


@pytest.fixture
def state() -> ClusterState:
    state = ClusterState(SourceLocation("cluster:test", 0, 0, "cluster"), resource_ref)
    state.upsert(_deployment("shop", "web"))
    state.upsert(_deployment("system", "apiserver", apiserver=True))
    state.upsert(_object("ConfigMap", "gitops", "app", **{"kustomize.toolkit.fluxcd.io/name": "x"}))
    state.set_facts({"apiVersion": "kposture.io/v1", "kind": "ClusterFacts", "metadata": {}})
    return state


def _after(state: ClusterState, change: dict[str, Any]) -> tuple[set[str], ClusterState]:
    old = state.inventory()
    views = (gitops_namespaces(old), control_plane(old))
    delta = state.upsert(change)
    new = state.inventory()
    carried = set(carry_views(old, new, [delta]))
    fresh = state.inventory()
    # Whatever was carried is the old view itself and equals one built from the new objects.
    for key, view, build in zip(
        (GITOPS_NAMESPACES, CONTROL_PLANE),
        views,
        (gitops_namespaces, control_plane),
        strict=True,
    ):
        if key in carried:
            assert build(new) is view
            assert build(fresh) == view
    return carried, state


def test_an_application_change_carries_what_it_cannot_change(state: ClusterState) -> None:
    changed = _deployment("shop", "web")
    changed["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    carried, _ = _after(state, changed)
    assert carried == ALL


def test_an_untracked_object_coming_changes_nothing_carried(state: ClusterState) -> None:
    carried, _ = _after(state, _object("Service", "shop", "web"))
    assert carried == ALL


def test_tracking_metadata_rebuilds_gitops_namespaces(state: ClusterState) -> None:
    tracked = _object("Service", "shop", "web", **{"helm.toolkit.fluxcd.io/name": "web"})
    carried, _ = _after(state, tracked)
    assert carried == {CONTROL_PLANE}


def test_control_plane_containers_and_configuration_rebuild_the_control_plane(
    state: ClusterState,
) -> None:
    carried, _ = _after(state, _deployment("shop", "web", apiserver=True))
    assert CONTROL_PLANE not in carried
    carried, _ = _after(state, _deployment("system", "apiserver"))  # it stops running one
    assert CONTROL_PLANE not in carried
    carried, _ = _after(state, _object("ConfigMap", "shop", "settings"))
    assert carried == {GITOPS_NAMESPACES}


def test_a_new_cluster_facts_object_rebuilds_the_control_plane(state: ClusterState) -> None:
    old = state.inventory()
    control_plane(old)
    delta = state.set_facts(
        {"apiVersion": "kposture.io/v1", "kind": "ClusterFacts", "metadata": {}}
    )
    assert delta is not None
    assert CONTROL_PLANE not in carry_views(old, state.inventory(), [delta])


def test_views_not_built_are_not_carried(state: ClusterState) -> None:
    old = state.inventory()
    delta = Delta(
        ("Service", "shop", "x"), None, state.wrap(copy.deepcopy(_object("Service", "shop", "x")))
    )
    assert carry_views(old, state.inventory(), [delta]) == []
