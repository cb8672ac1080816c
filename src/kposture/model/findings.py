"""What rules return (``Violation``) and what the engine makes of it (``Finding``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kposture.model.resources import JsonPath, ResourceRef
from kposture.model.rules import Domain, Reference, Severity, Stage


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule's verdict on one field of one object.

    ``path`` points at the offending field; when the problem is a missing field, it names the field that
    should be set (reports then show the line of its deepest existing ancestor). ``evidence`` holds short,
    non-secret facts (a capability name, a host path) as key/value pairs.
    """

    message: str
    path: JsonPath = ()
    evidence: tuple[tuple[str, str], ...] = ()
    severity: Severity | None = None
    """Overrides the rule's default severity for this violation, e.g. Kubernetes defaults reported
    as info; None means the rule's (or the policy's) severity."""
    context: tuple[tuple[str, str], ...] = ()
    """Facts reported with the evidence that describe the finding's reach without identifying it
    (who holds a role, which ClusterRoles aggregate it): left out of the fingerprint, so a binding
    gaining a subject changes the finding's message, not the finding."""


NOT_OBSERVABLE: tuple[str, str] = ("coverage", "not-observable")
"""Evidence of a violation that records a rule could not observe what it judges (a managed
control plane): reported as info, and the maturity view counts it as unverified, never as a pass."""

BLOCKS_STAGE: tuple[str, str] = ("maturity", "blocks-stage")
"""Evidence of an info violation that still means its stage is not reached (a missing capability
such as no GitOps operator): the maturity view counts it like a finding above info."""


CONTROLS_KEY = "controls"
"""Evidence key narrowing a finding to some of the controls its rule cites (``controls_evidence``)."""


def controls_evidence(*refs: Reference) -> tuple[str, str]:
    """Evidence saying which of its rule's controls a finding bears on, e.g. ``("controls", "CIS
    2.2")`` for an etcd finding about ``--client-cert-auth`` of a rule citing CIS 2.2-2.6. The
    framework view counts the finding only against those controls of a named framework; frameworks
    the evidence does not name see the finding under every control the rule cites."""
    return (CONTROLS_KEY, ", ".join(ref.display() for ref in refs))


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding points: file, 1-based line and column, and the JSON path of the field."""

    file: str
    line: int
    column: int
    path: str


@dataclass(frozen=True, slots=True)
class Suppression:
    """Why a finding is suppressed: ``kind`` is ``annotation`` or ``policy``; ``expires`` is an ISO date."""

    kind: str
    reason: str
    expires: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """A violation with the rule's metadata, the resource, its location and a stable fingerprint."""

    rule_id: str
    title: str
    severity: Severity
    domain: Domain
    stage: Stage
    message: str
    resource: ResourceRef
    location: Location | None
    references: tuple[Reference, ...]
    remediation: str
    fingerprint: str
    evidence: tuple[tuple[str, str], ...] = ()
    suppressed_by: Suppression | None = field(default=None)

    @property
    def suppressed(self) -> bool:
        return self.suppressed_by is not None
