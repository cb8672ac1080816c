"""Detections of access into running workloads and nodes, and of workloads that break out of them:
exec/attach/port-forward into pods, ephemeral (``kubectl debug``) containers, node proxy use,
privileged / host-namespace / hostPath workloads created, and Services opened on every node's port.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kposture.detections._events import (
    CHANGE_VERBS,
    changed_object,
    mapping,
    mitre,
    revoke_step,
    scoped,
    who,
)
from kposture.detections.base import BodyNeed, Detection, Interest
from kposture.inventory import containers, pod_spec
from kposture.inventory.host_paths import (
    PLAIN,
    RUNTIME_SOCKET,
    host_path_class,
    normalize_host_path,
)
from kposture.model import K8sObject, Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

_POD_SESSIONS = {"exec": "exec", "attach": "attach", "portforward": "port-forward"}
_WORKLOAD_RESOURCES = frozenset(
    {
        "pods",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "replicationcontrollers",
        "jobs",
        "cronjobs",
        "podtemplates",
    }
)


def isolate_step(namespace: str, name: str) -> str:
    return (
        f"Isolate pod {scoped(namespace, name)} with a deny-all NetworkPolicy "
        f"(kposture respond isolate {name} -n {namespace or 'default'} | kubectl apply -f -), "
        "keep it for forensics, then delete it."
    )


def _query(uri: str) -> Mapping[str, list[str]]:
    return parse_qs(urlsplit(uri).query)


def _pod_session(event: AuditEvent, _state: object) -> Iterator[Hit]:
    ref = event.ref
    action = _POD_SESSIONS.get(ref.subresource)
    if ref.resource != "pods" or action is None or not event.allowed:
        return
    if event.verb not in ("create", "get"):
        return
    query = _query(event.request_uri)
    evidence: list[tuple[str, str]] = [("pod", scoped(ref.namespace, ref.name)), ("action", action)]
    detail = ""
    if action == "exec" and query.get("command"):
        command = " ".join(query["command"])
        evidence.append(("command", command))
        detail = f" running {command!r}"
    if query.get("container"):
        evidence.append(("container", query["container"][0]))
    if action == "port-forward" and query.get("ports"):
        evidence.append(("ports", ",".join(query["ports"])))
    yield Hit(
        f"{who(event)} opened {'an' if action == 'exec' else 'a'} {action} session into pod "
        f"{scoped(ref.namespace, ref.name)}{detail}",
        isolate_step(ref.namespace, ref.name)
        + " "
        + revoke_step(event, "create on pods/exec, pods/attach and pods/portforward"),
        Severity.MEDIUM if action == "port-forward" else None,
        tuple(evidence),
    )


def _subresource(raw: Mapping[str, Any]) -> object:
    ref = raw.get("objectRef")
    return ref.get("subresource") if isinstance(ref, dict) else None


def _pod_session_gate(raw: Mapping[str, Any], _state: object) -> bool:
    return _subresource(raw) in _POD_SESSIONS


def _ephemeral_gate(raw: Mapping[str, Any], _state: object) -> bool:
    return _subresource(raw) == "ephemeralcontainers"


def _node_proxy_gate(raw: Mapping[str, Any], _state: object) -> bool:
    return _subresource(raw) == "proxy"


POD_EXEC = Detection(
    DetectionMeta(
        id="pod-exec-attach",
        title="Exec, attach or port-forward into a pod",
        severity=Severity.HIGH,
        technique=mitre("T1609", "Container Administration Command"),
        tactic="execution",
        description=(
            "Someone opened an interactive session (exec, attach) or a tunnel (port-forward) into a "
            "running pod. Sessions run with the pod's identity and network access and leave no trace "
            "in the pod spec; the command line is in the request URI."
        ),
        response=(
            "Confirm the session with its owner; if unexpected, isolate the pod, keep it for "
            "forensics and revoke the requester's pods/exec access."
        ),
    ),
    _pod_session,
    interest=Interest(frozenset({"create", "get"}), frozenset({"pods"})),
    gate=_pod_session_gate,
)


def _ephemeral(event: AuditEvent, _state: object) -> Iterator[Hit]:
    ref = event.ref
    if ref.resource != "pods" or ref.subresource != "ephemeralcontainers":
        return
    if event.verb not in ("update", "patch") or not event.allowed:
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


def _node_proxy(event: AuditEvent, _state: object) -> Iterator[Hit]:
    ref = event.ref
    if ref.resource != "nodes" or ref.subresource != "proxy" or not event.allowed:
        return
    if event.user.username == "system:apiserver":
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
        id="node-proxy-used",
        title="Kubelet API reached through the node proxy",
        severity=Severity.HIGH,
        technique=mitre("T1609", "Container Administration Command"),
        tactic="execution",
        description=(
            "A request went through nodes/proxy to a kubelet. The kubelet API can list and exec "
            "into every pod on the node, and those actions are not audited by the API server as "
            "pod exec."
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


def _host_access(obj: K8sObject) -> tuple[Severity, list[str]] | None:
    spec_ref = pod_spec(obj)
    if spec_ref is None:
        return None
    spec = spec_ref.spec
    reasons: list[str] = []
    worst = Severity.INFO
    for flag, label in (("hostPID", "PID"), ("hostIPC", "IPC"), ("hostNetwork", "network")):
        if spec.get(flag) is True:
            reasons.append(f"shares the host's {label} namespace ({flag}: true)")
            worst = max(worst, Severity.HIGH, key=lambda s: s.rank)
    for ref in containers(obj):
        context = mapping(ref.container.get("securityContext"))
        if context.get("privileged") is True:
            reasons.append(f"container {ref.name!r} runs privileged")
            worst = Severity.CRITICAL
    volumes = spec.get("volumes")
    for volume in volumes if isinstance(volumes, list) else ():
        host_path = mapping(mapping(volume).get("hostPath")).get("path")
        if not isinstance(host_path, str) or not host_path.strip():
            continue
        path = normalize_host_path(host_path)
        kind = host_path_class(path)
        if kind == PLAIN:
            reasons.append(f"mounts host path {path}")
            worst = max(worst, Severity.MEDIUM, key=lambda s: s.rank)
        else:
            what = "the container runtime socket" if kind == RUNTIME_SOCKET else "sensitive"
            reasons.append(f"mounts {what} host path {path}")
            worst = Severity.CRITICAL
    return (worst, reasons) if reasons else None


def _owner(body: Mapping[str, Any]) -> tuple[str, str]:
    """The kind and name of the controller that owns the object, or empty strings."""
    for owner in mapping(body.get("metadata")).get("ownerReferences") or ():
        owner_map = mapping(owner)
        if owner_map.get("controller"):
            return str(owner_map.get("kind", "")), str(owner_map.get("name", ""))
    return "", ""


_SCALABLE = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "ReplicaSet": "replicaset",
    "ReplicationController": "replicationcontroller",
}


def stop_step(kind: str, namespace: str, name: str) -> str:
    """How to stop a workload's pods while keeping the object for forensics, as a command."""
    namespace = namespace or "default"
    name = name or "NAME"
    where = f"{kind} {namespace}/{name}"
    if kind in _SCALABLE:
        step = (
            f"Scale {where} to zero (kubectl scale {_SCALABLE[kind]} {name} -n {namespace} "
            "--replicas=0)"
        )
        if kind == "ReplicaSet":
            step += ", or its Deployment if one owns it (the Deployment would scale it back)"
        return step + "."
    if kind == "DaemonSet":
        return (
            f"A DaemonSet cannot be scaled: move {where} off every node with a node selector no "
            f"node has (kubectl patch daemonset {name} -n {namespace} -p "
            """'{"spec":{"template":{"spec":{"nodeSelector":{"kposture.io/stopped":"true"}}}}}'), """
            "or delete it."
        )
    if kind == "CronJob":
        return (
            f"Suspend {where} so it starts no more Jobs (kubectl patch cronjob {name} -n "
            f"""{namespace} -p '{{"spec":{{"suspend":true}}}}'), then delete the Jobs it already """
            f"started (kubectl get jobs -n {namespace}; their owner is CronJob {name})."
        )
    if kind == "Job":
        return (
            f"Suspend {where} (kubectl patch job {name} -n {namespace} -p "
            """'{"spec":{"suspend":true}}', Kubernetes 1.21 and later) or delete it with its """
            f"pods (kubectl delete job {name} -n {namespace})."
        )
    if kind == "PodTemplate":
        return f"Delete {where} (kubectl delete podtemplate {name} -n {namespace})."
    return f"Stop {where} (or delete it)."


def _privileged_workload(event: AuditEvent, _state: object) -> Iterator[Hit]:
    obj = changed_object(event, _WORKLOAD_RESOURCES)
    if obj is None:
        return
    found = _host_access(obj)
    if found is None:
        return
    severity, reasons = found
    ref = obj.ref
    name = scoped(ref.namespace, ref.name or "<generated name>")
    owner_kind, owner_name = _owner(obj.raw)
    owner = f"{owner_kind}/{owner_name}" if owner_kind else ""
    if ref.kind == "Pod" and owner:
        step = (
            f"The pod belongs to {owner}. "
            + stop_step(owner_kind, ref.namespace, owner_name)
            + f" Then find who changed it (kubectl get events -n {ref.namespace or 'default'})."
        )
    elif ref.kind == "Pod":
        step = isolate_step(ref.namespace, ref.name or "<pod>")
    else:
        step = (
            "Unless it is an approved node agent: "
            + stop_step(ref.kind, ref.namespace, ref.name)
            + " Check the nodes it ran on."
        )
    made = "created" if event.verb == "create" else "changed"
    yield Hit(
        f"{who(event)} {made} {ref.kind} {name} that {'; '.join(reasons)}",
        step,
        severity,
        (("object", f"{ref.kind}/{name}"), ("owner", owner), ("reasons", "; ".join(reasons))),
    )


PRIVILEGED_WORKLOAD = Detection(
    DetectionMeta(
        id="privileged-workload-created",
        title="Privileged, host-namespace or hostPath workload created",
        severity=Severity.HIGH,
        technique=mitre("T1611", "Escape to Host"),
        tactic="privilege-escalation",
        description=(
            "A pod or pod template was created or changed to run privileged, share a host "
            "namespace (PID, IPC, network) or mount a host path. Each of these hands the node to "
            "the container; a privileged container or a sensitive mount is critical. Needs the "
            "audit level Request for pod and workload writes."
        ),
        response=(
            "Stop the workload unless it is an approved node agent, check the nodes it ran on, and "
            "enforce Pod Security baseline on the namespace."
        ),
    ),
    _privileged_workload,
    interest=Interest(CHANGE_VERBS, frozenset(_WORKLOAD_RESOURCES)),
    needs_body=BodyNeed(CHANGE_VERBS, _WORKLOAD_RESOURCES),
)


def _node_port(event: AuditEvent, _state: object) -> Iterator[Hit]:
    obj = changed_object(event, ("services",))
    if obj is None:
        return
    spec = mapping(obj.raw.get("spec"))
    if spec.get("type") != "NodePort":
        return
    ports = [
        str(mapping(port).get("nodePort") or mapping(port).get("port") or "")
        for port in spec.get("ports") or ()
    ]
    ref = obj.ref
    name = scoped(ref.namespace, ref.name)
    yield Hit(
        f"{who(event)} exposed Service {name} on every node (type NodePort, "
        f"ports {', '.join(p for p in ports if p) or 'unknown'})",
        f"Change Service {name} to ClusterIP (or put it behind an Ingress) unless node-port "
        "exposure is approved, and firewall the node ports.",
        None,
        (("service", name), ("ports", ",".join(ports))),
    )


NODE_PORT_SERVICE = Detection(
    DetectionMeta(
        id="nodeport-service-created",
        title="Service exposed on every node's port (NodePort)",
        severity=Severity.LOW,
        technique=mitre("T1133", "External Remote Services"),
        tactic="persistence",
        description=(
            "A Service of type NodePort opens a port on every node, usually outside of the load "
            "balancer's and the ingress' controls, and is a common way to open a path into a "
            "cluster. Needs the audit level Request for Service writes."
        ),
        response="Use ClusterIP with an Ingress or a LoadBalancer that is firewalled instead.",
    ),
    _node_port,
    interest=Interest(CHANGE_VERBS, frozenset({"services"})),
    needs_body=BodyNeed(CHANGE_VERBS, frozenset({"services"})),
)

DETECTIONS: tuple[Detection, ...] = (
    POD_EXEC,
    EPHEMERAL_CONTAINER,
    NODE_PROXY,
    PRIVILEGED_WORKLOAD,
    NODE_PORT_SERVICE,
)
