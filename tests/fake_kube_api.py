"""An in-memory Kubernetes API server behind the cluster source's ``Transport`` interface.

Serves discovery (``/api/v1``, ``/apis``, ``/apis/<group>/<version>``) and list paths with
``limit``/``continue`` pages, and can be told to fail: a status per resource plural, a 410 Gone on
the first continue token of a plural, or a lost connection after some requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kposture.sources.cluster_config import Connection, Response, TransportError
from kposture.sources.cluster_kinds import CATALOGUE

_SERVED = {
    "v1": [
        "pods",
        "replicationcontrollers",
        "services",
        "serviceaccounts",
        "secrets",
        "configmaps",
        "namespaces",
        "nodes",
        "pods/log",
    ],
    "apps/v1": ["deployments", "replicasets", "statefulsets", "daemonsets"],
    "batch/v1": ["jobs"],
    "batch/v1beta1": ["cronjobs"],
    "networking.k8s.io/v1": ["ingresses", "networkpolicies"],
    "rbac.authorization.k8s.io/v1": [
        "roles",
        "rolebindings",
        "clusterroles",
        "clusterrolebindings",
    ],
    "admissionregistration.k8s.io/v1": [
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
    ],
    "apiextensions.k8s.io/v1": ["customresourcedefinitions"],
}
_PLURAL = {spec.kind: spec.plural for spec in CATALOGUE}


@dataclass
class FakeApi:
    """Objects per plural (each a full object with apiVersion/kind, as a user would write it)."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    served: dict[str, list[str]] = field(default_factory=lambda: dict(_SERVED))
    statuses: dict[str, int] = field(default_factory=dict)
    gone_once: set[str] = field(default_factory=set)
    fail_after: int | None = None
    requests: list[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=list)

    def add(self, *objects: Mapping[str, Any]) -> FakeApi:
        for obj in objects:
            self.objects.setdefault(_PLURAL[obj["kind"]], []).append(json.loads(json.dumps(obj)))
        return self

    def connection(self, context: str = "fake") -> Connection:
        return Connection(self, context, "https://fake.example:6443")

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Response:
        self.requests.append((path, tuple(query)))
        if self.fail_after is not None and len(self.requests) > self.fail_after:
            raise TransportError("connection refused")
        if path == "/api/v1":
            return _json(200, {"resources": [{"name": n} for n in self.served["v1"]]})
        if path == "/apis":
            groups = [{"versions": [{"groupVersion": gv}]} for gv in self.served if gv != "v1"]
            return _json(200, {"groups": groups})
        if path.startswith("/apis/") and path.count("/") == 3:
            names = self.served.get(path[len("/apis/") :], [])
            return _json(200, {"resources": [{"name": n} for n in names]})
        return self._list(path, dict(query))

    def _list(self, path: str, query: dict[str, str]) -> Response:
        parts = path.strip("/").split("/")
        plural = parts[-1]
        namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts[:-1] else None
        if plural in self.statuses:
            status = self.statuses[plural]
            return _json(status, {"kind": "Status", "message": f"{plural} failed: {status}"})
        token = query.get("continue", "")
        if token and plural in self.gone_once:
            self.gone_once.discard(plural)
            return _json(
                410, {"kind": "Status", "message": "The provided continue parameter is too old"}
            )
        items = [
            o
            for o in self.objects.get(plural, [])
            if namespace is None or o["metadata"].get("namespace") == namespace
        ]
        start = int(token or 0)
        limit = int(query.get("limit", "500"))
        page = items[start : start + limit]
        # Like the API server, list items carry no apiVersion/kind.
        stripped = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in page]
        more = start + limit < len(items)
        meta = {"continue": str(start + limit)} if more else {}
        return _json(200, {"kind": "List", "metadata": meta, "items": stripped})


def _json(status: int, data: object) -> Response:
    return Response(status, json.dumps(data).encode())
