"""The deny-all NetworkPolicy that isolates a pod (``kposture respond isolate``), rendered from plain
values: the policy, the quarantine label it selects by default, the ``kubectl`` commands that go
with it, and the YAML with the operator's notes as comments (``kubectl apply`` ignores them). Pure.

By default the policy selects a dedicated label, ``kposture.io/quarantine: <pod>``, that the
operator puts on the one pod first: replicas share their pod's labels, so a policy selecting those
would isolate every replica. Adding a label detaches the pod from nothing (its ReplicaSet and
Services select by the labels it already has), so it keeps running for forensics and stays a
Service endpoint; only removing or changing a label their selectors use does that.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

ISOLATE_PREFIX = "kposture-isolate-"
QUARANTINE_LABEL = "kposture.io/quarantine"
_MAX_NAME = 253
_MAX_LABEL_VALUE = 63
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def quarantine_value(pod: str) -> str:
    """The quarantine label's value for ``pod``: its name, or for a name a label value cannot hold
    (over 63 characters) its start and a digest of the whole name."""
    if len(pod) <= _MAX_LABEL_VALUE and _LABEL_VALUE.match(pod):
        return pod
    digest = hashlib.sha256(pod.encode()).hexdigest()[:10]
    head = re.sub(r"[^-A-Za-z0-9_.]", "-", pod)[: _MAX_LABEL_VALUE - 11].strip("-_.")
    return f"{head}-{digest}" if head else digest


def quarantine_selector(pod: str) -> dict[str, str]:
    return {QUARANTINE_LABEL: quarantine_value(pod)}


def label_command(pod: str, namespace: str) -> str:
    """The ``kubectl label`` that puts the quarantine label on the pod (``--overwrite``: a pod
    quarantined before gets this value)."""
    label = f"{QUARANTINE_LABEL}={quarantine_value(pod)}"
    return f"kubectl label pod {shlex.quote(pod)} -n {shlex.quote(namespace)} {label} --overwrite"


def isolation_policy(
    pod: str, namespace: str, selector: Mapping[str, str], reason: str = ""
) -> dict[str, Any]:
    """A NetworkPolicy selecting ``selector`` (the quarantine label, or the pod's own labels) in
    ``namespace``, with both directions denied."""
    if not selector:
        raise ValueError(
            "a pod without labels cannot be selected by its own labels: isolate it by the "
            f"quarantine label instead (kposture respond isolate {pod} -n {namespace})"
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
            "podSelector": {"matchLabels": dict(sorted(selector.items()))},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [],
        },
    }


def exclusion_patch(name: str, namespace: str, pod_selector: object) -> str:
    """The ``kubectl patch`` that makes an existing NetworkPolicy stop selecting quarantined pods: its
    pod selector gains ``kposture.io/quarantine DoesNotExist`` (its other terms kept)."""
    excluded = {"key": QUARANTINE_LABEL, "operator": "DoesNotExist"}
    selector = pod_selector if isinstance(pod_selector, Mapping) else None
    expressions = selector.get("matchExpressions") if selector is not None else None
    operation: dict[str, Any]
    if selector is None:
        operation = {
            "op": "add",
            "path": "/spec/podSelector",
            "value": {"matchExpressions": [excluded]},
        }
    else:
        kept: list[Any] = list(expressions) if isinstance(expressions, list) else []
        operation = {
            "op": "add",
            "path": "/spec/podSelector/matchExpressions",
            "value": [*kept, excluded],
        }
    patch = shlex.quote(json.dumps([operation], separators=(",", ":")))
    where = f"{shlex.quote(name)} -n {shlex.quote(namespace)}"
    return f"kubectl patch networkpolicy {where} --type=json -p {patch}"


def render_isolation_policy(policy: Mapping[str, Any], notes: Sequence[str] = ()) -> str:
    """The policy as YAML, after ``notes`` as ``#`` comment lines."""
    comments = "".join(f"# {line}".rstrip() + "\n" for note in notes for line in note.splitlines())
    return comments + yaml.safe_dump(dict(policy), sort_keys=False)
