"""The deny-all NetworkPolicy that isolates a pod (``kposture respond isolate``), rendered from plain
values: the policy, the quarantine label it selects by default, the ``kubectl`` commands that go
with it, and the YAML with the operator's notes as comments (``kubectl apply`` ignores them). Pure.

By default the policy selects a dedicated label, ``kposture.io/quarantine: <pod>``, that the
operator puts on the one pod first: replicas share their pod's labels, so a policy selecting those
would isolate every replica. Adding a label detaches the pod from nothing (its controller and
Services select by the labels it already has), so it keeps running for forensics and stays a
Service endpoint; only removing or changing a label their selectors use does that.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from kposture.model.quarantine import QUARANTINE_LABEL, quarantine_value

ISOLATE_PREFIX = "kposture-isolate-"
_MAX_NAME = 253


def quarantine_selector(pod: str) -> dict[str, str]:
    return {QUARANTINE_LABEL: quarantine_value(pod)}


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


def detaching_note(controller: str | None) -> str:
    """What the quarantine label leaves alone, and what taking the pod out of its Services does
    given its ``controller`` (the kind in ``ownerReferences``; empty for a bare pod, None when the
    pod was not read): a ReplicaSet, DaemonSet or Job starts another pod, a StatefulSet only once
    this one is gone (the replacement takes its name), a bare pod is replaced by nothing."""
    kept = (
        "The label detaches the pod from nothing: it keeps running, is not replaced and stays a "
        "Service endpoint (requests sent to it fail). "
    )
    if controller is None:
        return kept + (
            "To take it out of its Service (and have its controller, if it has one, start a "
            "replacement), also change a label both select."
        )
    if controller == "":
        return kept + (
            "It is a bare pod, which nothing replaces: to take it out of its Service, also "
            "change a label the Service selects."
        )
    if controller == "StatefulSet":
        return kept + (
            "To take it out of its Service, also change a label the Service selects; a label "
            "the StatefulSet selects detaches the pod from it too, but the StatefulSet starts "
            "the replacement only once this pod is deleted (it takes the same name)."
        )
    started = {
        "ReplicaSet": "have its ReplicaSet start a replacement",
        "DaemonSet": "have its DaemonSet start a replacement on the same node",
        "Job": "have its Job start another pod that runs the task again",
    }.get(controller, f"have its controller ({controller}) start a replacement")
    return kept + f"To take it out of its Service and {started}, also change a label both select."


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


def render_notes(notes: Sequence[str]) -> str:
    """``notes`` as ``#`` comment lines (``kubectl apply`` ignores them)."""
    return "".join(f"# {line}".rstrip() + "\n" for note in notes for line in note.splitlines())


def render_isolation_policy(policy: Mapping[str, Any], notes: Sequence[str] = ()) -> str:
    """The policy as YAML, after ``notes`` as ``#`` comment lines."""
    return render_notes(notes) + yaml.safe_dump(dict(policy), sort_keys=False)
