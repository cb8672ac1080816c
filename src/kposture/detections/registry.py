"""The built-in detections: an explicit tuple of families (no import magic), and the checks every
detection's metadata must pass before it is used."""

from __future__ import annotations

import re

from kposture.detections import (
    anomalies,
    credential_access,
    exposure,
    identity,
    rbac_changes,
    secret_reads,
    system_namespaces,
    tampering,
    workload_access,
    workload_changes,
)
from kposture.detections.base import Detection
from kposture.model import Framework
from kposture.model.incidents import DetectionMeta

FAMILIES = (
    workload_access,
    workload_changes,
    exposure,
    secret_reads,
    credential_access,
    rbac_changes,
    identity,
    system_namespaces,
    tampering,
    anomalies,
)

_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
TACTICS = frozenset(
    {
        "initial-access",
        "execution",
        "persistence",
        "privilege-escalation",
        "defense-evasion",
        "credential-access",
        "discovery",
        "lateral-movement",
        "collection",
        "command-and-control",
        "impact",
    }
)


class DetectionRegistryError(ValueError):
    """A detection with a duplicate id or malformed metadata."""


def metadata_problems(meta: DetectionMeta) -> list[tuple[str, str]]:
    """What is wrong with a detection's metadata, each problem with the field it is about (``id``,
    ``title``, ``technique``, ``tactic``, ``description``, ``response``)."""
    problems = []
    if not _ID.match(meta.id):
        problems.append(("id", "id is not kebab-case"))
    if not meta.title or len(meta.title) >= 80:
        problems.append(("title", "title is empty or 80 characters or longer"))
    if any(
        reference.framework is not Framework.MITRE or not _TECHNIQUE.match(reference.id)
        for reference in meta.references
    ):
        problems.append(("technique", "technique is not a MITRE ATT&CK technique id"))
    if meta.tactic not in TACTICS:
        problems.append(("tactic", f"unknown tactic {meta.tactic!r}"))
    for name, text in (("description", meta.description), ("response", meta.response)):
        if not text.strip().endswith("."):
            problems.append((name, f"{name} does not end with a period"))
    return problems


def validate(detection: Detection) -> None:
    problems = metadata_problems(detection.meta)
    if problems:
        messages = "; ".join(message for _, message in problems)
        raise DetectionRegistryError(f"detection {detection.meta.id!r}: {messages}")


def registry(detections: tuple[Detection, ...] | None = None) -> tuple[Detection, ...]:
    """The given detections (the built-in ones by default), validated, in a stable order."""
    chosen = (
        tuple(d for family in FAMILIES for d in family.DETECTIONS)
        if detections is None
        else detections
    )
    seen: set[str] = set()
    for detection in chosen:
        validate(detection)
        if detection.id in seen:
            raise DetectionRegistryError(f"duplicate detection id {detection.id!r}")
        seen.add(detection.id)
    return chosen


def builtin_detections() -> tuple[Detection, ...]:
    return registry()
