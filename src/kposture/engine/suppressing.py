"""Exceptions: decide whether a finding is suppressed, by annotation or by a policy-file entry.

Suppressed findings are kept and marked; an expired policy exception no longer suppresses. Dates are
ISO strings compared against the scan date the caller passes in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from kposture.inventory import namespace_of, pod_template_metadata
from kposture.model import ExceptionEntry, K8sObject, RunPolicy, Suppression

IGNORE_ANNOTATION = "kposture.io/ignore"
IGNORE_REASON_ANNOTATION = "kposture.io/ignore-reason"


@dataclass(frozen=True, slots=True)
class AnnotationExemption:
    """The rule ids an object exempts itself from, and the reason it gives (empty when missing)."""

    rule_ids: frozenset[str]
    reason: str


def _annotation_sources(obj: K8sObject) -> list[Mapping[str, object]]:
    sources: list[Mapping[str, object]] = [obj.annotations]
    template = pod_template_metadata(obj)
    if template is not None and template.path != ("metadata",):
        annotations = template.spec.get("annotations")
        if isinstance(annotations, Mapping):
            sources.append(annotations)
    return sources


def annotation_exemption(obj: K8sObject) -> AnnotationExemption | None:
    """Read ``kposture.io/ignore`` (comma-separated rule ids) and its reason from the object or its
    pod template."""
    rule_ids: set[str] = set()
    reasons: list[str] = []
    for source in _annotation_sources(obj):
        value = source.get(IGNORE_ANNOTATION)
        if isinstance(value, str):
            rule_ids.update(
                part.strip() for part in value.replace("\n", ",").split(",") if part.strip()
            )
        reason = source.get(IGNORE_REASON_ANNOTATION)
        if isinstance(reason, str) and reason.strip():
            reasons.append(reason.strip())
    if not rule_ids:
        return None
    return AnnotationExemption(frozenset(rule_ids), "; ".join(dict.fromkeys(reasons)))


def _matches_any(value: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatchcase(value, pattern) for pattern in patterns)


def exception_applies(entry: ExceptionEntry, rule_id: str, obj: K8sObject) -> bool:
    """Whether the entry's scope (rules, namespaces, kinds, names, selector) covers this finding."""
    # A Namespace is cluster-scoped; a namespace-scoped exception covers the namespace itself too.
    # A namespaced object whose manifest names no namespace lands in (and matches) `default`.
    namespace = obj.ref.name if obj.ref.kind == "Namespace" else namespace_of(obj)
    return (
        _matches_any(rule_id, entry.rules)
        and _matches_any(namespace, entry.namespaces)
        and _matches_any(obj.ref.kind, entry.kinds)
        and _matches_any(obj.ref.name, entry.names)
        and (entry.selector is None or entry.selector.matches(obj.labels))
    )


def is_expired(entry: ExceptionEntry, today: dt.date) -> bool:
    return bool(entry.expires) and dt.date.fromisoformat(entry.expires) < today


def suppression_for(
    rule_id: str,
    obj: K8sObject,
    policy: RunPolicy,
    today: dt.date,
    exemption: AnnotationExemption | None,
) -> Suppression | None:
    """The suppression that applies to ``rule_id`` on ``obj``, policy file first, then annotation."""
    for entry in policy.exceptions:
        if not is_expired(entry, today) and exception_applies(entry, rule_id, obj):
            return Suppression("policy", entry.reason, entry.expires)
    if (
        policy.allow_annotation_exceptions
        and exemption is not None
        and exemption.reason
        and rule_id in exemption.rule_ids
    ):
        return Suppression("annotation", exemption.reason)
    return None
