"""Stateful detections over a stream of events, with bounded memory: bursts of forbidden (403)
requests by one identity or from one source IP in a sliding window, and requests from a source IP or
user agent an identity was never seen with (after a learning period).

Time is the events' own ``requestReceivedTimestamp``, so a replayed log gives the same alerts as the
live stream did; events without one are not judged here. Each state keeps at most
``max_tracked_identities`` identities, dropping the least recently seen.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kposture.detections._bounded import BoundedTable, Burst
from kposture.detections._containment import revoke_step
from kposture.detections._events import (
    by_kubernetes,
    is_kubernetes_identity,
    mitre,
    raw_by_outsider,
    requested,
    who,
)
from kposture.detections.base import Detection
from kposture.detections.settings import DetectionSettings
from kposture.model import Severity
from kposture.model.audit import SERVICE_ACCOUNT_PREFIX, AuditEvent
from kposture.model.incidents import DetectionMeta, Hit


class ForbiddenBursts:
    """Per identity and per source IP, the last ``threshold`` denied requests and when the last
    alert was raised."""

    __slots__ = ("settings", "table")

    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings
        self.table: BoundedTable[str, Burst] = BoundedTable(settings.max_tracked_identities)

    def add(self, key: str, at: dt.datetime, request: str) -> list[str] | None:
        burst = self.table.get(key)
        if burst is None:
            burst = Burst(self.settings.forbidden_threshold)
            self.table.put(key, burst)
        return burst.add(at, request, self.settings.forbidden_window)


def _forbidden(event: AuditEvent, state: ForbiddenBursts) -> Iterator[Hit]:
    at = event.received_at
    if not event.forbidden or at is None:
        return
    settings = state.settings
    if by_kubernetes(event, settings.protected_namespaces):
        return  # nodes and components are denied routinely (the node authorizer's limits)
    identity = event.user.username or "<unknown user>"
    request = requested(event)
    bursts = [("identity", identity, state.add(f"user\0{identity}", at, request))]
    if event.source_ip:
        source = state.add(f"ip\0{event.source_ip}", at, request)
        bursts.append(("source IP", event.source_ip, source))
    found = [(label, key, tried) for label, key, tried in bursts if tried is not None]
    if not found:
        return
    tried = list(dict.fromkeys(request for _, _, requests in found for request in requests or ()))
    seconds = int(settings.forbidden_window.total_seconds())
    shown = ", ".join(tried[:5]) + (f" and {len(tried) - 5} more" if len(tried) > 5 else "")
    by_ip = [key for label, key, _ in found if label == "source IP"]
    subject = who(event) if any(label == "identity" for label, _, _ in found) else ""
    if subject:
        opening = f"{subject} was denied {settings.forbidden_threshold} requests"
    else:
        opening = (
            f"source IP {by_ip[0]} was denied {settings.forbidden_threshold} requests (the last "
            f"by {identity})"
        )
    yield Hit(
        f"{opening} within {seconds} s ({shown})",
        "Find out what the identity was looking for; a burst of denials is permission "
        "discovery with stolen credentials. " + revoke_step(event, None),
        None,
        (
            ("identity", identity),
            ("source_ip", event.source_ip),
            ("burst_by", ", ".join(label for label, _, _ in found)),
            ("denied", str(settings.forbidden_threshold)),
            ("tried", shown),
        ),
    )


def _forbidden_gate(raw: Mapping[str, Any], state: ForbiddenBursts) -> bool:
    status = raw.get("responseStatus")
    code = status.get("code") if isinstance(status, dict) else None
    if code is not None:
        denied = code == 403
    else:
        annotations = raw.get("annotations")
        denied = not isinstance(annotations, dict) or (
            annotations.get("authorization.k8s.io/decision") != "allow"
        )
    return denied and raw_by_outsider(raw, state.settings.protected_namespaces)


FORBIDDEN_BURST = Detection(
    DetectionMeta(
        id="forbidden-burst",
        title="Burst of forbidden requests by one identity or source IP",
        severity=Severity.MEDIUM,
        technique=mitre("T1613", "Container and Resource Discovery"),
        tactic="discovery",
        description=(
            "One identity, or one source IP, was denied (403) at least the threshold number of "
            "requests (default 10) within the window (default 60 s): someone trying what a "
            "credential (or several) can do. One alert per identity or address and window; "
            "state is bounded (least recently seen dropped). Nodes and components, denied "
            "routinely, are not judged."
        ),
        response="Find out who holds the credential and what it was probing for.",
        stateful=True,
    ),
    _forbidden,
    ForbiddenBursts,
    gate=_forbidden_gate,
    quiet_when_routine=True,
)


@dataclass(slots=True)
class _Profile:
    first_seen: dt.datetime
    ips: OrderedDict[str, None] = field(default_factory=OrderedDict)
    agents: OrderedDict[str, None] = field(default_factory=OrderedDict)


class FirstSeen:
    """The source IPs and user-agent products each identity was seen with, and when the stream (and
    each identity) started."""

    __slots__ = ("_products", "settings", "started", "table")

    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings
        self.started: dt.datetime | None = None
        self.table: BoundedTable[str, _Profile] = BoundedTable(settings.max_tracked_identities)
        self._products: dict[str, str] = {}

    def product(self, user_agent: str) -> str:
        """``agent_product(user_agent)``, remembered: a cluster's clients send a few user agents
        over and over (the table starts again at the identities' bound)."""
        found = self._products.get(user_agent)
        if found is None:
            if len(self._products) >= max(1, self.settings.max_tracked_identities):
                self._products.clear()
            found = self._products[user_agent] = agent_product(user_agent)
        return found


def agent_product(user_agent: str) -> str:
    """``kubectl`` for ``kubectl/v1.29.1 (linux/amd64) kubernetes/abc``: versions change with every
    upgrade, the program does not."""
    return user_agent.strip().split(" ", 1)[0].split("/", 1)[0].lower()


def _remember(seen: OrderedDict[str, None], value: str, capacity: int) -> bool:
    """Record ``value``; whether it was new."""
    if not value:
        return False
    if value in seen:
        seen.move_to_end(value)
        return False
    seen[value] = None
    while len(seen) > max(1, capacity):
        seen.popitem(last=False)
    return True


def _new_origin(event: AuditEvent, state: FirstSeen) -> Iterator[Hit]:
    at = event.received_at
    user = event.user
    if at is None or not user.username or user.is_anonymous:
        return
    settings = state.settings
    if is_kubernetes_identity(user, settings.protected_namespaces):
        return  # components, nodes and kube-system's accounts move with the control plane
    if state.started is None:
        state.started = at
    profile = state.table.get(user.username)
    if profile is None:
        profile = _Profile(at)
        state.table.put(user.username, profile)
    new_ip = _remember(profile.ips, event.source_ip, settings.max_origins_per_identity)
    product = state.product(event.user_agent)
    new_agent = _remember(profile.agents, product, settings.max_origins_per_identity)
    learning = (
        at - state.started < settings.first_seen_warmup
        or at - profile.first_seen < settings.identity_learning
    )
    if learning or not (new_ip or new_agent):
        return
    changes = []
    if new_ip:
        changes.append(f"source IP {event.source_ip}")
    if new_agent:
        changes.append(f"user agent {product!r}")
    yield Hit(
        f"{user.username} made a request from a never-seen {' and '.join(changes)}: "
        + requested(event),
        "Confirm with the identity's owner that the new origin is theirs; if not, treat the "
        "credential as stolen. " + revoke_step(event, "the access it used"),
        Severity.MEDIUM if new_ip else None,
        (
            ("identity", user.username),
            ("new_source_ip", event.source_ip if new_ip else ""),
            ("new_user_agent", product if new_agent else ""),
        ),
    )


def _new_origin_gate(raw: Mapping[str, Any], state: FirstSeen) -> bool:
    """False only for a component's request, or an identity already seen with this source IP and
    user-agent product (``_new_origin`` would only refresh them, learning or not: they are
    refreshed here)."""
    user = raw.get("user")
    if not isinstance(user, dict):
        return True
    username = user.get("username")
    if not isinstance(username, str) or not username:
        return False
    if username.startswith("system:"):
        if not username.startswith(SERVICE_ACCOUNT_PREFIX):
            return False  # components, nodes and the anonymous user are not judged
        namespace = username[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")[0]
        if namespace in state.settings.protected_namespaces:
            return False
    profile = state.table.get(username)
    if profile is None:
        return True
    ips = raw.get("sourceIPs")
    ip = ips[0] if isinstance(ips, list) and ips and isinstance(ips[0], str) else ""
    agent = raw.get("userAgent")
    product = state.product(agent) if isinstance(agent, str) else ""
    if (ip and ip not in profile.ips) or (product and product not in profile.agents):
        return True
    if ip:
        profile.ips.move_to_end(ip)
    if product:
        profile.agents.move_to_end(product)
    return False


NEW_ORIGIN = Detection(
    DetectionMeta(
        id="first-seen-source",
        title="Identity seen from a new source IP or user agent",
        severity=Severity.LOW,
        technique=mitre("T1078", "Valid Accounts"),
        tactic="initial-access",
        description=(
            "A person or a workload's ServiceAccount made a request from a source IP (medium) or "
            "with a user-agent program (low) it was never seen with. Learned silently during a "
            "warm-up from the first event (default 1 h) and for each new identity's first hour; "
            "bounded per identity and in identities. Kubernetes components, nodes and the "
            "protected namespaces' ServiceAccounts are not judged."
        ),
        response=(
            "Confirm the new origin with the identity's owner; treat the credential as stolen "
            "otherwise."
        ),
        stateful=True,
    ),
    _new_origin,
    FirstSeen,
    gate=_new_origin_gate,
    quiet_when_routine=True,
)

DETECTIONS: tuple[Detection, ...] = (FORBIDDEN_BURST, NEW_ORIGIN)
