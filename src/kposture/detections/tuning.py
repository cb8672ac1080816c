"""Applies the policy file's detection allowlist (``model.detection_tuning.AllowEntry``) to alerts.

``Allowlist`` compiles the entries once (globs kept as they are, CIDRs parsed) and answers, for one
alert, the first entry that covers it. Expiry is judged against the day the driver gives (the
detector holds no clock): an expired entry stops applying. Source ranges match the peer only (the
last of ``sourceIPs``, ``AuditEvent.source_ip``): the addresses before it come from the client's
``X-Forwarded-For`` and ``X-Real-Ip`` headers, so a forged header neither puts a request inside an
allowlisted range nor takes it out.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from kposture.detections._events import CHANGE_VERBS, is_kubernetes_identity
from kposture.detections.workload_changes import WORKLOAD_RESOURCES
from kposture.model.audit import AuditEvent
from kposture.model.detection_tuning import AllowEntry

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _globs(patterns: Iterable[str], value: str) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class _Compiled:
    entry: AllowEntry
    networks: tuple[Network, ...]
    expires: dt.date | None

    def applies_to(self, detection_id: str) -> bool:
        return "*" in self.entry.detections or detection_id in self.entry.detections

    def covers(self, event: AuditEvent) -> bool:
        entry = self.entry
        user = event.user
        if entry.users and not _globs(entry.users, user.username):
            return False
        if entry.groups and not any(_globs(entry.groups, group) for group in user.groups):
            return False
        if entry.service_accounts:
            account = user.service_account
            if account is None or not _globs(entry.service_accounts, f"{account[0]}/{account[1]}"):
                return False
        if entry.namespaces and not _globs(entry.namespaces, event.ref.namespace):
            return False
        if entry.user_agents and not _globs(entry.user_agents, event.user_agent):
            return False
        return not self.networks or _in_ranges(event.source_ip, self.networks)


def _conditions(entry: AllowEntry) -> tuple[tuple[str, ...], ...]:
    """The entry's conditions that hold a value; ``covers`` skips the empty ones."""
    fields = (
        entry.users,
        entry.groups,
        entry.service_accounts,
        entry.namespaces,
        entry.user_agents,
        entry.source_ranges,
    )
    return tuple(values for values in fields if values)


def _in_ranges(peer: str, networks: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False  # no address, or not one
    return any(address in network for network in networks)


class Allowlist:
    """The entries, ready to match; ``match`` gives the entry covering an alert or None."""

    def __init__(self, entries: Iterable[AllowEntry] = ()) -> None:
        compiled = []
        for entry in entries:
            if not _conditions(entry):
                message = (
                    f"{entry.label}: an allowlist entry with no condition would cover everyone"
                )
                raise ValueError(message)
            networks = tuple(
                ipaddress.ip_network(text, strict=False) for text in entry.source_ranges
            )
            expires = dt.date.fromisoformat(entry.expires) if entry.expires else None
            compiled.append(_Compiled(entry, networks, expires))
        self._entries = tuple(compiled)
        self.detection_ids = frozenset(d for item in compiled for d in item.entry.detections)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def match(self, detection_id: str, event: AuditEvent, today: dt.date) -> AllowEntry | None:
        for item in self._entries:
            if item.expires is not None and today > item.expires:
                continue
            if item.applies_to(detection_id) and item.covers(event):
                return item.entry
        return None

    def expired(self, today: dt.date) -> tuple[AllowEntry, ...]:
        return tuple(
            item.entry
            for item in self._entries
            if item.expires is not None and today > item.expires
        )


def written_for_someone_else(event: AuditEvent, protected: Iterable[str]) -> bool:
    """Whether the event writes a pod or a workload as one of Kubernetes' own identities (the
    ReplicaSet, Job or DaemonSet controller, a ``system:`` component, a ServiceAccount of a
    ``protected`` namespace). Such an identity writes objects for whoever wrote the workload above
    them, so an allowlist entry for it would silence every such object in its namespaces, not the
    one expected: there is no safe entry to suggest."""
    ref = event.ref
    return (
        event.verb in CHANGE_VERBS
        and not ref.subresource
        and ref.resource in WORKLOAD_RESOURCES
        and is_kubernetes_identity(event.user, protected)
    )
