"""Workload privileges: the rules that keep a container from becoming the node (container escapes).

Owns privileged mode, privilege escalation, running as root, Linux capabilities and Windows
HostProcess containers — the Pod Security Standards "baseline" and "restricted" controls about
privilege, and CIS Kubernetes Benchmark 5.2. Each added capability is reported by exactly one rule
(``capability_rule``): ``dangerous-capabilities``, else ``added-capabilities`` beyond the baseline
set, else ``capabilities-not-dropped`` for the baseline ones PSS restricted forbids; the last also
reports a missing ``drop: [ALL]`` once per container. Host namespaces, ports and paths live in
``workload_host_access``; hardening controls (seccomp, AppArmor, SELinux, /proc, sysctls, read-only
root, volume types, limits) in ``workload_hardening``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kposture.inventory import Inventory, containers, pod_spec
from kposture.inventory.capabilities import DANGEROUS_CAPABILITIES, normalize_capability
from kposture.model import K8sObject, Reference, Severity, Stage, Violation
from kposture.rules._references import BASELINE, CIS, ESCAPE, K01, NSA, POD_SECURITY, RESTRICTED
from kposture.rules._templates import (
    SECURITY_CONTEXT,
    added_capability_check,
    capability_list,
    container_field_check,
    context_of,
    inherited,
    linux_containers,
    mapping,
    workload_meta,
)
from kposture.rules.base import Rule

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
"""Capabilities the PSS baseline profile lets a container add (the container runtime defaults)."""

RESTRICTED_ADDABLE = frozenset({"NET_BIND_SERVICE"})
"""The only capability the PSS restricted profile lets a container add back after dropping ALL."""


DANGEROUS = "dangerous-capabilities"
ADDED = "added-capabilities"
NOT_DROPPED = "capabilities-not-dropped"


def capability_rule(capability: str) -> str | None:
    """The one rule that reports adding ``capability`` (normalised), or None when no rule does.

    The most specific and most severe rule wins: a dangerous capability, then any other outside the
    PSS baseline set, then a baseline capability other than NET_BIND_SERVICE (which only PSS
    restricted forbids).
    """
    if capability in DANGEROUS_CAPABILITIES:
        return DANGEROUS
    if capability not in BASELINE_CAPABILITIES:
        return ADDED
    if capability not in RESTRICTED_ADDABLE:
        return NOT_DROPPED
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- checks ---------------------------------------------------------------------------------------

_privileged = container_field_check(
    ("privileged",),
    lambda value: value is True,
    lambda name, _value: f"container {name!r} runs privileged",
)

_privilege_escalation = container_field_check(
    ("allowPrivilegeEscalation",),
    lambda value: value is not False,
    lambda name, value: (
        f"container {name!r} sets allowPrivilegeEscalation: {str(value).lower()}"
        if value is not None
        else f"container {name!r} does not set allowPrivilegeEscalation: false (defaults to true)"
    ),
    linux_only=True,
)


def _runs_as_root(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    ref = pod_spec(obj)
    if ref is None:
        return
    pod_context = context_of(ref.spec)
    context_path = (*ref.path, SECURITY_CONTEXT)
    pod_uid = pod_context.get("runAsUser")
    if _is_int(pod_uid) and pod_uid == 0:
        yield Violation("the pod sets runAsUser: 0 (root)", (*context_path, "runAsUser"))
    for container in containers(obj):
        uid = context_of(container.container).get("runAsUser")
        if _is_int(uid) and uid == 0:
            yield Violation(
                f"container {container.name!r} sets runAsUser: 0 (root)",
                (*container.path, SECURITY_CONTEXT, "runAsUser"),
                (("container", container.name),),
            )
            continue
        effective_uid = uid if uid is not None else pod_uid
        if _is_int(effective_uid):
            # A non-zero UID is not root whatever the image says; a pod-level 0 is reported above.
            continue
        non_root, path = inherited(container, pod_context, context_path, "runAsNonRoot")
        if non_root is True:
            continue
        state = "runAsNonRoot: false" if non_root is False else "neither runAsNonRoot: true"
        tail = "" if non_root is False else " nor a non-zero runAsUser"
        yield Violation(
            f"container {container.name!r} may run as root ({state}{tail})",
            path,
            (("container", container.name),),
        )


_added_capabilities = added_capability_check(
    lambda capability: capability_rule(capability) == ADDED,
    lambda name, capability: (
        f"container {name!r} adds capability {capability}, outside the PSS baseline set"
    ),
)

_dangerous_capabilities = added_capability_check(
    lambda capability: capability_rule(capability) == DANGEROUS,
    lambda name, capability: f"container {name!r} adds dangerous capability {capability}",
)


def _capabilities_not_dropped(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for ref in linux_containers(obj):
        caps_path = (*ref.path, SECURITY_CONTEXT, "capabilities")
        evidence = (("container", ref.name),)
        dropped = capability_list(ref.container, "drop")
        if not any(normalize_capability(cap) == "ALL" for cap in dropped):
            yield Violation(
                f"container {ref.name!r} does not drop ALL capabilities",
                (*caps_path, "drop"),
                evidence,
            )
        for index, raw in enumerate(capability_list(ref.container, "add")):
            capability = normalize_capability(raw)
            if capability_rule(capability) == NOT_DROPPED:
                yield Violation(
                    f"container {ref.name!r} adds {capability}, which PSS baseline allows but "
                    "restricted does not (only NET_BIND_SERVICE may be added)",
                    (*caps_path, "add", index),
                    (*evidence, ("capability", capability)),
                )


_container_host_process = container_field_check(
    ("windowsOptions", "hostProcess"),
    lambda value: value is True,
    lambda name, _value: f"container {name!r} runs as a Windows HostProcess container",
)


def _windows_host_process(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    ref = pod_spec(obj)
    if ref is None:
        return
    options: Any = mapping(context_of(ref.spec).get("windowsOptions"))
    if options.get("hostProcess") is True:
        yield Violation(
            "the pod runs its containers as Windows HostProcess containers",
            (*ref.path, SECURITY_CONTEXT, "windowsOptions", "hostProcess"),
        )
    yield from _container_host_process(obj, inventory)


# --- metadata -------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        workload_meta(
            "privileged-container",
            "Privileged container",
            Severity.CRITICAL,
            Stage.CRAWL,
            remediation=(
                "Remove privileged: true and grant only the capabilities the container needs."
            ),
            description=(
                "A privileged container has every Linux capability, sees all host devices and runs "
                "without seccomp or AppArmor confinement. Anyone who can run code in it can mount "
                "the host's disk or load a kernel module and take over the node. Init and "
                "ephemeral containers count too."
            ),
            references=(Reference(CIS, "5.2.2"), BASELINE, K01, ESCAPE, POD_SECURITY),
            fix_snippet="securityContext:\n  privileged: false\n",
        ),
        _privileged,
    ),
    Rule(
        workload_meta(
            "privilege-escalation-allowed",
            "Privilege escalation allowed",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Set allowPrivilegeEscalation: false in every container's securityContext.",
            description=(
                "Unless allowPrivilegeEscalation is false, a process can gain more privileges than "
                "its parent through setuid binaries or file capabilities (no_new_privs is not "
                "set). It is the usual second step after code execution in a container. Unset "
                "means allowed; Windows pods are exempt, as in the Pod Security Standards."
            ),
            references=(Reference(CIS, "5.2.6"), RESTRICTED, K01, POD_SECURITY),
            fix_snippet="securityContext:\n  allowPrivilegeEscalation: false\n",
        ),
        _privilege_escalation,
    ),
    Rule(
        workload_meta(
            "runs-as-root",
            "Container may run as root",
            Severity.HIGH,
            Stage.CRAWL,
            remediation=(
                "Set runAsNonRoot: true (and a non-zero runAsUser) at pod or container level."
            ),
            description=(
                "A container whose process is UID 0 is root on the host too unless user namespaces "
                "are in use, so any escape or writable host mount is immediately fatal. kposture "
                "fails runAsUser: 0 anywhere, and a container with neither runAsNonRoot: true nor "
                "a non-zero runAsUser in effect (container settings override the pod's). A "
                "non-zero runAsUser without runAsNonRoot passes here, although PSS restricted also "
                "wants runAsNonRoot: true."
            ),
            references=(
                Reference(CIS, "5.2.7"),
                RESTRICTED,
                K01,
                Reference(NSA, "Non-root containers"),
            ),
            fix_snippet="securityContext:\n  runAsNonRoot: true\n  runAsUser: 10001\n",
        ),
        _runs_as_root,
    ),
    Rule(
        workload_meta(
            "added-capabilities",
            "Container adds capabilities beyond the baseline set",
            Severity.MEDIUM,
            Stage.WALK,
            remediation="Remove capabilities outside the PSS baseline set from capabilities.add.",
            description=(
                "The Pod Security Standards baseline allows adding only the runtime's default "
                "capabilities (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, "
                "NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT); every other "
                "capability, NET_RAW included, widens the kernel attack surface. Each added "
                "capability is reported once: the dangerous ones by dangerous-capabilities, the "
                "other non-baseline ones here, so this rule also cites what "
                "capabilities-not-dropped cited for them (CIS 5.2.8 and 5.2.10, PSS restricted). "
                "Names are compared "
                "case-insensitively, with or without a CAP_ prefix."
            ),
            references=(
                Reference(CIS, "5.2.8"),
                Reference(CIS, "5.2.9"),
                Reference(CIS, "5.2.10"),
                BASELINE,
                RESTRICTED,
                K01,
                POD_SECURITY,
            ),
            fix_snippet=(
                "securityContext:\n  capabilities:\n    drop: [ALL]\n    add: [NET_BIND_SERVICE]\n"
            ),
        ),
        _added_capabilities,
    ),
    Rule(
        workload_meta(
            "dangerous-capabilities",
            "Container adds a dangerous capability",
            Severity.CRITICAL,
            Stage.CRAWL,
            remediation="Remove the capability from capabilities.add and redesign what needed it.",
            description=(
                "SYS_ADMIN, NET_ADMIN, SYS_PTRACE, SYS_MODULE, SYS_RAWIO, DAC_READ_SEARCH, BPF, "
                "PERFMON and ALL each have a known path to the host: mounting filesystems and "
                "cgroup release agents, loading kernel modules, tracing other processes, reading "
                "any file by handle or raw device access. It is the only rule that reports these "
                "capabilities (added-capabilities and capabilities-not-dropped leave them to it), "
                "so it cites the capability controls they cited: CIS 5.2.8, 5.2.9 and 5.2.10, and "
                "PSS baseline and restricted."
            ),
            references=(
                Reference(CIS, "5.2.8"),
                Reference(CIS, "5.2.9"),
                Reference(CIS, "5.2.10"),
                BASELINE,
                RESTRICTED,
                K01,
                ESCAPE,
                POD_SECURITY,
            ),
            fix_snippet="securityContext:\n  capabilities:\n    drop: [ALL]\n",
        ),
        _dangerous_capabilities,
    ),
    Rule(
        workload_meta(
            "capabilities-not-dropped",
            "Container capabilities not reduced to the restricted set",
            Severity.MEDIUM,
            Stage.WALK,
            remediation="Drop ALL capabilities and add back at most NET_BIND_SERVICE.",
            description=(
                "The runtime's default capabilities include NET_RAW (packet spoofing on the pod "
                "network), DAC_OVERRIDE and SETUID, none of which most applications need. PSS "
                "restricted requires drop: [ALL] and allows only NET_BIND_SERVICE to be added "
                "back; dropping a list of named capabilities does not satisfy it. The rule reports "
                "a missing drop: [ALL] once per container, and an added capability only when it "
                "is in the baseline set (such as CHOWN): dangerous-capabilities and "
                "added-capabilities report the others. Windows pods are exempt."
            ),
            references=(
                Reference(CIS, "5.2.8"),
                Reference(CIS, "5.2.10"),
                RESTRICTED,
                K01,
                POD_SECURITY,
            ),
            fix_snippet="securityContext:\n  capabilities:\n    drop: [ALL]\n",
        ),
        _capabilities_not_dropped,
    ),
    Rule(
        workload_meta(
            "windows-host-process",
            "Windows HostProcess container",
            Severity.CRITICAL,
            Stage.CRAWL,
            remediation="Remove windowsOptions.hostProcess: true at pod and container level.",
            description=(
                "A Windows HostProcess container runs directly on the host as a host user (often "
                "SYSTEM) with the host's network and filesystem: it is the Windows equivalent of a "
                "privileged container with host namespaces."
            ),
            references=(Reference(CIS, "5.2.11"), BASELINE, K01, ESCAPE, POD_SECURITY),
            fix_snippet="securityContext:\n  windowsOptions:\n    hostProcess: false\n",
        ),
        _windows_host_process,
    ),
)
