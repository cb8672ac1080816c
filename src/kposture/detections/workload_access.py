"""Detections of access into running pods and nodes: exec and attach sessions, files copied with
``kubectl cp`` (an exec of ``tar``), port-forward tunnels, ephemeral (``kubectl debug``) containers
and the node proxy to the kubelet API.

Requests by Kubernetes' own identities (components, nodes, kube-system's ServiceAccounts) are not
judged; a workload's ServiceAccount is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kposture.detections._containment import isolate_step, revoke_step
from kposture.detections._events import (
    by_kubernetes,
    mapping,
    mitre,
    raw_by_outsider,
    scoped,
    who,
)
from kposture.detections.base import Detection, Interest
from kposture.detections.settings import DetectionSettings
from kposture.model import Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

_SESSION_VERBS = frozenset({"create", "get"})
_SESSIONS = frozenset({"exec", "attach", "portforward"})
"""kubectl opens exec, attach and port-forward with a POST (create); a WebSocket client with a
GET."""


def _query(uri: str) -> Mapping[str, list[str]]:
    return parse_qs(urlsplit(uri).query)


def _command(event: AuditEvent) -> list[str]:
    """The exec's command line, one ``command`` query parameter per argument."""
    return _query(event.request_uri).get("command", [])


def tar_direction(command: Sequence[str]) -> str | None:
    """For a ``tar`` command line (how ``kubectl cp`` copies): ``into`` the pod when it extracts
    (``tar -xmf - -C /dir``), ``out of`` the pod when it creates an archive (``tar cf - /path``),
    ``in or out of`` when neither flag is found; None for any other command."""
    if not command or command[0].rsplit("/", 1)[-1] != "tar":
        return None
    for index, argument in enumerate(command[1:]):
        if argument.startswith("--") or not (argument.startswith("-") or index == 0):
            continue
        letters = argument.lstrip("-")
        if "x" in letters:
            return "into"
        if "c" in letters:
            return "out of"
    return "in or out of"


def _outcome(event: AuditEvent) -> str:
    """How the request ended, for a message: empty when it went through."""
    if event.allowed:
        return ""
    if event.forbidden:
        return "denied"
    return f"answered {event.response_code}" if event.response_code else "not completed"


def _judged_session(event: AuditEvent, settings: DetectionSettings, subresources: str) -> bool:
    ref = event.ref
    return (
        ref.resource == "pods"
        and ref.subresource in subresources.split()
        and event.verb in _SESSION_VERBS
        and not by_kubernetes(event, settings.protected_namespaces)
    )


def _pod_exec(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    if not _judged_session(event, settings, "exec attach"):
        return
    ref = event.ref
    action = ref.subresource
    command = _command(event) if action == "exec" else []
    if tar_direction(command) is not None:
        return  # kubectl-cp reports it
    pod = scoped(ref.namespace, ref.name)
    evidence: list[tuple[str, str]] = [("pod", pod), ("action", action)]
    detail = ""
    if command:
        evidence.append(("command", " ".join(command)))
        detail = f" running {' '.join(command)!r}"
    container = _query(event.request_uri).get("container")
    if container:
        evidence.append(("container", container[0]))
    session = f"an {action} session"
    outcome = _outcome(event)
    revoke = revoke_step(event, "create on pods/exec and pods/attach")
    if outcome:
        evidence.append(("outcome", outcome))
        yield Hit(
            f"{who(event)} tried to open {session} into pod {pod}{detail} ({outcome})",
            f"Nothing ran, but find out why {event.user.username or 'the requester'} tried: "
            "probing for exec rights is how a stolen credential is tested. " + revoke,
            None,
            tuple(evidence),
        )
        return
    yield Hit(
        f"{who(event)} opened {session} into pod {pod}{detail}",
        isolate_step(ref.namespace, ref.name) + " " + revoke,
        None,
        tuple(evidence),
    )


def _subresource(raw: Mapping[str, Any]) -> object:
    ref = raw.get("objectRef")
    return ref.get("subresource") if isinstance(ref, dict) else None  # json gives dicts


def _session_gate(raw: Mapping[str, Any], settings: DetectionSettings) -> bool:
    """One gate for exec, attach, kubectl cp and port-forward, so it runs once per event."""
    return _subresource(raw) in _SESSIONS and raw_by_outsider(raw, settings.protected_namespaces)


def _ephemeral_gate(raw: Mapping[str, Any], settings: DetectionSettings) -> bool:
    return _subresource(raw) == "ephemeralcontainers" and raw_by_outsider(
        raw, settings.protected_namespaces
    )


def _node_proxy_gate(raw: Mapping[str, Any], settings: DetectionSettings) -> bool:
    return _subresource(raw) == "proxy" and raw_by_outsider(raw, settings.protected_namespaces)


POD_EXEC = Detection(
    DetectionMeta(
        id="pod-exec",
        title="Exec or attach into a pod",
        severity=Severity.HIGH,
        technique=mitre("T1609", "Container Administration Command"),
        tactic="execution",
        description=(
            "Someone opened an exec or attach session into a running pod, or tried to (denied "
            "attempts alert too: they test what a credential may do). Sessions run with the pod's "
            "identity and network access and leave no trace in the pod spec; the command line is "
            "in the request URI. An exec of tar is kubectl-cp's."
        ),
        response=(
            "Confirm the session with its owner; if unexpected, isolate the pod, keep it for "
            "forensics and revoke the requester's pods/exec access."
        ),
    ),
    _pod_exec,
    interest=Interest(_SESSION_VERBS, frozenset({"pods"})),
    gate=_session_gate,
)


def _kubectl_cp(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    if not _judged_session(event, settings, "exec"):
        return
    command = _command(event)
    direction = tar_direction(command)
    if direction is None:
        return
    ref = event.ref
    pod = scoped(ref.namespace, ref.name)
    outcome = _outcome(event)
    what = f"copy files {direction} pod {pod} (kubectl cp: {' '.join(command)!r})"
    evidence = (("pod", pod), ("command", " ".join(command)), ("direction", direction))
    revoke = revoke_step(event, "create on pods/exec")
    if outcome:
        yield Hit(
            f"{who(event)} tried to {what} ({outcome})",
            "Nothing was copied; find out what the requester was after. " + revoke,
            None,
            (*evidence, ("outcome", outcome)),
        )
        return
    copied = (
        "Examine what was written into the pod (a tool or a changed binary) before deleting it."
        if direction == "into"
        else "Find what the path copied out holds (credentials, data) and rotate what it exposed."
    )
    yield Hit(
        f"{who(event)} used exec to {what}",
        f"{copied} {isolate_step(ref.namespace, ref.name)} {revoke}",
        None,
        evidence,
    )


KUBECTL_CP = Detection(
    DetectionMeta(
        id="kubectl-cp",
        title="Files copied into or out of a pod (kubectl cp)",
        severity=Severity.HIGH,
        technique=mitre("T1105", "Ingress Tool Transfer"),
        tactic="command-and-control",
        description=(
            "An exec whose command is tar: how kubectl cp copies files into a pod (tar -x, a tool "
            "brought in) or out of it (tar -c, data or credentials taken). The command line, from "
            "the exec request's query parameters, says which way; denied attempts alert too."
        ),
        response=(
            "Confirm the copy with its owner; if unexpected, isolate the pod, examine what was "
            "copied and revoke the requester's pods/exec access."
        ),
    ),
    _kubectl_cp,
    interest=Interest(_SESSION_VERBS, frozenset({"pods"})),
    gate=_session_gate,
)


def _port_forward(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    if not _judged_session(event, settings, "portforward") or not event.allowed:
        return
    ref = event.ref
    pod = scoped(ref.namespace, ref.name)
    ports = _query(event.request_uri).get("ports", [])
    shown = f" (ports {','.join(ports)})" if ports else ""
    yield Hit(
        f"{who(event)} opened a port-forward tunnel to pod {pod}{shown}",
        "A tunnel reaches the pod past every NetworkPolicy and ingress control. "
        + revoke_step(event, "create on pods/portforward"),
        None,
        (("pod", pod), ("ports", ",".join(ports))),
    )


POD_PORT_FORWARD = Detection(
    DetectionMeta(
        id="pod-portforward",
        title="Port-forward tunnel opened to a pod",
        severity=Severity.MEDIUM,
        technique=mitre("T1090", "Proxy"),
        tactic="command-and-control",
        description=(
            "Someone opened a port-forward tunnel to a pod: a direct connection from their machine "
            "to the pod's ports through the API server, around NetworkPolicies, ingress and load "
            "balancer controls."
        ),
        response="Confirm the tunnel with its owner; revoke pods/portforward where it is not needed.",
    ),
    _port_forward,
    interest=Interest(_SESSION_VERBS, frozenset({"pods"})),
    gate=_session_gate,
)


def _ephemeral(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if ref.resource != "pods" or ref.subresource != "ephemeralcontainers":
        return
    if event.verb not in ("update", "patch") or not event.allowed:
        return
    if by_kubernetes(event, settings.protected_namespaces):
        return
    names: list[str] = []
    body = event.object
    if body is not None:
        items = mapping(body.get("spec")).get("ephemeralContainers")
        if isinstance(items, list):
            names = [str(mapping(item).get("name", "")) for item in items if mapping(item)]
    evidence = (("pod", scoped(ref.namespace, ref.name)), ("containers", ",".join(names)))
    yield Hit(
        f"{who(event)} added an ephemeral debug container to pod "
        f"{scoped(ref.namespace, ref.name)} (kubectl debug)",
        isolate_step(ref.namespace, ref.name)
        + " Ephemeral containers cannot be removed: delete the pod once it is examined. "
        + revoke_step(event, "update on pods/ephemeralcontainers"),
        None,
        evidence,
    )


EPHEMERAL_CONTAINER = Detection(
    DetectionMeta(
        id="ephemeral-container-added",
        title="Ephemeral debug container added to a pod",
        severity=Severity.HIGH,
        technique=mitre("T1609", "Container Administration Command"),
        tactic="execution",
        description=(
            "An ephemeral container (kubectl debug) was added to a running pod: it shares the "
            "pod's namespaces, may target another container's process namespace and can run any "
            "image, bypassing the pod's own image and command."
        ),
        response=(
            "Confirm the debugging session; if unexpected, isolate the pod, examine it and delete it, "
            "and revoke the requester's pods/ephemeralcontainers access."
        ),
    ),
    _ephemeral,
    interest=Interest(frozenset({"update", "patch"}), frozenset({"pods"})),
    gate=_ephemeral_gate,
)


def _node_proxy(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if ref.resource != "nodes" or ref.subresource != "proxy" or not event.allowed:
        return
    if by_kubernetes(event, settings.protected_namespaces):
        return
    path = urlsplit(event.request_uri).path
    _, _, kubelet_path = path.partition("/proxy")
    yield Hit(
        f"{who(event)} used the node proxy of {ref.name or 'a node'} "
        f"({event.verb} {kubelet_path or '/'}) to reach the kubelet API",
        revoke_step(event, "nodes/proxy")
        + " The kubelet API runs commands in any pod on the node: review the kubelet path used.",
        Severity.CRITICAL if kubelet_path.startswith(("/exec", "/run", "/attach")) else None,
        (("node", ref.name), ("kubelet_path", kubelet_path or "/")),
    )


NODE_PROXY = Detection(
    DetectionMeta(
        id="node-proxy-access",
        title="Kubelet API reached through the node proxy",
        severity=Severity.HIGH,
        technique=mitre("T1609", "Container Administration Command"),
        tactic="execution",
        description=(
            "A request went through nodes/proxy to a kubelet. The kubelet API can list and exec "
            "into every pod on the node, and those actions are not audited by the API server as "
            "pod exec; a kubelet path that runs a command (/exec, /run, /attach) is critical."
        ),
        response=(
            "Remove nodes/proxy from identities that do not need it (monitoring should scrape "
            "nodes/metrics instead) and review what the requester reached."
        ),
    ),
    _node_proxy,
    interest=Interest(None, frozenset({"nodes"})),
    gate=_node_proxy_gate,
)

DETECTIONS: tuple[Detection, ...] = (
    POD_EXEC,
    KUBECTL_CP,
    POD_PORT_FORWARD,
    EPHEMERAL_CONTAINER,
    NODE_PROXY,
)
