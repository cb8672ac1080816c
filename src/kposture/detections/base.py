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
JSON parse. Both must be supersets of what ``detect`` acts on.
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

    @property
    def id(self) -> str:
        return self.meta.id
