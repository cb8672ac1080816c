"""The detector: runs every detection over a stream of audit events and turns hits into alerts.

One ``Detector`` per stream keeps each detection's state. Events at the ``RequestReceived`` stage
are not judged (their outcome is unknown, and the same request is logged again when answered), and
an audit ID is judged once, at its first answered stage (an exec is logged at ``ResponseStarted``
and again at ``ResponseComplete``). A detection that raises is counted and named in ``errors``; the
others go on. Pure: no I/O and no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kposture.detections.anomalies import BoundedTable
from kposture.detections.base import Detection
from kposture.detections.registry import registry
from kposture.detections.settings import DetectionSettings
from kposture.model import Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import IncidentAlert

UNJUDGED_STAGES = frozenset({"RequestReceived"})
MAX_ERRORS_KEPT = 100


@dataclass(slots=True)
class DetectorStats:
    events: int = 0
    judged: int = 0
    repeated: int = 0
    alerts: int = 0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)


class Detector:
    """Detections with their state, fed one event at a time."""

    def __init__(
        self,
        detections: tuple[Detection, ...] | None = None,
        settings: DetectionSettings | None = None,
        min_severity: Severity = Severity.INFO,
        audit_id_capacity: int = 100_000,
    ) -> None:
        self.settings = settings or DetectionSettings()
        self.detections = registry(detections)
        self.min_severity = min_severity
        self._states: list[tuple[Detection, Any]] = [
            (detection, detection.start(self.settings)) for detection in self.detections
        ]
        self._judged: BoundedTable[str, bool] = BoundedTable(audit_id_capacity)
        self.stats = DetectorStats()

    def process(self, event: AuditEvent) -> list[IncidentAlert]:
        """The alerts ``event`` raises (at or above the minimum severity)."""
        stats = self.stats
        stats.events += 1
        if event.stage in UNJUDGED_STAGES:
            return []
        if event.audit_id:
            if event.audit_id in self._judged:
                stats.repeated += 1
                return []
            self._judged.put(event.audit_id, True)
        stats.judged += 1
        alerts: list[IncidentAlert] = []
        for detection, state in self._states:
            try:
                hits = list(detection.detect(event, state))
            except Exception as error:  # one broken detection must not stop the others
                stats.errors += 1
                if len(stats.error_messages) < MAX_ERRORS_KEPT:
                    stats.error_messages.append(
                        f"detection {detection.id} failed on audit event "
                        f"{event.audit_id or '<no id>'}: {type(error).__name__}"
                    )
                continue
            for hit in hits:
                alert = IncidentAlert(detection.meta, hit, event)
                if alert.severity >= self.min_severity:
                    alerts.append(alert)
        stats.alerts += len(alerts)
        return alerts

    def process_all(self, events: Iterable[AuditEvent]) -> list[IncidentAlert]:
        return [alert for event in events for alert in self.process(event)]
