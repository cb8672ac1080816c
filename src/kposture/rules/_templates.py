"""Shared check shapes for the rule families: one parameterised check, many instances.

Owns the check templates (a boolean field on the pod spec, a field of each container's
securityContext, hostPath volumes matched by a predicate, added capabilities matched by a
predicate), the small readers they share (security contexts, capability normalisation, host path
normalisation, the Windows-pod test, pod-over-container precedence, the seccomp profile in effect
per container) and ``workload_meta``, which
fills the metadata every workload rule has in common. Families import from here and never from each
other. Everything is pure and allocation-light: the scan runs every rule on every object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any

from kposture.inventory import (
    WORKLOAD_KINDS,
    ContainerRef,
    Inventory,
    PodSpecRef,
    containers,
    pod_spec,
    pod_template_metadata,
)
from kposture.inventory.capabilities import normalize_capability
from kposture.inventory.host_paths import normalize_host_path
from kposture.model import (
    Domain,
    JsonPath,
    K8sObject,
    Reference,
    RuleMeta,
    Severity,
    Stage,
    Violation,
)
from kposture.rules.base import Check

EMPTY: Mapping[str, Any] = MappingProxyType({})
SECURITY_CONTEXT = "securityContext"


def rule_meta(
    rule_id: str,
    title: str,
    severity: Severity,
    stage: Stage,
    kinds: tuple[str, ...],
    *,
    domain: Domain,
    remediation: str,
    description: str,
    references: tuple[Reference, ...],
    fix_snippet: str,
    requires: tuple[str, ...] = (),
) -> RuleMeta:
    """Rule metadata in the order families write it; each family binds its domain (and, where all
    its rules share them, its kinds) with ``functools.partial``."""
    return RuleMeta(
        id=rule_id,
        title=title,
        severity=severity,
        domain=domain,
        stage=stage,
        kinds=kinds,
        remediation=remediation,
        description=description,
        references=references,
        fix_snippet=fix_snippet,
        requires=requires,
    )


workload_meta = partial(rule_meta, kinds=WORKLOAD_KINDS, domain=Domain.WORKLOAD_PRIVILEGES)
"""Metadata of a workload-privileges rule: the domain and kinds are the same for all of them."""


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (``key:`` with no value parses as None)."""
    if type(value) is dict:  # the common cases first, without the slow ABC instance check
        return value
    if value is None:
        return EMPTY
    return value if isinstance(value, Mapping) else EMPTY


def context_of(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``securityContext`` of a pod spec or a container, empty when absent."""
    return mapping(node.get(SECURITY_CONTEXT))


def is_windows(spec: Mapping[str, Any]) -> bool:
    """Whether the pod sets ``spec.os.name: windows``; PSS exempts those from Linux-only checks."""
    return mapping(spec.get("os")).get("name") == "windows"


def linux_containers(obj: K8sObject) -> tuple[ContainerRef, ...]:
    """Every container of a workload unless the pod is a Windows pod (then none)."""
    ref = pod_spec(obj)
    if ref is None or is_windows(ref.spec):
        return ()
    return containers(obj)


def inherited(
    container: ContainerRef, pod_context: Mapping[str, Any], pod_context_path: JsonPath, field: str
) -> tuple[Any, JsonPath]:
    """The value of ``field`` in effect for a container, and where it is set.

    The container's securityContext wins over the pod's; when neither sets it the value is None
    and the path names the container-level field that should be set.
    """
    own = context_of(container.container)
    container_path = (*container.path, SECURITY_CONTEXT, field)
    value = own.get(field)
    if value is not None:
        return value, container_path
    value = pod_context.get(field)
    if value is not None:
        return value, (*pod_context_path, field)
    return None, container_path


# --- capabilities ---------------------------------------------------------------------------------


def capability_list(container: Mapping[str, Any], which: str) -> list[Any]:
    """The ``add`` or ``drop`` capability list of a container, empty when absent or malformed."""
    items = mapping(context_of(container).get("capabilities")).get(which)
    return items if isinstance(items, list) else []


def added_capability_check(
    is_bad: Callable[[str], bool], describe: Callable[[str, str], str]
) -> Check:
    """A check reporting each added capability ``is_bad`` accepts, one violation per list item."""

    def check(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
        for ref in containers(obj):
            added = capability_list(ref.container, "add")
            for index, raw in enumerate(added):
                capability = normalize_capability(raw)
                if is_bad(capability):
                    yield Violation(
                        describe(ref.name, capability),
                        (*ref.path, SECURITY_CONTEXT, "capabilities", "add", index),
                        (("container", ref.name), ("capability", capability)),
                    )

    return check


# --- pod-spec and container fields ----------------------------------------------------------------


def pod_flag_check(field: str, describe: str) -> Check:
    """A check failing when the pod spec sets the boolean ``field`` to true (hostPID...)."""

    def check(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
        ref = pod_spec(obj)
        if ref is not None and ref.spec.get(field) is True:
            yield Violation(describe, (*ref.path, field))

    return check


def container_field_check(
    field: tuple[str, ...],
    is_bad: Callable[[Any], bool],
    describe: Callable[[str, Any], str],
    *,
    linux_only: bool = False,
) -> Check:
    """A check failing for each container whose ``securityContext.<field...>`` value ``is_bad``.

    ``is_bad`` receives None for an unset field, so "must be set to false" checks report missing
    fields too. ``linux_only`` exempts Windows pods, as PSS does for its Linux-only controls.
    """

    def check(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
        refs = linux_containers(obj) if linux_only else containers(obj)
        for ref in refs:
            value: Any = context_of(ref.container)
            for key in field:
                value = mapping(value).get(key) if value is not None else None
            if is_bad(value):
                yield Violation(
                    describe(ref.name, value),
                    (*ref.path, SECURITY_CONTEXT, *field),
                    (("container", ref.name),),
                )

    return check


# --- volumes --------------------------------------------------------------------------------------


def volumes(obj: K8sObject) -> Iterator[tuple[Mapping[str, Any], JsonPath]]:
    """Every volume of a workload's pod spec with its JSON path."""
    ref = pod_spec(obj)
    if ref is None:
        return
    items = ref.spec.get("volumes")
    if not isinstance(items, list):
        return
    for index, volume in enumerate(items):
        if isinstance(volume, Mapping):
            yield volume, (*ref.path, "volumes", index)


def host_path_check(matches: Callable[[str], bool], describe: Callable[[str, str], str]) -> Check:
    """A check reporting each hostPath volume whose normalised path ``matches``.

    Every volume with a ``hostPath`` key is considered, even a malformed one (``hostPath: null``),
    whose path is then empty: the hostPath rules between them must see every volume that
    ``restricted-volume-types`` leaves to them.
    """

    def check(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
        for volume, path in volumes(obj):
            if "hostPath" not in volume:
                continue
            raw = mapping(volume.get("hostPath")).get("path")
            text = normalize_host_path(raw) if isinstance(raw, str) and raw.strip() else ""
            if matches(text):
                name = str(volume.get("name", f"#{path[-1]}"))
                yield Violation(
                    describe(name, text or "<no path>"),
                    (*path, "hostPath", "path"),
                    (("volume", name), ("host_path", text)),
                )

    return check


# --- seccomp --------------------------------------------------------------------------------------

SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"
CONFINED_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
CONFINED_SECCOMP_ANNOTATIONS = frozenset({"runtime/default", "docker/default"})
LOCALHOST_PREFIX = "localhost/"
ANNOTATIONS = "annotations"


def template_annotations(obj: K8sObject) -> tuple[Mapping[str, Any], JsonPath]:
    """The annotations of a workload's pod (template) metadata and their path, empty when absent."""
    meta = pod_template_metadata(obj)
    if meta is None:
        return EMPTY, ()
    return mapping(meta.spec.get(ANNOTATIONS)), (*meta.path, ANNOTATIONS)


def profile_type(context: Mapping[str, Any], field: str) -> Any:
    """``<field>.type`` of a securityContext (``seccompProfile``, ``appArmorProfile``)."""
    return mapping(context.get(field)).get("type")


@dataclass(frozen=True, slots=True)
class SeccompSetting:
    """The seccomp setting in effect for one container: its value (None when nothing is set), where
    it is set (the container's own field when nothing is) and whether it is a legacy annotation."""

    container: ContainerRef
    value: Any
    path: JsonPath
    annotation: bool

    @property
    def confined(self) -> bool:
        """RuntimeDefault or Localhost (runtime/default, docker/default, localhost/* annotations)."""
        if not self.annotation:
            return self.value in CONFINED_PROFILE_TYPES
        return isinstance(self.value, str) and (
            self.value in CONFINED_SECCOMP_ANNOTATIONS or self.value.startswith(LOCALHOST_PREFIX)
        )

    @property
    def unconfined(self) -> bool:
        """An explicit Unconfined (``unconfined`` as an annotation)."""
        return bool(self.value == ("unconfined" if self.annotation else "Unconfined"))


def seccomp_settings(obj: K8sObject, ref: PodSpecRef) -> Iterator[SeccompSetting]:
    """The seccomp setting in effect for every container of the pod spec ``ref`` of ``obj``.

    Precedence is the kubelet's: container field, container annotation, pod field, pod annotation.
    """
    annotations, annotations_path = template_annotations(obj)
    pod_value = profile_type(context_of(ref.spec), "seccompProfile")
    pod_path = (*ref.path, SECURITY_CONTEXT, "seccompProfile", "type")
    for container in containers(obj):
        own_path = (*container.path, SECURITY_CONTEXT, "seccompProfile", "type")
        value = profile_type(context_of(container.container), "seccompProfile")
        key = SECCOMP_CONTAINER_ANNOTATION + container.name
        if value is not None:
            yield SeccompSetting(container, value, own_path, False)
        elif annotations.get(key) is not None:
            yield SeccompSetting(container, annotations[key], (*annotations_path, key), True)
        elif pod_value is not None:
            yield SeccompSetting(container, pod_value, pod_path, False)
        elif annotations.get(SECCOMP_POD_ANNOTATION) is not None:
            path = (*annotations_path, SECCOMP_POD_ANNOTATION)
            yield SeccompSetting(container, annotations[SECCOMP_POD_ANNOTATION], path, True)
        else:
            yield SeccompSetting(container, None, own_path, False)
