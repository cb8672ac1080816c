"""A finding's life over time, and the alerts its changes raise.

The watcher (and ``scan --save``) compares what is found now with what was open before and emits a
``Transition`` per change; the store keeps them as each finding's history; alert sinks turn them
into ``Alert``s. A finding is identified across scans by its fingerprint (rule, resource, path),
the same one the scan report carries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from kposture.model.resources import ResourceRef
from kposture.model.rules import Severity


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"


class Change(StrEnum):
    """What a transition did to a finding."""

    OPENED = "opened"
    """First seen."""
    RESOLVED = "resolved"
    """No longer found: fixed, or its object deleted (see ``Transition.reason``)."""
    REOPENED = "reopened"
    """Found again after it was resolved."""
    SUPPRESSED = "suppressed"
    """Still there, but an exception or annotation now covers it."""
    UNSUPPRESSED = "unsuppressed"
    """The exception covering it expired or was removed."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of one finding, at ``at``, made by ``changed_by`` (the field manager or user of
    the object's last change, from managedFields, when known)."""

    fingerprint: str
    rule_id: str
    severity: Severity
    resource: ResourceRef
    path: str
    message: str
    change: Change
    at: dt.datetime
    changed_by: str = ""
    reason: str = ""
    """Why: ``fixed``, ``deleted``, the exception's reason..."""

    @property
    def status(self) -> FindingStatus:
        """The finding's status after this transition."""
        if self.change is Change.RESOLVED:
            return FindingStatus.RESOLVED
        if self.change is Change.SUPPRESSED:
            return FindingStatus.SUPPRESSED
        return FindingStatus.OPEN


@dataclass(frozen=True, slots=True)
class Alert:
    """What an alert sink sends: a finding transition, or an audit-log detection."""

    source: str
    """``finding`` or ``detection``."""
    rule_id: str
    severity: Severity
    message: str
    at: dt.datetime
    resource: ResourceRef | None
    cluster: str = ""
    change: str = ""
    """The transition's change for a finding alert."""
    dedup_key: str = ""
    """What the alert says, for a sink that de-duplicates: an alert whose key is the one last sent
    for its ``dedup_subject`` within the sink's window is not sent again. Producers include what
    makes two alerts different to a reader (for a finding, its fingerprint and its status after
    the change); an empty key is never de-duplicated."""
    event: Mapping[str, str] | None = field(default=None, hash=False)
    """A detection's audit event context: ``user``, ``verb``, ``resource``, ``namespace``,
    ``source_ip``, ``user_agent``, ``time`` (RFC 3339) and ``audit_id`` when known. Read-only."""

    @property
    def dedup_subject(self) -> str:
        """What the alert is about: a sink remembers the last key sent per subject, so another key
        for the same subject (a finding's next state) is always sent. The key itself here."""
        return self.dedup_key


@dataclass(frozen=True, slots=True)
class FindingAlert(Alert):
    """A finding's transition as the sinks take it: an ``Alert`` that keeps the transition, so the
    alert document can say why (``fixed``, ``deleted``, the exception) and who changed the object."""

    transition: Transition = field(hash=False, compare=False, kw_only=True)

    @property
    def dedup_subject(self) -> str:
        return self.transition.fingerprint


def finding_alert(transition: Transition, cluster: str) -> FindingAlert:
    """The alert for one stored transition. Its key is the finding and its status after the change
    (``<fingerprint>:open``, ``:resolved``, ``:suppressed``): the same state sent again is a
    duplicate, while consecutive transitions of a finding always differ in status, so each of them
    is sent."""
    return FindingAlert(
        source="finding",
        rule_id=transition.rule_id,
        severity=transition.severity,
        message=transition.message,
        at=transition.at,
        resource=transition.resource,
        cluster=cluster,
        change=transition.change.value,
        dedup_key=f"{transition.fingerprint}:{transition.status.value}",
        transition=transition,
    )
