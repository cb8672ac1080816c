"""Generates the benchmark corpus: 5,000 deterministic, realistic manifests of mixed kinds.

The same seed always gives byte-identical files, so figures from different runs and machines compare.
Roughly 60% workloads (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Pods) with a mix of secure
and insecure settings, the rest Services, ConfigMaps, ServiceAccounts and RBAC objects.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import yaml

KINDS = (
    ("Deployment", 30),
    ("StatefulSet", 6),
    ("DaemonSet", 5),
    ("Job", 5),
    ("CronJob", 5),
    ("Pod", 9),
    ("Service", 15),
    ("ConfigMap", 10),
    ("ServiceAccount", 5),
    ("Role", 5),
    ("RoleBinding", 5),
)
IMAGES = (
    "nginx:1.27",
    "redis:latest",
    "registry.example.com/team/api:3.1.4",
    "busybox",
    "quay.io/org/worker@sha256:" + "ab" * 32,
    "ghcr.io/org/tool:v2",
)


def _container(rng: random.Random, index: int) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": f"c{index}",
        "image": rng.choice(IMAGES),
        "ports": [{"containerPort": rng.choice((80, 8080, 9090))}],
        "env": [
            {"name": "LOG_LEVEL", "value": rng.choice(("info", "debug"))},
            {"name": "DB_HOST", "value": "db.svc.cluster.local"},
        ],
    }
    if rng.random() < 0.6:
        container["resources"] = {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        }
    roll = rng.random()
    if roll < 0.3:
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    elif roll < 0.45:
        container["securityContext"] = {
            "privileged": rng.random() < 0.5,
            "capabilities": {"add": [rng.choice(("NET_ADMIN", "SYS_ADMIN", "CHOWN"))]},
        }
    if rng.random() < 0.1:
        container["ports"][0]["hostPort"] = 8443
    return container


def _pod_spec(rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [_container(rng, i) for i in range(rng.choice((1, 1, 2)))]
    }
    if rng.random() < 0.2:
        spec["initContainers"] = [_container(rng, 9)]
    if rng.random() < 0.1:
        spec["hostNetwork"] = True
    if rng.random() < 0.05:
        spec["hostPID"] = True
    if rng.random() < 0.15:
        path = rng.choice(("/var/log", "/var/run/docker.sock", "/", "/data"))
        spec["volumes"] = [{"name": "host", "hostPath": {"path": path}}]
    if rng.random() < 0.3:
        spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000}
    return spec


def _template(rng: random.Random, app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": _pod_spec(rng)}


def make_object(kind: str, index: int, rng: random.Random) -> dict[str, Any]:
    name = f"{kind.lower()}-{index}"
    namespace = f"team-{index % 40}"
    meta = {"name": name, "namespace": namespace, "labels": {"app": name, "tier": "backend"}}
    selector = {"matchLabels": {"app": name}}
    if kind in {"Deployment", "StatefulSet", "DaemonSet"}:
        spec: dict[str, Any] = {"selector": selector, "template": _template(rng, name)}
        if kind != "DaemonSet":
            spec["replicas"] = rng.choice((1, 2, 3))
        if kind == "StatefulSet":
            spec["serviceName"] = name
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}
    if kind == "Job":
        template = _template(rng, name)
        template["spec"]["restartPolicy"] = "Never"
        return {
            "apiVersion": "batch/v1",
            "kind": kind,
            "metadata": meta,
            "spec": {"template": template},
        }
    if kind == "CronJob":
        template = _template(rng, name)
        template["spec"]["restartPolicy"] = "OnFailure"
        return {
            "apiVersion": "batch/v1",
            "kind": kind,
            "metadata": meta,
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}},
        }
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": _pod_spec(rng)}
    if kind == "Service":
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": meta,
            "spec": {
                "type": rng.choice(("ClusterIP", "ClusterIP", "NodePort", "LoadBalancer")),
                "selector": {"app": name},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        }
    if kind == "ConfigMap":
        data = {f"key{i}": f"value-{rng.randrange(10**6)}" for i in range(rng.randrange(2, 8))}
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": data}
    if kind == "ServiceAccount":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta}
    if kind == "Role":
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": [rng.choice(("pods", "secrets", "configmaps", "*"))],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        }
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta,
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": f"role-{index}",
        },
    }


def generate(destination: Path, count: int = 5000, seed: int = 20261126) -> list[Path]:
    """Write ``count`` manifests, one object per file, into ``destination``; return the files."""
    rng = random.Random(seed)
    destination.mkdir(parents=True, exist_ok=True)
    kinds = [kind for kind, weight in KINDS for _ in range(weight)]
    files = []
    for index in range(count):
        kind = rng.choice(kinds)
        path = destination / f"{index:05d}-{kind.lower()}.yaml"
        path.write_text(yaml.safe_dump(make_object(kind, index, rng), sort_keys=False))
        files.append(path)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("destination", type=Path)
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    files = generate(args.destination, args.count)
    print(f"wrote {len(files)} manifests to {args.destination}")


if __name__ == "__main__":
    main()
