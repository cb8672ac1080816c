"""The deny-all NetworkPolicy that isolates a pod (``kposture respond isolate``): pure rendering of a
pod's labels into a policy that selects it and allows no ingress and no egress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

ISOLATE_PREFIX = "kposture-isolate-"
_MAX_NAME = 253


def isolation_policy(
    pod: str, namespace: str, labels: Mapping[str, str], reason: str = ""
) -> dict[str, Any]:
    """A NetworkPolicy selecting ``labels`` in ``namespace`` with both directions denied."""
    if not labels:
        raise ValueError(
            "a pod without labels cannot be selected by a NetworkPolicy: label it first "
            f"(kubectl label pod {pod} -n {namespace} kposture.io/quarantine=true) and isolate "
            "that label"
        )
    annotations = {"kposture.io/isolated-pod": pod}
    if reason:
        annotations["kposture.io/reason"] = reason
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": (ISOLATE_PREFIX + pod)[:_MAX_NAME].rstrip("-."),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "kposture"},
            "annotations": annotations,
        },
        "spec": {
            "podSelector": {"matchLabels": dict(sorted(labels.items()))},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [],
        },
    }


def render_isolation_policy(policy: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(policy), sort_keys=False)
