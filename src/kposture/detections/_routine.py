"""The routine event: most of a real audit log is Kubernetes talking to itself, and the detections
that look at every event have nothing to say about it.

An event is routine when its requester is one of Kubernetes' own identities (a component or a
node: a ``system:`` user that is neither a ServiceAccount nor anonymous; or a ServiceAccount of a
protected namespace), it impersonates no one, its groups do not include
``system:unauthenticated``, and the peer that sent it (the last source IP) is not a public
address. A detection whose gate answers no to every routine event says so
(``Detection.quiet_when_routine``); the detector then asks this one reading instead of each such
gate, which reads the user and source IPs once per event instead of once per gate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kposture.detections.identity import is_public_address
from kposture.model.audit import ANONYMOUS_USER, SERVICE_ACCOUNT_PREFIX, UNAUTHENTICATED_GROUP

MAX_REMEMBERED = 10_000
"""Distinct user names and addresses each table remembers; past that it starts again, so a stream
of made-up names cannot grow it."""


def is_own_identity(username: str, protected: Iterable[str]) -> bool:
    """Whether ``username`` is a component's, a node's or a protected namespace's ServiceAccount's
    (``_events.is_kubernetes_identity`` read from the raw name)."""
    if not username.startswith("system:") or username == ANONYMOUS_USER:
        return False
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return True
    return username[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")[0] in protected


class RoutineReading:
    """Tells routine raw events (see the module docstring) from the others, remembering its verdict
    per user name and per address."""

    __slots__ = ("_addresses", "_protected", "_users")

    def __init__(self, protected: Iterable[str]) -> None:
        self._protected = frozenset(protected)
        self._users: dict[str, bool] = {}
        self._addresses: dict[str, bool] = {}

    def is_routine(self, raw: Mapping[str, Any]) -> bool:
        user = raw.get("user")  # a type other than json's own is never routine: the gates judge it
        if type(user) is not dict or raw.get("impersonatedUser") is not None:
            return False
        username = user.get("username")
        if type(username) is not str:
            return False
        own = self._users.get(username)
        if own is None:
            own = self._remember(self._users, username, is_own_identity(username, self._protected))
        if not own:
            return False
        groups = user.get("groups")
        if isinstance(groups, list) and UNAUTHENTICATED_GROUP in groups:
            return False
        addresses = raw.get("sourceIPs")
        if not isinstance(addresses, list) or not addresses:
            return True
        peer = addresses[-1]  # the peer; the others are the client's to claim
        if not isinstance(peer, str):
            return True
        public = self._addresses.get(peer)
        if public is None:
            public = self._remember(self._addresses, peer, is_public_address(peer))
        return not public

    @staticmethod
    def _remember(table: dict[str, bool], key: str, verdict: bool) -> bool:
        if len(table) >= MAX_REMEMBERED:
            table.clear()
        table[key] = verdict
        return verdict
