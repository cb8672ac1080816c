"""Detections of Secrets read, or tried: enumeration (a list or watch across every namespace, or many
Secrets read by one identity in a short window), reads denied (probing), a ServiceAccount reading
outside its own namespace, and (beyond the catalogue) a person reading a namespace's Secrets.

Each read is one problem, reported by the most precise detection: a list across every namespace is
an enumeration and nothing else; a ServiceAccount's read in another namespace is
``secret-read-cross-namespace``; a person's read of one namespace is ``secret-read-by-person``. An
enumeration by many reads is a pattern over several events, reported once per window besides them.
Kubernetes' own identities (components, nodes, kube-system's ServiceAccounts) and the components
trusted to read Secrets (a setting) are not judged, but for a ServiceAccount reading outside its
namespace, which only the trusted list spares. Messages name Secrets, never a value (the audit
model holds none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from kposture.detections._bounded import BoundedTable, Burst
from kposture.detections._containment import revoke_step
from kposture.detections._events import (
    READ_VERBS,
    by_kubernetes,
    matches_any,
    mitre,
    outsider_gate,
    scoped,
    who,
)
from kposture.detections.base import Detection, Interest
from kposture.detections.settings import DetectionSettings
from kposture.model import Severity
from kposture.model.audit import AuditEvent, AuditUser
from kposture.model.incidents import DetectionMeta, Hit

_TECHNIQUE = mitre("T1552.007", "Unsecured Credentials: Container API")
_INTEREST = Interest(READ_VERBS, frozenset({"secrets"}))


def _secret_read(event: AuditEvent) -> bool:
    ref = event.ref
    return ref.resource == "secrets" and not ref.subresource and event.verb in READ_VERBS


def _acting(event: AuditEvent) -> AuditUser:
    return event.impersonated_user or event.user


def _trusted(event: AuditEvent, settings: DetectionSettings) -> bool:
    """A reader whose reads are its job: a trusted component, or a node (the node authorizer
    limits it to its pods' Secrets)."""
    user = _acting(event)
    return user.is_node or matches_any(user.username, settings.trusted_secret_readers)


def _judged(event: AuditEvent, settings: DetectionSettings) -> bool:
    return (
        _secret_read(event)
        and not by_kubernetes(event, settings.protected_namespaces)
        and not _trusted(event, settings)
    )


def _target(event: AuditEvent) -> str:
    """What the read reached: ``Secret shop/db``, or ``every Secret in namespace shop (list)``."""
    ref = event.ref
    if ref.name:
        return f"Secret {scoped(ref.namespace, ref.name)}"
    where = f"namespace {ref.namespace}" if ref.namespace else "every namespace"
    return f"every Secret in {where} ({event.verb})"


def _rotate(event: AuditEvent) -> str:
    """The step rotating what the read reached, unless it was expected."""
    ref = event.ref
    if ref.name:
        held = f"in Secret {scoped(ref.namespace, ref.name)}"
    else:
        where = f"namespace {ref.namespace}'s" if ref.namespace else "every namespace's"
        held = f"held in {where} Secrets (after a {event.verb}, every Secret there)"
    return f"Rotate the credentials {held} if the read was not expected. "


class Enumerations:
    """Per identity, its recent distinct Secret reads and when it last listed every namespace."""

    __slots__ = ("bursts", "listed", "settings")

    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings
        self.bursts: BoundedTable[str, Burst] = BoundedTable(settings.max_tracked_identities)
        self.listed: BoundedTable[str, dt.datetime] = BoundedTable(settings.max_tracked_identities)


def _enumeration(event: AuditEvent, state: Enumerations) -> Iterator[Hit]:
    settings = state.settings
    if not event.allowed or not _judged(event, settings):
        return
    identity = _acting(event).username or "<unknown user>"
    ref = event.ref
    at = event.received_at
    if not ref.namespace:
        last = state.listed.get(identity)
        if at is not None:
            if last is not None and dt.timedelta(0) <= at - last < settings.repeat_window:
                return
            state.listed.put(identity, at)
        yield Hit(
            f"{who(event)} read the Secrets of every namespace ({event.verb} across the cluster)",
            "Every value was returned: rotate the credentials that identity could not otherwise "
            "read, starting with cloud keys and ServiceAccount tokens. "
            + revoke_step(event, f"{event.verb} on secrets at cluster scope"),
            None,
            (("identity", identity), ("scope", "cluster"), ("verb", event.verb)),
        )
        return
    if at is None:
        return
    burst = state.bursts.get(identity)
    if burst is None:
        burst = Burst(settings.secret_read_threshold, distinct=True)
        state.bursts.put(identity, burst)
    found = burst.add(at, scoped(ref.namespace, ref.name or "*"), settings.secret_read_window)
    if found is None:
        return
    seconds = int(settings.secret_read_window.total_seconds())
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    yield Hit(
        f"{who(event)} read {len(found)} Secrets within {seconds} s ({shown})",
        "Rotate the credentials in the Secrets read unless the reads were expected. "
        + revoke_step(event, "get and list on secrets"),
        None,
        (("identity", identity), ("secrets", ", ".join(found)), ("count", str(len(found)))),
    )


def _enumeration_gate(raw: Mapping[str, Any], state: Enumerations) -> bool:
    return outsider_gate(raw, state.settings)


SECRET_ENUMERATION = Detection(
    DetectionMeta(
        id="secret-enumeration",
        title="Secrets enumerated across namespaces or in bulk",
        severity=Severity.HIGH,
        technique=_TECHNIQUE,
        tactic="credential-access",
        description=(
            "An identity listed or watched the Secrets of every namespace (every value in one "
            "answer; one alert per identity within the repeat window, default 10 min, since "
            "informers watch again and again), or read many distinct Secrets within a short window "
            "(default 10 within 60 s; a namespace's list counts as one): credential harvesting. "
            "State is bounded in identities (least recently seen dropped)."
        ),
        response=(
            "Rotate the credentials read and revoke the identity's access to Secrets unless the "
            "reads were expected."
        ),
        stateful=True,
    ),
    _enumeration,
    Enumerations,
    interest=_INTEREST,
    gate=_enumeration_gate,
)


class _Quiet:
    """When an identity was last alerted for Secret reads denied in a namespace, and how many
    denials since were held back (counted in its next alert)."""

    __slots__ = ("held", "last")

    def __init__(self, last: dt.datetime) -> None:
        self.last = last
        self.held = 0


class Denials:
    """When each identity was last told it was denied Secrets in each namespace."""

    __slots__ = ("seen", "settings")

    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings
        self.seen: BoundedTable[tuple[str, str], _Quiet] = BoundedTable(
            settings.max_tracked_identities
        )


def _held_back(state: Denials, identity: str, namespace: str, at: dt.datetime | None) -> int | None:
    """None when the denial is one more within the repeat window of an alert for the identity
    in the namespace (it is counted), else how many were held back since the previous alert."""
    if at is None:
        return 0
    key = (identity, namespace)
    quiet = state.seen.get(key)
    if quiet is not None and dt.timedelta(0) <= at - quiet.last < state.settings.repeat_window:
        quiet.held += 1
        return None
    state.seen.put(key, _Quiet(at))
    return quiet.held if quiet is not None else 0


def _access_denied(event: AuditEvent, state: Denials) -> Iterator[Hit]:
    if not event.forbidden or not _judged(event, state.settings):
        return
    identity = _acting(event).username or "<unknown user>"
    ref = event.ref
    held = _held_back(state, identity, ref.namespace, event.received_at)
    if held is None:
        return
    where = f"in namespace {ref.namespace}" if ref.namespace else "across the cluster"
    more = (
        f" ({held} more Secret read{'s' if held > 1 else ''} denied {where} since the "
        "previous alert)"
        if held
        else ""
    )
    yield Hit(
        f"{who(event)} was denied {event.verb} on {_target(event)}{more}",
        "Find out why the identity tried: a workload reading a Secret it may not is "
        "misconfigured, a person or a stolen token looking for Secrets is probing. "
        + revoke_step(event, None),
        None,
        (("identity", identity), ("secret", scoped(ref.namespace, ref.name or "*"))),
    )


def _denied_gate(raw: Mapping[str, Any], state: Denials) -> bool:
    status = raw.get("responseStatus")
    code = status.get("code") if isinstance(status, dict) else None  # json gives dicts
    if code is None:
        annotations = raw.get("annotations")
        denied = not isinstance(annotations, dict) or (
            annotations.get("authorization.k8s.io/decision") != "allow"
        )
    else:
        denied = code == 403
    return denied and outsider_gate(raw, state.settings)


SECRET_ACCESS_DENIED = Detection(
    DetectionMeta(
        id="secret-access-denied",
        title="Secret read denied",
        severity=Severity.MEDIUM,
        technique=_TECHNIQUE,
        tactic="credential-access",
        description=(
            "A get, list or watch of Secrets was denied (403): someone probing for credentials "
            "with what they hold, or a misconfigured workload. One alert per identity and "
            "namespace within the repeat window (default 10 min): the denials held back are "
            "counted in the next alert, and many of them in a short window are forbidden-burst's; "
            "bounded in the identities it remembers."
        ),
        response=(
            "Find out why the identity tried to read the Secret; treat its credential as stolen if "
            "nobody can say."
        ),
        stateful=True,
    ),
    _access_denied,
    Denials,
    interest=_INTEREST,
    gate=_denied_gate,
)


def _cross_namespace(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if not _secret_read(event) or not event.allowed or not ref.namespace:
        return  # a read of every namespace is secret-enumeration's
    account = _acting(event).service_account
    if account is None or account[0] == ref.namespace or _trusted(event, settings):
        return
    target = _target(event)
    yield Hit(
        f"{who(event)} read {target}: ServiceAccount {account[0]}/{account[1]} outside its own "
        "namespace",
        _rotate(event) + revoke_step(event, f"{event.verb} on secrets in {ref.namespace}"),
        None,
        (
            ("secret", scoped(ref.namespace, ref.name or "*")),
            ("reader", f"{account[0]}/{account[1]}"),
        ),
    )


def _service_account_gate(raw: Mapping[str, Any], _settings: DetectionSettings) -> bool:
    if raw.get("impersonatedUser") is not None:
        return True
    user = raw.get("user")
    name = user.get("username") if isinstance(user, dict) else None
    return not isinstance(name, str) or name.startswith("system:serviceaccount:")


SECRET_READ_CROSS_NAMESPACE = Detection(
    DetectionMeta(
        id="secret-read-cross-namespace",
        title="ServiceAccount read Secrets outside its own namespace",
        severity=Severity.HIGH,
        technique=_TECHNIQUE,
        tactic="credential-access",
        description=(
            "A ServiceAccount read (get) or listed Secrets of another namespace than its own. "
            "Workloads read their own namespace's Secrets; a token used elsewhere is how a "
            "compromised pod reaches other teams' credentials. The components trusted to read "
            "Secrets everywhere (a setting) are not judged."
        ),
        response=(
            "Confirm the read; if unexpected, rotate the Secrets read and remove the binding that "
            "lets the ServiceAccount read them."
        ),
    ),
    _cross_namespace,
    interest=_INTEREST,
    gate=_service_account_gate,
)


def _by_person(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if not _secret_read(event) or not event.allowed or not ref.namespace:
        return  # a read of every namespace is secret-enumeration's
    if not _acting(event).is_human or _trusted(event, settings):
        return
    target = _target(event)
    yield Hit(
        f"{who(event)} read {target}",
        _rotate(event) + revoke_step(event, f"{event.verb} on secrets in {ref.namespace}"),
        Severity.HIGH if event.verb in ("list", "watch") else None,
        (("secret", scoped(ref.namespace, ref.name or "*")), ("reader", _acting(event).username)),
    )


def _person_gate(raw: Mapping[str, Any], _settings: DetectionSettings) -> bool:
    if raw.get("impersonatedUser") is not None:
        return True
    user = raw.get("user")
    name = user.get("username") if isinstance(user, dict) else None
    return not isinstance(name, str) or not name.startswith("system:")


SECRET_READ_BY_PERSON = Detection(
    DetectionMeta(
        id="secret-read-by-person",
        title="Secret read or listed by a person",
        severity=Severity.MEDIUM,
        technique=_TECHNIQUE,
        tactic="credential-access",
        description=(
            "A person (not a ServiceAccount, node or component) read a Secret or listed a "
            "namespace's Secrets (high: every value at once). Workloads read Secrets; people "
            "reading them is how credentials leave a cluster. Beyond the catalogue: the catalogue "
            "alerts on people only when they enumerate."
        ),
        response=(
            "Confirm the read; if unexpected, rotate the Secrets read and revoke the person's "
            "access to Secrets."
        ),
    ),
    _by_person,
    interest=_INTEREST,
    gate=_person_gate,
)

DETECTIONS: tuple[Detection, ...] = (
    SECRET_ENUMERATION,
    SECRET_ACCESS_DENIED,
    SECRET_READ_CROSS_NAMESPACE,
    SECRET_READ_BY_PERSON,
)
