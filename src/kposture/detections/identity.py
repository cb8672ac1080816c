"""Detections about who is asking: anonymous (unauthenticated) requests the API server allowed,
impersonation (a requester acting as another user, group or ServiceAccount), and Kubernetes' own
identities (components, nodes, ServiceAccounts) authenticating from a public address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from kposture.detections._bounded import BoundedTable
from kposture.detections._containment import who_can_command, who_can_request
from kposture.detections._events import by_kubernetes, mitre, raw_by_outsider, requested
from kposture.detections.base import Detection
from kposture.detections.settings import DetectionSettings
from kposture.model import Severity
from kposture.model.audit import ANONYMOUS_USER, UNAUTHENTICATED_GROUP, AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/livez",
        "/readyz",
        "/version",
        "/version/",
        "/.well-known/openid-configuration",
        "/openid/v1/jwks",
    }
)
"""Non-resource paths Kubernetes opens to anonymous users by default (system:public-info-viewer and
service-account-issuer-discovery)."""


def _anonymous(event: AuditEvent, _state: object) -> Iterator[Hit]:
    if not event.user.is_anonymous or not event.allowed:
        return
    path = urlsplit(event.request_uri).path
    if event.object_ref is None and (
        path in PUBLIC_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/"))
    ):
        return
    target = event.ref.display() or path
    yield Hit(
        f"anonymous request from {event.source_ip or 'an unknown address'} was allowed: "
        f"{requested(event, path)}",
        (
            "Find the binding that grants system:anonymous or system:unauthenticated "
            f"({who_can_request(event, path)}) and delete it; set "
            "--anonymous-auth=false on the API server if nothing needs anonymous access."
        ),
        None,
        (("path", path), ("object", target)),
    )


def _anonymous_gate(raw: Mapping[str, Any], _state: object) -> bool:
    user = raw.get("user")
    if not isinstance(user, dict):
        return True
    groups = user.get("groups")
    return user.get("username") == ANONYMOUS_USER or (
        isinstance(groups, list) and UNAUTHENTICATED_GROUP in groups
    )


ANONYMOUS = Detection(
    DetectionMeta(
        id="anonymous-request-allowed",
        title="Anonymous request allowed",
        severity=Severity.CRITICAL,
        technique=mitre("T1078", "Valid Accounts"),
        tactic="initial-access",
        description=(
            "The API server allowed a request by system:anonymous (or the system:unauthenticated "
            "group) beyond the health, version and service-account issuer discovery endpoints that "
            "are public by default. Some binding grants unauthenticated users real access: anyone "
            "who reaches the API server has it."
        ),
        response=(
            "Delete the binding that grants anonymous access and consider disabling anonymous "
            "authentication."
        ),
    ),
    _anonymous,
    gate=_anonymous_gate,
    quiet_when_routine=True,
)

_POWERFUL = ("system:masters", "system:admin", "cluster-admin")


def _impersonation(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    target = event.impersonated_user
    if target is None or not event.allowed:
        return
    if by_kubernetes(event, settings.protected_namespaces):
        return  # a component acting for a node or an aggregated API server
    powerful = target.username in _POWERFUL or any(g in _POWERFUL for g in target.groups)
    account = target.service_account
    if account is not None and account[0] in settings.protected_namespaces:
        powerful = True
    groups = f" with groups {', '.join(target.groups)}" if target.groups else ""
    if account is not None:
        allowed = who_can_command("impersonate", "serviceaccounts", account[0], account[1])
    else:
        allowed = who_can_command("impersonate", "users", name=target.username)
    yield Hit(
        f"{event.user.username or '<unknown user>'} from {event.source_ip or 'an unknown address'} "
        f"acted as {target.username}{groups}: {requested(event)}",
        (
            f"Confirm with {event.user.username} that acting as {target.username} was intended; "
            f"if not, remove impersonate from them ({allowed}) and revoke their credentials."
        ),
        Severity.HIGH if powerful else None,
        (("impersonator", event.user.username), ("impersonated", target.username)),
    )


def _impersonation_gate(raw: Mapping[str, Any], settings: DetectionSettings) -> bool:
    return raw.get("impersonatedUser") is not None and raw_by_outsider(
        raw, settings.protected_namespaces
    )


IMPERSONATION = Detection(
    DetectionMeta(
        id="impersonation-used",
        title="Request made by impersonating another identity",
        severity=Severity.MEDIUM,
        technique=mitre("T1078", "Valid Accounts"),
        tactic="privilege-escalation",
        description=(
            "A person or a workload's ServiceAccount used Impersonate-User or Impersonate-Group "
            "headers and the API server allowed it. Impersonation is an administrator's debugging "
            "tool and an escalation path; acting as system:masters or a protected namespace's "
            "ServiceAccount is high severity."
        ),
        response="Confirm the impersonation; remove impersonate rights from those who do not need them.",
    ),
    _impersonation,
    gate=_impersonation_gate,
    quiet_when_routine=True,
)

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
"""RFC 6598 carrier-grade NAT space: not routed on the internet, yet not ``is_private``."""


def is_public_address(text: str) -> bool:
    """Whether ``text`` is an internet address: not private, loopback, link-local, reserved,
    multicast, unspecified or shared (carrier-grade NAT); an IPv4 address mapped in IPv6 is judged
    as IPv4. Anything that is not an address is not public."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


class PublicOrigins:
    """The (identity, public address) pairs already reported (bounded, the least recently seen
    dropped) and each address's verdict (a plain dict, emptied when it reaches the same bound:
    the gate consults it on nearly every event, so it must cost a dict lookup)."""

    __slots__ = ("capacity", "reported", "settings", "verdicts")

    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings
        self.capacity = max(1, settings.max_tracked_identities)
        self.reported: BoundedTable[tuple[str, str], bool] = BoundedTable(self.capacity)
        self.verdicts: dict[str, bool] = {}

    def is_public(self, address: str) -> bool:
        verdict = self.verdicts.get(address)
        if verdict is None:
            if len(self.verdicts) >= self.capacity:
                self.verdicts.clear()
            verdict = self.verdicts[address] = is_public_address(address)
        return verdict

    def unreported(self, username: str, addresses: Iterable[str]) -> list[str]:
        """The public addresses among ``addresses`` not yet reported for ``username``."""
        return [
            address
            for address in addresses
            if self.is_public(address) and (username, address) not in self.reported
        ]


def _system_identity(username: str) -> bool:
    """A ``system:`` user, node or ServiceAccount (not the anonymous user)."""
    return username.startswith("system:") and username != ANONYMOUS_USER


def _kind_of_identity(event: AuditEvent) -> str:
    user = event.user
    if user.service_account is not None:
        namespace, name = user.service_account
        return f"ServiceAccount {namespace}/{name}"
    if user.is_node:
        return f"node {user.username.removeprefix('system:node:')}"
    return f"component {user.username}"


def _public_source(event: AuditEvent, state: PublicOrigins) -> Iterator[Hit]:
    user = event.user
    if not _system_identity(user.username) or user.is_anonymous:
        return
    fresh = state.unreported(user.username, (event.source_ip,) if event.source_ip else ())
    if not fresh:
        return
    for address in fresh:
        state.reported.put((user.username, address), True)
    identity = _kind_of_identity(event)
    chain = f" (source IPs {', '.join(event.source_ips)})" if len(event.source_ips) > 1 else ""
    account = user.service_account
    if account is not None:
        rotate = (
            f"rotate its tokens (delete its token Secrets, or delete and recreate ServiceAccount "
            f"{account[0]}/{account[1]}; a requested token stays valid until it expires)"
        )
    elif user.is_node:
        rotate = (
            "rotate the node's kubelet client certificate and drain the node if it may be taken"
        )
    else:
        rotate = "rotate the component's credential (its client certificate or token)"
    yield Hit(
        f"{identity} authenticated from public address {', '.join(fresh)}{chain}: "
        + requested(event),
        f"If {', '.join(fresh)} is not one of the cluster's own addresses (a node's or the control "
        f"plane's public IP, a cloud NAT), the credential of {user.username} is used from "
        f"outside: {rotate}, and find how it left the cluster. If it is the cluster's own, "
        "allowlist the range (sourceRanges) for this detection.",
        None,
        (("identity", user.username), ("public_source_ips", ", ".join(fresh))),
    )


def _public_source_gate(raw: Mapping[str, Any], state: PublicOrigins) -> bool:
    """True for a system identity's request from a public address not yet reported for it. The
    addresses are looked at first: nearly every request comes from a private one."""
    addresses = raw.get("sourceIPs")
    if not isinstance(addresses, list) or not addresses:
        return False
    verdicts = state.verdicts
    for address in addresses[-1:]:  # the peer; the others are the client's to claim
        public = verdicts.get(address) if isinstance(address, str) else False
        if public is None:
            public = state.is_public(address)
        if public:
            user = raw.get("user")
            username = user.get("username") if isinstance(user, dict) else None
            if not isinstance(username, str) or not _system_identity(username):
                return not isinstance(user, dict)  # a malformed user: let the reading judge it
            if (username, address) not in state.reported:
                return True
    return False


PUBLIC_SOURCE = Detection(
    DetectionMeta(
        id="system-identity-from-public-ip",
        title="System identity authenticated from a public address",
        severity=Severity.HIGH,
        technique=mitre("T1078", "Valid Accounts"),
        tactic="initial-access",
        description=(
            "A system: user, a node or a ServiceAccount authenticated (allowed or not) from a "
            "source IP on the internet: not private, loopback, link-local, reserved or shared "
            "(100.64.0.0/10). Their credentials live inside the cluster; used from outside, they "
            "were taken. One alert per identity and address; bounded in what it remembers."
        ),
        response=(
            "Confirm the address belongs to the cluster (allowlist it then); otherwise rotate the "
            "identity's credential and find how it left the cluster."
        ),
        stateful=True,
    ),
    _public_source,
    PublicOrigins,
    gate=_public_source_gate,
    quiet_when_routine=True,
)

DETECTIONS: tuple[Detection, ...] = (ANONYMOUS, IMPERSONATION, PUBLIC_SOURCE)
