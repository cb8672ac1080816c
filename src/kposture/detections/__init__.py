"""Audit-log detections: the detection contract (``base``), the built-in families, their settings,
the registry and the detector that runs them over a stream of ``AuditEvent``s.

Core layer beside ``rules``: detections may import the inventory and the model, never the rules, the
engine or any I/O. Families never import each other; shared readings of events live in ``_events``.
"""

from kposture.detections.base import Detection
from kposture.detections.detecting import DetectionRuntimeError, Detector, DetectorStats
from kposture.detections.registry import DetectionRegistryError, builtin_detections, registry
from kposture.detections.settings import DetectionSettings

__all__ = [
    "Detection",
    "DetectionRegistryError",
    "DetectionRuntimeError",
    "DetectionSettings",
    "Detector",
    "DetectorStats",
    "builtin_detections",
    "registry",
]
