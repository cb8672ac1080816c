"""The detection contract: a ``Detection`` is metadata plus a pure ``detect(event, state)``.

``detect`` reads one ``AuditEvent`` and yields ``Hit``s; it never does I/O or reads the clock (time
comes from the event). ``start(settings)`` builds the state the detection is given on every call: the
settings themselves for a stateless detection, or a bounded memory (sliding windows, first-seen
tables) for a stateful one. The detector keeps one state per detection for the life of a stream.

``interest`` names the verbs and resources a detection can raise on (``None``: any), so the detector
asks only the detections that care about an event; a detection that looks at every event may have a
``gate``, a cheap test on the raw ``audit.k8s.io`` event mapping (with its state) saying whether it
could act on it. An event that no detection's interest and gate select is never turned into an
``AuditEvent`` at all: most of a real log (components reading and renewing leases) costs only its
JSON parse. Both must be supersets of what ``detect`` acts on. A gate that answers no to every
routine event (``quiet_when_routine``) is not asked about those at all.

``needs_body`` names the writes a detection can judge only by their body (the request or response
object, which the audit policy logs at level ``Request`` or ``RequestResponse``): the detector counts
the allowed ones that came without one, so a policy that logs them at ``Metadata`` is named once in
the notices instead of the detection silently never firing. A detection whose state is (or holds)
``DetectionNotes`` says things once per stream there (a custom detection's failing message
expression); the detector gathers them with its other notices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kposture.detections.settings import DetectionSettings
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

Detect = Callable[[AuditEvent, Any], Iterator[Hit]]
Start = Callable[[DetectionSettings], Any]
Gate = Callable[[Mapping[str, Any], Any], bool]
"""``gate(raw_event, state)``: whether the detection could act on this raw audit event."""


@dataclass(frozen=True, slots=True)
class Interest:
    """The verbs and resources (``objectRef.resource``, any subresource) a detection can raise on;
    ``None`` for any."""

    verbs: frozenset[str] | None = None
    resources: frozenset[str] | None = None

    def selects(self, verb: str, resource: str) -> bool:
        return (self.verbs is None or verb in self.verbs) and (
            self.resources is None or resource in self.resources
        )


EVERY_EVENT = Interest()


@dataclass(frozen=True, slots=True)
class BodyNeed:
    """The writes (verbs on a main resource, no subresource) a detection judges only by their body,
    and the audit level that logs it."""

    verbs: frozenset[str]
    resources: frozenset[str]
    level: str = "Request"

    def covers(self, verb: str, resource: str, subresource: str) -> bool:
        return not subresource and verb in self.verbs and resource in self.resources


class DetectionNotes:
    """What a detection has to say once per stream, each message at most once per key."""

    __slots__ = ("_keys", "messages")

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self.messages: list[str] = []

    def once(self, key: str, message: str) -> bool:
        """Keep ``message`` unless one was kept under ``key``; whether it was kept."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self.messages.append(message)
        return True


def _settings_as_state(settings: DetectionSettings) -> DetectionSettings:
    return settings


@dataclass(frozen=True, slots=True)
class Detection:
    """One built-in detection."""

    meta: DetectionMeta
    detect: Detect
    start: Start = _settings_as_state
    interest: Interest = EVERY_EVENT
    gate: Gate | None = None
    needs_body: BodyNeed | None = None
    quiet_when_routine: bool = False
    """Whether ``gate`` answers no to every routine event (``_routine``: Kubernetes' own identity,
    no impersonation, not unauthenticated, from a non-public peer): the detector then skips the
    gate for such events after one shared reading."""

    @property
    def id(self) -> str:
        return self.meta.id
