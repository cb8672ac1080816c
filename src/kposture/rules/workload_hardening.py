"""Workload hardening: the confinement layers that make a container escape harder.

Owns seccomp (fields and the legacy ``seccomp.security.alpha.kubernetes.io`` annotations), AppArmor
(``appArmorProfile`` fields and the ``container.apparmor.security.beta.kubernetes.io`` annotations),
SELinux options, /proc mount type, sysctls, read-only root filesystems, the restricted volume types
and resource limits — the Pod Security Standards hardening controls plus the NSA-CISA guide's.
An explicit seccomp Unconfined is ``seccomp-unconfined``'s finding only; ``seccomp-profile-missing``
reports containers with no profile at all (or an unrecognised one). ``restricted-volume-types``
leaves hostPath volumes to the three hostPath rules of ``workload_host_access``. Privilege controls
(privileged, capabilities) live in ``workload_privileges``, host namespaces and paths in
``workload_host_access``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kposture.inventory import Inventory, containers, pod_spec
from kposture.model import Framework, JsonPath, K8sObject, Reference, Severity, Stage, Violation
from kposture.rules._references import BASELINE, CIS, ESCAPE, K01, RESTRICTED
from kposture.rules._templates import (
    CONFINED_PROFILE_TYPES,
    LOCALHOST_PREFIX,
    SECCOMP_CONTAINER_ANNOTATION,
    SECCOMP_POD_ANNOTATION,
    SECURITY_CONTEXT,
    container_field_check,
    context_of,
    is_windows,
    mapping,
    profile_type,
    seccomp_settings,
    template_annotations,
    volumes,
    workload_meta,
)
from kposture.rules.base import Rule

SECURITY_CONTEXT_CIS = Reference(CIS, "5.7.3")
HARDENING = Reference(Framework.NSA_CISA, "Hardening container environments")

APPARMOR_CONTAINER_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
ALLOWED_APPARMOR_ANNOTATIONS = frozenset({"", "runtime/default"})

ALLOWED_SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
"""The PSS baseline safe sysctls (Kubernetes 1.29+)."""

RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "name",
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
"""Keys a volume may carry under PSS restricted (``image`` since Kubernetes 1.33)."""

# --- seccomp --------------------------------------------------------------------------------------


IN_EFFECT_NOWHERE = ("in_effect", "false")
"""Evidence of an explicit Unconfined that every container overrides (still a PSS failure)."""


def _unconfined_violation(
    what: str, path: JsonPath, in_effect: list[str], evidence: tuple[tuple[str, str], ...] = ()
) -> Violation:
    """A violation for one explicit Unconfined, naming the containers it is in effect for.

    They are named in the message only: the evidence is part of the fingerprint, and the finding
    stays the same while containers are added or override the setting. The evidence says only
    whether it is in effect at all (``in_effect: false`` when every container overrides it)."""
    if not in_effect:
        evidence = (*evidence, IN_EFFECT_NOWHERE)
    if in_effect:
        names = ", ".join(repr(name) for name in in_effect)
        message = f"{what} (in effect for container{'s' if len(in_effect) > 1 else ''} {names})"
    else:
        message = (
            f"{what} (overridden by every container; containers added later, such as ephemeral "
            "debug containers, inherit it)"
        )
    return Violation(message, path, evidence)


def _seccomp_unconfined(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    ref = pod_spec(obj)
    if ref is None:
        return
    in_effect: dict[JsonPath, list[str]] = {}
    for setting in seccomp_settings(obj, ref):
        in_effect.setdefault(setting.path, []).append(setting.container.name)
    pod_path = (*ref.path, SECURITY_CONTEXT, "seccompProfile", "type")
    if profile_type(context_of(ref.spec), "seccompProfile") == "Unconfined":
        what = "the pod sets seccompProfile type Unconfined"
        yield _unconfined_violation(what, pod_path, in_effect.get(pod_path, []))
    for container in containers(obj):
        if profile_type(context_of(container.container), "seccompProfile") == "Unconfined":
            yield Violation(
                f"container {container.name!r} sets seccompProfile type Unconfined",
                (*container.path, SECURITY_CONTEXT, "seccompProfile", "type"),
                (("container", container.name),),
            )
    annotations, annotations_path = template_annotations(obj)
    for key, value in annotations.items():
        if value == "unconfined" and (
            key == SECCOMP_POD_ANNOTATION or key.startswith(SECCOMP_CONTAINER_ANNOTATION)
        ):
            path = (*annotations_path, key)
            what = f"annotation {key} is unconfined"
            evidence = (
                (("container", key[len(SECCOMP_CONTAINER_ANNOTATION) :]),)
                if key.startswith(SECCOMP_CONTAINER_ANNOTATION)
                else ()
            )
            yield _unconfined_violation(what, path, in_effect.get(path, []), evidence)


def _seccomp_missing(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    ref = pod_spec(obj)
    if ref is None or is_windows(ref.spec):
        return
    for setting in seccomp_settings(obj, ref):
        # An explicit Unconfined in effect is seccomp-unconfined's finding, reported there only.
        if setting.confined or setting.unconfined:
            continue
        name = setting.container.name
        if setting.value is None:
            message = f"container {name!r} has no seccomp profile set"
        else:
            message = (
                f"container {name!r} has seccomp profile {setting.value!r}, which is neither "
                "RuntimeDefault nor Localhost"
            )
        yield Violation(message, setting.path, (("container", name),))


# --- AppArmor and SELinux -------------------------------------------------------------------------


def _apparmor_field(context: Mapping[str, Any], path: JsonPath, who: str) -> Iterator[Violation]:
    value = profile_type(context, "appArmorProfile")
    if value is not None and value not in CONFINED_PROFILE_TYPES:
        yield Violation(
            f"{who} sets appArmorProfile type {value}",
            (*path, SECURITY_CONTEXT, "appArmorProfile", "type"),
        )


def _apparmor_unconfined(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    ref = pod_spec(obj)
    if ref is None:
        return
    yield from _apparmor_field(context_of(ref.spec), ref.path, "the pod")
    for container in containers(obj):
        yield from _apparmor_field(
            context_of(container.container), container.path, f"container {container.name!r}"
        )
    annotations, path = template_annotations(obj)
    for key, value in annotations.items():
        if not key.startswith(APPARMOR_CONTAINER_ANNOTATION):
            continue
        text = value if isinstance(value, str) else str(value)
        if text in ALLOWED_APPARMOR_ANNOTATIONS or text.startswith(LOCALHOST_PREFIX):
            continue
        name = key[len(APPARMOR_CONTAINER_ANNOTATION) :]
        yield Violation(f"container {name!r} has AppArmor profile {text}", (*path, key))


def _selinux_options(context: Mapping[str, Any], path: JsonPath, who: str) -> Iterator[Violation]:
    options = mapping(context.get("seLinuxOptions"))
    if not options:
        return
    base = (*path, SECURITY_CONTEXT, "seLinuxOptions")
    for field in ("user", "role"):
        if options.get(field):
            yield Violation(f"{who} sets SELinux {field} {options[field]}", (*base, field))
    selinux_type = options.get("type")
    if selinux_type and selinux_type not in ALLOWED_SELINUX_TYPES:
        yield Violation(f"{who} sets SELinux type {selinux_type}", (*base, "type"))


def _selinux_custom(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    ref = pod_spec(obj)
    if ref is None:
        return
    yield from _selinux_options(context_of(ref.spec), ref.path, "the pod")
    for container in containers(obj):
        yield from _selinux_options(
            context_of(container.container), container.path, f"container {container.name!r}"
        )


# --- /proc, sysctls, root filesystem, volumes, limits ---------------------------------------------

_proc_mount = container_field_check(
    ("procMount",),
    lambda value: value is not None and value != "Default",
    lambda name, value: f"container {name!r} sets procMount: {value}",
)


def _unsafe_sysctls(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    ref = pod_spec(obj)
    if ref is None:
        return
    sysctls = context_of(ref.spec).get("sysctls")
    if not isinstance(sysctls, list):
        return
    for index, sysctl in enumerate(sysctls):
        name = mapping(sysctl).get("name")
        if name not in SAFE_SYSCTLS:
            yield Violation(
                f"the pod sets unsafe sysctl {name}",
                (*ref.path, SECURITY_CONTEXT, "sysctls", index, "name"),
                (("sysctl", str(name)),),
            )


_writable_root = container_field_check(
    ("readOnlyRootFilesystem",),
    lambda value: value is not True,
    lambda name, value: (
        f"container {name!r} has a writable root filesystem"
        + (" (readOnlyRootFilesystem: false)" if value is False else "")
    ),
    linux_only=True,
)


HOST_PATH = "hostPath"
"""Outside the restricted list too, but reported by the hostPath rules of ``workload_host_access``
(one finding per hostPath, from the most specific of them)."""


def _restricted_volumes(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for volume, path in volumes(obj):
        for key in volume:
            if key not in RESTRICTED_VOLUME_TYPES and key != HOST_PATH:
                name = str(volume.get("name", f"#{path[-1]}"))
                yield Violation(
                    f"volume {name!r} is of type {key}, outside the restricted volume types",
                    (*path, key),
                    (("volume", name), ("type", str(key))),
                )
                break


LIMITED_LISTS = frozenset({"containers", "initContainers"})
"""Ephemeral containers cannot declare resources, so they are not asked to."""


def _limits_missing(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    for ref in containers(obj):
        if ref.list_name not in LIMITED_LISTS:
            continue
        limits = mapping(mapping(ref.container.get("resources")).get("limits"))
        missing = [resource for resource in ("cpu", "memory") if limits.get(resource) in (None, "")]
        if not missing:
            continue
        base = (*ref.path, "resources", "limits")
        yield Violation(
            f"container {ref.name!r} has no {' and no '.join(missing)} limit",
            base if len(missing) == 2 else (*base, missing[0]),
            (("container", ref.name),),
        )


# --- metadata -------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        workload_meta(
            "seccomp-unconfined",
            "Seccomp explicitly disabled (Unconfined)",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Set seccompProfile type RuntimeDefault and remove unconfined annotations.",
            description=(
                "Seccomp filters the system calls a container may make; Unconfined exposes the "
                "whole kernel syscall surface, which most container-escape kernel exploits need. "
                "kposture fails every explicit Unconfined: pod or container seccompProfile, and "
                "the legacy seccomp.security.alpha.kubernetes.io annotations set to unconfined, "
                "naming the containers each one is in effect for. A pod-level Unconfined fails "
                "even when every container overrides it, as in PSS, because ephemeral debug "
                "containers inherit it. It is the only rule reporting an explicit Unconfined "
                "(seccomp-profile-missing leaves it here), so it cites PSS restricted as well."
            ),
            references=(Reference(CIS, "5.7.2"), BASELINE, RESTRICTED, K01, ESCAPE, HARDENING),
            fix_snippet="securityContext:\n  seccompProfile:\n    type: RuntimeDefault\n",
        ),
        _seccomp_unconfined,
    ),
    Rule(
        workload_meta(
            "seccomp-profile-missing",
            "No seccomp profile set",
            Severity.MEDIUM,
            Stage.WALK,
            remediation=(
                "Set seccompProfile type RuntimeDefault (or Localhost) in the pod securityContext."
            ),
            description=(
                "Without a RuntimeDefault or Localhost seccomp profile a container runs unfiltered "
                "on most clusters, so one kernel bug is one step from the node. kposture resolves "
                "the profile per container as the kubelet does: container field, container "
                "annotation, pod field, pod annotation (runtime/default, docker/default and "
                "localhost/* count as confined) and fails a container for which none is set, or "
                "an unrecognised value is. An explicit Unconfined in effect is reported by "
                "seccomp-unconfined instead; Windows pods are exempt."
            ),
            references=(Reference(CIS, "5.7.2"), RESTRICTED, K01, HARDENING),
            fix_snippet=(
                "spec:\n  securityContext:\n    seccompProfile:\n      type: RuntimeDefault\n"
            ),
        ),
        _seccomp_missing,
    ),
    Rule(
        workload_meta(
            "apparmor-unconfined",
            "AppArmor explicitly disabled",
            Severity.HIGH,
            Stage.CRAWL,
            remediation=(
                "Use AppArmor profile RuntimeDefault or a Localhost profile, never Unconfined."
            ),
            description=(
                "The runtime's default AppArmor profile blocks writes to /proc and /sys and mounts "
                "that several container escapes rely on. kposture fails an appArmorProfile type "
                "other than RuntimeDefault or Localhost (pod or container) and a "
                "container.apparmor.security.beta.kubernetes.io annotation other than "
                "runtime/default or localhost/*."
            ),
            references=(BASELINE, SECURITY_CONTEXT_CIS, K01, ESCAPE, HARDENING),
            fix_snippet="securityContext:\n  appArmorProfile:\n    type: RuntimeDefault\n",
        ),
        _apparmor_unconfined,
    ),
    Rule(
        workload_meta(
            "selinux-custom-options",
            "Custom SELinux user, role or type",
            Severity.MEDIUM,
            Stage.WALK,
            remediation="Remove seLinuxOptions user and role and use an allowed container type.",
            description=(
                "A custom SELinux user, role or a type such as spc_t or unconfined_t lifts the "
                "SELinux confinement that stops a container from touching host files. PSS baseline "
                "allows only the level and the types container_t, container_init_t, "
                "container_kvm_t and container_engine_t."
            ),
            references=(BASELINE, SECURITY_CONTEXT_CIS, K01, HARDENING),
            fix_snippet='securityContext:\n  seLinuxOptions:\n    level: "s0:c123,c456"\n',
        ),
        _selinux_custom,
    ),
    Rule(
        workload_meta(
            "proc-mount-unmasked",
            "Container /proc mounted unmasked",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Remove procMount or set it to Default.",
            description=(
                "The default /proc mount masks and makes read-only paths such as /proc/sys, "
                "/proc/sysrq-trigger and /proc/kcore; an Unmasked /proc exposes them, which lets a "
                "container change host kernel settings or read kernel memory."
            ),
            references=(BASELINE, SECURITY_CONTEXT_CIS, K01, ESCAPE, HARDENING),
            fix_snippet="securityContext:\n  procMount: Default\n",
        ),
        _proc_mount,
    ),
    Rule(
        workload_meta(
            "unsafe-sysctls",
            "Pod sets an unsafe sysctl",
            Severity.HIGH,
            Stage.CRAWL,
            remediation="Remove sysctls outside the PSS safe set from the pod securityContext.",
            description=(
                "Sysctls outside the safe, namespaced set can change kernel behaviour for the "
                "whole node or other pods, disabling protections or starving neighbours. PSS "
                "baseline allows only the safe set (kernel.shm_rmid_forced, the "
                "net.ipv4 port range, ping group, syncookies and TCP keepalive/fin timeout knobs)."
            ),
            references=(BASELINE, SECURITY_CONTEXT_CIS, K01, HARDENING),
            fix_snippet=(
                "securityContext:\n  sysctls:\n    - name: net.ipv4.ip_local_port_range\n      "
                'value: "1024 65535"\n'
            ),
        ),
        _unsafe_sysctls,
    ),
    Rule(
        workload_meta(
            "writable-root-filesystem",
            "Container root filesystem is writable",
            Severity.LOW,
            Stage.WALK,
            remediation=(
                "Set readOnlyRootFilesystem: true and mount an emptyDir where writes are needed."
            ),
            description=(
                "A writable root filesystem lets an intruder drop tools, modify binaries and "
                "persist inside the container. The NSA-CISA guide recommends immutable container "
                "filesystems. Windows pods are exempt: the field cannot be set there."
            ),
            references=(
                Reference(Framework.NSA_CISA, "Immutable container file systems"),
                SECURITY_CONTEXT_CIS,
                K01,
            ),
            fix_snippet="securityContext:\n  readOnlyRootFilesystem: true\n",
        ),
        _writable_root,
    ),
    Rule(
        workload_meta(
            "restricted-volume-types",
            "Volume type outside the restricted set",
            Severity.MEDIUM,
            Stage.RUN,
            remediation=(
                "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, PVC, projected "
                "or secret volumes."
            ),
            description=(
                "PSS restricted limits pods to volume types that carry no node or storage "
                "credentials of their own; direct volume plugins (nfs, iscsi, rbd, gitRepo...) "
                "bypass PersistentVolume administration and have had escape bugs (gitRepo ran git "
                "on the node). hostPath is outside the list too, but each hostPath volume is "
                "reported once by the most specific of container-runtime-socket, "
                "sensitive-host-path and host-path-volume, which cite PSS restricted as well, so "
                "this rule does not report it again."
            ),
            references=(RESTRICTED, K01, Reference(Framework.NSA_CISA, "Pod security")),
            fix_snippet=(
                "volumes:\n  - name: data\n    persistentVolumeClaim:\n      claimName: data\n"
            ),
        ),
        _restricted_volumes,
    ),
    Rule(
        workload_meta(
            "resource-limits-missing",
            "Container without CPU and memory limits",
            Severity.LOW,
            Stage.WALK,
            remediation="Set resources.limits.cpu and resources.limits.memory on every container.",
            description=(
                "A container without limits can take all the node's CPU or memory, starving "
                "other workloads and the kubelet: a compromised or buggy pod becomes a node-wide "
                "denial of service or a free crypto-mining host. Init containers are included; "
                "ephemeral containers cannot declare resources."
            ),
            references=(
                Reference(Framework.NSA_CISA, "Resource policies"),
                K01,
                Reference(Framework.MITRE, "T1496"),
                Reference(Framework.MITRE, "T1499"),
            ),
            fix_snippet="resources:\n  limits:\n    cpu: 500m\n    memory: 256Mi\n",
        ),
        _limits_missing,
    ),
)
