"""The built-in rules that CEL can express exactly, each with its ValidatingAdmissionPolicy CEL.

A built-in rule is exportable when its check reads only the object under review (no inventory, no
run-policy settings) and CEL can reproduce its verdict: privileged mode, privilege escalation, root,
capabilities, host namespaces and ports, /proc mounts, sysctls, read-only root filesystems, volume
types, resource limits, mutable and unpinned images, the default namespace. Each entry is written
by hand as Kubernetes would run it: ``variables`` (after the shared pod-spec variables for workload
rules), one validation ``expression`` that is false on a violation, and a ``messageExpression``
naming the offenders. The lists the Python rules use (capability sets, safe sysctls, volume types,
system objects) are read from the rule modules, so the two cannot drift. A parity test evaluates
every entry on the rule's pass and fail fixtures and compares the verdict with the rule's own.

CEL here uses only what Kubernetes 1.30+ offers a policy: the standard macros, ``has()``,
``type()``, ``matches()`` and the strings extension (``trim``, ``upperAscii``, ``split``,
``substring``, ``indexOf``, ``lastIndexOf``, ``join``); no optional ``?.`` syntax.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kposture.inventory.capabilities import DANGEROUS_CAPABILITIES
from kposture.policy.cel_literals import cel_literal
from kposture.rules.service_accounts import SYSTEM_DEFAULT_OBJECTS
from kposture.rules.workload_hardening import RESTRICTED_VOLUME_TYPES, SAFE_SYSCTLS
from kposture.rules.workload_privileges import BASELINE_CAPABILITIES, RESTRICTED_ADDABLE


@dataclass(frozen=True, slots=True)
class BuiltinCel:
    """The CEL of one exportable built-in rule.

    ``workload`` rules get the shared pod-spec variables (``podSpec``, ``containers``,
    ``isWindows``) before their own ``variables``; ``expression`` is false on a violation.
    """

    rule_id: str
    expression: str
    message_expression: str
    variables: tuple[tuple[str, str], ...] = ()
    workload: bool = True


def _sorted_list(values: Iterable[str]) -> str:
    return cel_literal(sorted(values))


def _has_path(base: str, *fields: str) -> str:
    """``has(a.b) && has(a.b.c) ...``: true when every field along the path is present."""
    parts = []
    node = base
    for field in fields:
        node = f"{node}.{field}"
        parts.append(f"has({node})")
    return " && ".join(parts)


def _context(container: str, *fields: str) -> tuple[str, str]:
    """Presence test and value of ``<container>.securityContext.<fields...>``."""
    return _has_path(container, "securityContext", *fields), ".".join(
        (container, "securityContext", *fields)
    )


_POD_SPEC = (
    "object.kind == 'Pod' ? (has(object.spec) ? object.spec : {}) : "
    "object.kind == 'PodTemplate' ? "
    f"({_has_path('object', 'template', 'spec')} ? object.template.spec : {{}}) : "
    "object.kind == 'CronJob' ? "
    f"({_has_path('object', 'spec', 'jobTemplate', 'spec', 'template', 'spec')} "
    "? object.spec.jobTemplate.spec.template.spec : {}) : "
    f"({_has_path('object', 'spec', 'template', 'spec')} ? object.spec.template.spec : {{}})"
)
_CONTAINERS = " + ".join(
    f"(has(variables.podSpec.{name}) ? variables.podSpec.{name} : [])"
    for name in ("initContainers", "containers", "ephemeralContainers")
)
_IS_WINDOWS = (
    f"{_has_path('variables.podSpec', 'os', 'name')} && variables.podSpec.os.name == 'windows'"
)

WORKLOAD_VARIABLES: tuple[tuple[str, str], ...] = (
    ("podSpec", _POD_SPEC),
    ("containers", _CONTAINERS),
    ("isWindows", _IS_WINDOWS),
)
"""The pod spec of any workload kind (empty when absent), all its containers (init, regular,
ephemeral) and whether it is a Windows pod — what ``inventory.workloads`` gives the Python rules."""

_NAMES = "map(c, c.name).join(', ')"
_LINUX_CONTAINERS = "(variables.isWindows ? [] : variables.containers)"


def _pod_flag(rule_id: str, field: str) -> BuiltinCel:
    return BuiltinCel(
        rule_id,
        f"!({_has_path('variables.podSpec', field)} && variables.podSpec.{field} == true)",
        f"'{rule_id}: the pod sets {field}: true'",
    )


def _normalised(item: str) -> str:
    """A capability name as ``normalize_capability`` makes it: trimmed, upper case, no CAP_."""
    return (
        f"[string({item}).trim().upperAscii()].map(n, n.startsWith('CAP_') ? n.substring(4) : n)[0]"
    )


def _capabilities(container: str, which: str) -> str:
    present, value = _context(container, "capabilities", which)
    return f"({present} ? {value} : [])"


def _adds_capability_in(capabilities: Iterable[str]) -> str:
    listed = _sorted_list(capabilities)
    return f"{_capabilities('c', 'add')}.exists(x, {_normalised('x')} in {listed})"


_NOT_BASELINE_NOR_DANGEROUS = (
    f"{_capabilities('c', 'add')}.exists(x, "
    f"!({_normalised('x')} in {_sorted_list(BASELINE_CAPABILITIES | DANGEROUS_CAPABILITIES)}))"
)
_ROOT_CONTAINERS = (
    "variables.containers.filter(c, "
    f"[{_context('c', 'runAsUser')[0]} ? c.securityContext.runAsUser : null].all(uid, "
    "(type(uid) == int && uid == 0) || "
    "[uid != null ? uid : variables.podUid].all(effective, type(effective) != int && "
    f"[{_context('c', 'runAsNonRoot')[0]} && c.securityContext.runAsNonRoot != null "
    "? c.securityContext.runAsNonRoot : variables.podNonRoot].all(nonRoot, nonRoot != true))))"
)
_IMAGES = (
    "variables.containers.filter(c, has(c.image) && type(c.image) == string "
    "&& c.image.trim() != '')"
)
_PINNED = "image.trim().matches('(?s)^[^@]*@sha256:.')"
_REST = "image.trim().split('@')[0]"
_TAG = (
    f"({_REST}.lastIndexOf(':') > {_REST}.lastIndexOf('/') "
    f"? {_REST}.substring({_REST}.lastIndexOf(':') + 1) : '')"
)
_SYSTEM_OBJECTS = _sorted_list(f"{kind}/{name}" for kind, name in SYSTEM_DEFAULT_OBJECTS)
_LIMITED = " + ".join(
    f"(has(variables.podSpec.{name}) ? variables.podSpec.{name} : [])"
    for name in ("initContainers", "containers")
)


def _limit_missing(resource: str) -> str:
    present = _has_path("c", "resources", "limits", resource)
    value = f"c.resources.limits.{resource}"
    return f"!({present} && {value} != null && {value} != '')"


_ENTRIES: tuple[BuiltinCel, ...] = (
    BuiltinCel(
        "privileged-container",
        "size(variables.privileged) == 0",
        "'privileged-container: containers ' + variables.privileged."
        + _NAMES
        + " + ' run privileged'",
        (
            (
                "privileged",
                "variables.containers.filter(c, "
                f"{_context('c', 'privileged')[0]} && c.securityContext.privileged == true)",
            ),
        ),
    ),
    BuiltinCel(
        "privilege-escalation-allowed",
        "size(variables.escalating) == 0",
        "'privilege-escalation-allowed: containers ' + variables.escalating."
        + _NAMES
        + " + ' do not set allowPrivilegeEscalation: false'",
        (
            (
                "escalating",
                f"{_LINUX_CONTAINERS}.filter(c, !({_context('c', 'allowPrivilegeEscalation')[0]} "
                "&& c.securityContext.allowPrivilegeEscalation == false))",
            ),
        ),
    ),
    BuiltinCel(
        "runs-as-root",
        "!(type(variables.podUid) == int && variables.podUid == 0) "
        "&& size(variables.rootContainers) == 0",
        "'runs-as-root: the pod or containers ' + variables.rootContainers."
        + _NAMES
        + " + ' may run as root (set runAsNonRoot: true and a non-zero runAsUser)'",
        (
            (
                "podContext",
                "has(variables.podSpec.securityContext) ? variables.podSpec.securityContext : {}",
            ),
            (
                "podUid",
                "has(variables.podContext.runAsUser) ? variables.podContext.runAsUser : null",
            ),
            (
                "podNonRoot",
                "has(variables.podContext.runAsNonRoot) ? variables.podContext.runAsNonRoot : null",
            ),
            ("rootContainers", _ROOT_CONTAINERS),
        ),
    ),
    BuiltinCel(
        "added-capabilities",
        "size(variables.adding) == 0",
        "'added-capabilities: containers ' + variables.adding."
        + _NAMES
        + " + ' add capabilities outside the PSS baseline set'",
        (("adding", f"variables.containers.filter(c, {_NOT_BASELINE_NOR_DANGEROUS})"),),
    ),
    BuiltinCel(
        "dangerous-capabilities",
        "size(variables.dangerous) == 0",
        "'dangerous-capabilities: containers ' + variables.dangerous."
        + _NAMES
        + " + ' add a dangerous capability'",
        (
            (
                "dangerous",
                f"variables.containers.filter(c, {_adds_capability_in(DANGEROUS_CAPABILITIES)})",
            ),
        ),
    ),
    BuiltinCel(
        "capabilities-not-dropped",
        "size(variables.undropped) == 0",
        "'capabilities-not-dropped: containers ' + variables.undropped."
        + _NAMES
        + " + ' do not drop ALL capabilities or add back more than NET_BIND_SERVICE'",
        (
            (
                "undropped",
                f"{_LINUX_CONTAINERS}.filter(c, "
                f"!{_capabilities('c', 'drop')}.exists(x, {_normalised('x')} == 'ALL') || "
                f"{_adds_capability_in(BASELINE_CAPABILITIES - RESTRICTED_ADDABLE)})",
            ),
        ),
    ),
    BuiltinCel(
        "windows-host-process",
        f"!({_has_path('variables.podSpec', 'securityContext', 'windowsOptions', 'hostProcess')} "
        "&& variables.podSpec.securityContext.windowsOptions.hostProcess == true) "
        "&& !variables.containers.exists(c, "
        f"{_context('c', 'windowsOptions', 'hostProcess')[0]} "
        "&& c.securityContext.windowsOptions.hostProcess == true)",
        "'windows-host-process: the pod runs Windows HostProcess containers'",
    ),
    _pod_flag("host-pid", "hostPID"),
    _pod_flag("host-ipc", "hostIPC"),
    _pod_flag("host-network", "hostNetwork"),
    BuiltinCel(
        "host-ports",
        "size(variables.hostPorts) == 0",
        "'host-ports: containers ' + variables.hostPorts." + _NAMES + " + ' bind host ports'",
        (
            (
                "hostPorts",
                "variables.containers.filter(c, has(c.ports) "
                "&& c.ports.exists(p, has(p.hostPort) && p.hostPort != 0))",
            ),
        ),
    ),
    BuiltinCel(
        "proc-mount-unmasked",
        "size(variables.unmasked) == 0",
        "'proc-mount-unmasked: containers ' + variables.unmasked."
        + _NAMES
        + " + ' set a procMount other than Default'",
        (
            (
                "unmasked",
                f"variables.containers.filter(c, {_context('c', 'procMount')[0]} "
                "&& c.securityContext.procMount != null "
                "&& c.securityContext.procMount != 'Default')",
            ),
        ),
    ),
    BuiltinCel(
        "unsafe-sysctls",
        f"!({_has_path('variables.podSpec', 'securityContext', 'sysctls')}) || "
        "variables.podSpec.securityContext.sysctls.all(s, "
        f"has(s.name) && s.name in {_sorted_list(SAFE_SYSCTLS)})",
        "'unsafe-sysctls: the pod sets sysctls outside the PSS safe set'",
    ),
    BuiltinCel(
        "writable-root-filesystem",
        "size(variables.writable) == 0",
        "'writable-root-filesystem: containers ' + variables.writable."
        + _NAMES
        + " + ' do not set readOnlyRootFilesystem: true'",
        (
            (
                "writable",
                f"{_LINUX_CONTAINERS}.filter(c, !({_context('c', 'readOnlyRootFilesystem')[0]} "
                "&& c.securityContext.readOnlyRootFilesystem == true))",
            ),
        ),
    ),
    BuiltinCel(
        "restricted-volume-types",
        "!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, v.all(k, "
        f"k == 'hostPath' || k in {_sorted_list(RESTRICTED_VOLUME_TYPES)}))",
        "'restricted-volume-types: the pod has volumes outside the PSS restricted types'",
    ),
    BuiltinCel(
        "resource-limits-missing",
        "size(variables.unlimited) == 0",
        "'resource-limits-missing: containers ' + variables.unlimited."
        + _NAMES
        + " + ' have no cpu or memory limit'",
        (
            (
                "unlimited",
                f"({_LIMITED}).filter(c, {_limit_missing('cpu')} || {_limit_missing('memory')})",
            ),
        ),
    ),
    BuiltinCel(
        "image-tag-mutable",
        "size(variables.mutable) == 0",
        "'image-tag-mutable: containers ' + variables.mutable."
        + _NAMES
        + " + ' use the latest tag or no tag'",
        (
            (
                "mutable",
                f"{_IMAGES}.filter(c, [c.image].all(image, !{_PINNED} "
                f"&& {_TAG} in ['', 'latest']))",
            ),
        ),
    ),
    BuiltinCel(
        "image-not-pinned",
        "size(variables.unpinned) == 0",
        "'image-not-pinned: containers ' + variables.unpinned."
        + _NAMES
        + " + ' use images without an @sha256: digest'",
        (("unpinned", f"{_IMAGES}.filter(c, [c.image].all(image, !{_PINNED}))"),),
    ),
    BuiltinCel(
        "default-namespace",
        "(has(object.metadata.namespace) && object.metadata.namespace != null "
        "&& object.metadata.namespace != '' && object.metadata.namespace != 'default') || "
        f"(has(object.metadata.name) && object.kind + '/' + object.metadata.name "
        f"in {_SYSTEM_OBJECTS})",
        "'default-namespace: ' + object.kind + ' ' + object.metadata.name "
        "+ ' is in the default namespace'",
        workload=False,
    ),
)

BUILTIN_CEL: Mapping[str, BuiltinCel] = {entry.rule_id: entry for entry in _ENTRIES}
"""Every exportable built-in rule by id, in catalogue order."""

EXPORTABLE_RULE_IDS: frozenset[str] = frozenset(BUILTIN_CEL)


def builtin_variables(entry: BuiltinCel) -> tuple[tuple[str, str], ...]:
    """All the variables of an entry, the shared workload ones first."""
    return (*WORKLOAD_VARIABLES, *entry.variables) if entry.workload else entry.variables


__all__ = [
    "BUILTIN_CEL",
    "EXPORTABLE_RULE_IDS",
    "WORKLOAD_VARIABLES",
    "BuiltinCel",
    "builtin_variables",
]
