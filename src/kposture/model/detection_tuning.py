"""Tuning of audit-log detections from the policy file: ``AllowEntry``, one allowlist entry.

An entry names the detections it applies to (``*`` for all) and who or what is expected: users,
groups, ServiceAccounts (``namespace/name``), namespaces and user agents (shell-style globs), and
source ranges (CIDRs). Every field given must match (any of its values); a reason is required and
an expiry date is optional. The policy file reader builds them; the detector applies them
(``kposture.detections.tuning``): an allowlisted hit is counted, not alerted.
"""

from __future__ import annotations

from dataclasses import dataclass

PLACEHOLDER_MARK = "FILL IN"
REASON_PLACEHOLDER = f"{PLACEHOLDER_MARK}: why this is expected"
"""The reason ``detect tune`` writes into the entries it suggests; the policy file rejects a reason
that still holds the mark, so an entry is not pasted without saying why."""


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One allowlist entry for one or more detections (``*``: every detection)."""

    detections: tuple[str, ...]
    reason: str
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()
    source_ranges: tuple[str, ...] = ()
    expires: str = ""
    """ISO date (``2027-01-31``); the entry stops applying after that day. Empty: never expires."""
    source: str = ""
    line: int = 0

    @property
    def label(self) -> str:
        """Where the entry is written: ``policy.yaml:12``."""
        return f"{self.source}:{self.line}" if self.source else f"line {self.line}"
