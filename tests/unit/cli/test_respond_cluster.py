"""``kposture respond isolate --cluster`` over an in-memory API server that records every request:
the command reads the pod, its namespace's NetworkPolicies and (for ``--pod-labels``) the pods
sharing its labels, and nothing else — never Secrets or ConfigMaps; what it may not read is a
warning naming the request."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from typer.testing import CliRunner

from kposture.cli import app
from kposture.sources.cluster_config import Connection, Response


def _pod(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    owner = {"kind": "ReplicaSet", "name": "web-5d4", "controller": True}
    meta = {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]}
    return {"metadata": meta, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}


ALLOW_WEB = {
    "metadata": {"name": "allow-web", "namespace": "shop"},
    "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]},
}
SECRET = {"metadata": {"name": "db", "namespace": "shop"}, "data": {"password": "aHVudGVyMg=="}}
CONFIG = {"metadata": {"name": "app", "namespace": "shop"}, "data": {"mode": "prod"}}


@dataclass
class RecordingApi:
    """Serves gets by name and lists (with label and field selectors) of a few objects per
    plural, answers ``statuses`` for some plurals, and records every request."""

    statuses: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=list)
    objects: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {
            "pods": [
                _pod("web-1", "shop", app="web"),
                _pod("web-2", "shop", app="web"),
                _pod("db-0", "shop", app="db"),
                _pod("web-1", "staging", app="web"),
            ],
            "networkpolicies": [ALLOW_WEB],
            "secrets": [SECRET],
            "configmaps": [CONFIG],
        }
    )

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Response:
        self.requests.append((path, tuple(query)))
        parts = path.strip("/").split("/")
        inside = parts[parts.index("namespaces") + 1] if "namespaces" in parts else None
        named = len(parts) >= 2 and parts[-2] in self.objects
        plural = parts[-2] if named else parts[-1]
        if plural in self.statuses:
            return _json(self.statuses[plural], {"kind": "Status", "message": "no"})
        items = [o for o in self.objects.get(plural, []) if _matches(o, inside, dict(query), path)]
        if named:
            match = [o for o in items if o["metadata"]["name"] == parts[-1]]
            return _json(200, match[0]) if match else _json(404, {"kind": "Status"})
        return _json(200, {"kind": "List", "metadata": {}, "items": items})


def _matches(obj: dict[str, Any], namespace: str | None, query: dict[str, str], path: str) -> bool:
    meta = obj["metadata"]
    if namespace is not None and meta["namespace"] != namespace:
        return False
    labels = dict(pair.split("=") for pair in query.get("labelSelector", "").split(",") if pair)
    if any(meta.get("labels", {}).get(k) != v for k, v in labels.items()):
        return False
    field_selector = query.get("fieldSelector", "")
    return not field_selector or field_selector == f"metadata.name={meta['name']}"


def _json(status: int, data: object) -> Response:
    return Response(status, json.dumps(data).encode())


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> RecordingApi:
    served = RecordingApi()
    connection = Connection(served, "dev", "https://fake.example:6443")
    monkeypatch.setattr("kposture.sources.cluster_pod.connect", lambda *_, **__: connection)
    return served


def _isolate(*args: str) -> Any:
    return CliRunner().invoke(app, ["respond", "isolate", *args, "--cluster"])


POLICIES = ("/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies", (("limit", "500"),))


def test_it_gets_the_pod_and_lists_the_namespaces_policies_and_nothing_else(
    api: RecordingApi,
) -> None:
    done = _isolate("web-1", "-n", "shop")
    assert done.exit_code == 0, done.output
    assert api.requests == [("/api/v1/namespaces/shop/pods/web-1", ()), POLICIES]
    assert "1 other policy in shop also selects web-1" in done.stderr
    assert "allow-web (ingress)" in done.stderr
    assert "have its ReplicaSet start a replacement" in done.stderr
    assert "warning: cluster" not in done.stderr
    assert "aHVudGVyMg" not in done.output


def test_pod_labels_list_only_the_pods_carrying_them(api: RecordingApi) -> None:
    done = _isolate("web-1", "-n", "shop", "--pod-labels")
    assert done.exit_code == 0, done.output
    peers = ("/api/v1/namespaces/shop/pods", (("labelSelector", "app=web"), ("limit", "500")))
    assert api.requests == [("/api/v1/namespaces/shop/pods/web-1", ()), POLICIES, peers]
    assert "also isolates 1 other pod with the same labels: web-2;" in done.stderr


def test_without_a_namespace_it_lists_only_the_pods_of_that_name(api: RecordingApi) -> None:
    api.objects["pods"].pop()  # web-1 in staging: the name is unique again
    done = _isolate("web-1")
    assert done.exit_code == 0, done.output
    by_name = ("/api/v1/pods", (("fieldSelector", "metadata.name=web-1"), ("limit", "500")))
    assert api.requests == [by_name, POLICIES]
    assert "namespace shop: where the input has pod web-1 (no -n given)" in done.stderr


def test_a_pod_name_in_two_namespaces_reads_no_policies(api: RecordingApi) -> None:
    done = _isolate("web-1")
    assert done.exit_code == 2
    assert "several namespaces (shop, staging)" in done.stderr
    assert [path for path, _ in api.requests] == ["/api/v1/pods"]


def test_what_it_may_not_read_is_a_warning_naming_the_request(api: RecordingApi) -> None:
    api.statuses["networkpolicies"] = 403
    done = _isolate("web-1", "-n", "shop")
    assert done.exit_code == 0, done.output
    assert "warning: cluster:dev: cannot list networkpolicies: forbidden" in done.stderr
    api.statuses["pods"] = 403
    forbidden = _isolate("web-1", "-n", "shop")
    assert forbidden.exit_code == 2
    assert "warning: cluster:dev: cannot get pods shop/web-1: forbidden" in forbidden.stderr
    assert "pod web-1 not found in namespace shop" in forbidden.stderr


def test_a_forbidden_list_of_every_namespace_asks_for_the_namespace(api: RecordingApi) -> None:
    api.statuses["pods"] = 403
    done = _isolate("web-1")
    assert done.exit_code == 2
    said = " ".join(done.stderr.split())
    assert "pod web-1 could not be looked for in every namespace (cannot list pods: forbidden)" in (
        said
    )
    assert "give -n NAMESPACE" in said and "not found" not in said
