"""What in a pod spec hands the node to its containers (host namespaces, privileged containers,
dangerous capabilities, sensitive host paths): shared by the detections that contain such a pod
by its node rather than by a NetworkPolicy."""

from __future__ import annotations

from kposture.detections._events import mapping
from kposture.inventory import containers, pod_spec
from kposture.inventory.capabilities import DANGEROUS_CAPABILITIES, normalize_capability
from kposture.inventory.host_paths import (
    PLAIN,
    RUNTIME_SOCKET,
    host_path_class,
    normalize_host_path,
)
from kposture.model import K8sObject, Severity

_HOST_NAMESPACES = (
    ("hostPID", "PID", Severity.CRITICAL),
    ("hostIPC", "IPC", Severity.HIGH),
    ("hostNetwork", "network", Severity.HIGH),
)
"""Each host namespace at the severity of its scanner rule (host-pid, host-ipc, host-network)."""


def _worst(current: Severity, other: Severity) -> Severity:
    return other if other.rank > current.rank else current


def host_access(obj: K8sObject) -> tuple[Severity, list[str]] | None:
    """What in a pod spec hands the node to the container, and how bad the worst of it is: None
    when nothing does. A plain host path (not a sensitive one) is the scanner's concern."""
    spec_ref = pod_spec(obj)
    if spec_ref is None:
        return None
    spec = spec_ref.spec
    reasons: list[str] = []
    worst = Severity.INFO
    for flag, label, severity in _HOST_NAMESPACES:
        if spec.get(flag) is True:
            reasons.append(f"shares the host's {label} namespace ({flag}: true)")
            worst = _worst(worst, severity)
    for ref in containers(obj):
        context = mapping(ref.container.get("securityContext"))
        if context.get("privileged") is True:
            reasons.append(f"container {ref.name!r} runs privileged")
            worst = Severity.CRITICAL
        added = mapping(context.get("capabilities")).get("add")
        dangerous = sorted(
            {normalize_capability(cap) for cap in added if isinstance(cap, str)}
            & DANGEROUS_CAPABILITIES
            if isinstance(added, list)
            else set()
        )
        if dangerous:
            reasons.append(f"container {ref.name!r} adds {', '.join(dangerous)}")
            worst = Severity.CRITICAL
    volumes = spec.get("volumes")
    for volume in volumes if isinstance(volumes, list) else ():
        host_path = mapping(mapping(volume).get("hostPath")).get("path")
        if not isinstance(host_path, str) or not host_path.strip():
            continue
        path = normalize_host_path(host_path)
        kind = host_path_class(path)
        if kind != PLAIN:
            what = "the container runtime socket" if kind == RUNTIME_SOCKET else "sensitive"
            reasons.append(f"mounts {what} host path {path}")
            worst = Severity.CRITICAL
    return (worst, reasons) if reasons else None
