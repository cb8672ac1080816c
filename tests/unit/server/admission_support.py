"""Builders for AdmissionReview bodies and the objects the admission tests post."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx

from kposture.engine import Registry
from kposture.model import RunPolicy
from kposture.model.admission import AdmissionPolicy
from kposture.rules import builtin_rules
from kposture.server.deciding import Decider
from kposture.sources.policy_file import parse_policy

REGISTRY = Registry(builtin_rules())
SECRET_VALUE = "hunter2-very-secret-value"


def decider(admission: AdmissionPolicy | None = None, policy: RunPolicy | None = None) -> Decider:
    return Decider(REGISTRY, policy or RunPolicy(), admission or AdmissionPolicy())


def decider_from(text: str) -> Decider:
    parsed = parse_policy(text, "policy.yaml")
    return Decider(REGISTRY, parsed.policy, parsed.admission)


def pod(
    name: str = "web", namespace: str = "shop", *, privileged: bool = False, **labels: str
) -> dict[str, Any]:
    """A pod that passes the crawl rules unless ``privileged``."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "serviceAccountName": "web",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/web@sha256:" + "a" * 64,
                    "securityContext": {
                        "privileged": privileged,
                        "allowPrivilegeEscalation": privileged,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                }
            ],
        },
    }


def deployment(
    replicas: int = 1, *, privileged: bool = False, host_pid: bool = False
) -> dict[str, Any]:
    template = pod(privileged=privileged)
    spec = copy.deepcopy(template["spec"])
    if host_pid:
        spec["hostPID"] = True
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec},
        },
    }


def secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "type": "Opaque",
        "stringData": {"password": SECRET_VALUE},
        "data": {"token": "aHVudGVyMi12ZXJ5LXNlY3JldC12YWx1ZQ=="},
    }


def review(
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    api_version: str = "admission.k8s.io/v1",
    user: str = "alice",
    groups: tuple[str, ...] = ("devs", "system:authenticated"),
    sub_resource: str = "",
    dry_run: bool = False,
    uid: str = "0f6e5f4a-1",
) -> dict[str, Any]:
    source = obj or old or {}
    api = source.get("apiVersion", "v1")
    group, _, version = api.rpartition("/")
    namespace = source.get("metadata", {}).get("namespace", "")
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": source.get("kind", "Pod")},
        "resource": {"group": group, "version": version, "resource": "pods"},
        "operation": operation,
        "namespace": namespace,
        "name": source.get("metadata", {}).get("name", ""),
        "userInfo": {"username": user, "groups": list(groups)},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
    }
    if sub_resource:
        request["subResource"] = sub_resource
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": request}


def body(data: object) -> bytes:
    return json.dumps(data).encode()


class AsgiClient:
    """Posts to an ASGI app in-process through httpx's ASGI transport (no sockets, no threads)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str) -> httpx.Response:
        return self.request("GET", url)
