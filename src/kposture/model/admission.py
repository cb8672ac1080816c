"""Admission decisions: what the webhook decided for one AdmissionReview and why.

The server makes them, the store keeps them, ``kposture admission log`` and the metrics read them.
A decision lists every rule the object violated with the mode in force for that rule in that
namespace, so a dry-run decision says exactly what enforcing would have denied.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from kposture.model.resources import ResourceRef
from kposture.model.rules import Severity


class AdmissionMode(StrEnum):
    """What a violated rule does at admission."""

    ENFORCE = "enforce"
    """Deny the request with a message naming each violation, its rule id and the fix."""
    WARN = "warn"
    """Allow it with AdmissionReview ``warnings`` (kubectl prints them)."""
    DRY_RUN = "dry-run"
    """Allow it and record what would have been denied."""


class Outcome(StrEnum):
    """The decision's result as the API server and the log see it."""

    ALLOWED = "allowed"
    """No violation (or only violations the change did not introduce)."""
    DENIED = "denied"
    WARNED = "warned"
    DRY_RUN = "dry-run"
    """Allowed; enforcing the dry-run rules would have denied it."""
    EXEMPT = "exempt"
    """Allowed without judging: an exempt namespace, label selector, user or group."""
    ERROR = "error"
    """The request could not be judged (a malformed review, an error in a rule)."""


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One violated rule in a decision, with the mode in force for it."""

    rule_id: str
    severity: Severity
    mode: AdmissionMode
    message: str


@dataclass(frozen=True, slots=True)
class AdmissionDecision:
    """One AdmissionReview judged: who asked for what, what was found, what was decided."""

    uid: str
    time: dt.datetime
    operation: str
    user: str
    groups: tuple[str, ...]
    resource: ResourceRef
    outcome: Outcome
    verdicts: tuple[RuleVerdict, ...] = ()
    latency_ms: float = 0.0
    reason: str = ""
    """Why it was exempt, or the error; empty otherwise."""
    dry_run: bool = False
    """The request itself was a dry run (``kubectl --dry-run=server``)."""
