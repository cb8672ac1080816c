"""The detection contract: a ``Detection`` is metadata plus a pure ``detect(event, state)``.

``detect`` reads one ``AuditEvent`` and yields ``Hit``s; it never does I/O or reads the clock (time
comes from the event). ``start(settings)`` builds the state the detection is given on every call: the
settings themselves for a stateless detection, or a bounded memory (sliding windows, first-seen
tables) for a stateful one. The detector keeps one state per detection for the life of a stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kposture.detections.settings import DetectionSettings
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

Detect = Callable[[AuditEvent, Any], Iterator[Hit]]
Start = Callable[[DetectionSettings], Any]


def _settings_as_state(settings: DetectionSettings) -> DetectionSettings:
    return settings


@dataclass(frozen=True, slots=True)
class Detection:
    """One built-in detection."""

    meta: DetectionMeta
    detect: Detect
    start: Start = _settings_as_state

    @property
    def id(self) -> str:
        return self.meta.id
