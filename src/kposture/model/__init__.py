"""Value types shared by every layer: resources, rule metadata, violations, findings and results.

The model imports nothing from the rest of kposture; everything here is a frozen dataclass or an enum.
"""

from kposture.model.findings import (
    BLOCKS_STAGE,
    CONTROLS_KEY,
    NOT_OBSERVABLE,
    Finding,
    Location,
    Suppression,
    Violation,
    controls_evidence,
)
from kposture.model.policies import ExceptionEntry, LabelSelector, RunPolicy
from kposture.model.resources import (
    JsonPath,
    K8sObject,
    PositionIndex,
    ResourceRef,
    SourceLocation,
    format_path,
)
from kposture.model.results import InputError, ScanResult
from kposture.model.rules import Domain, Framework, Reference, RuleMeta, Severity, Stage

__all__ = [
    "BLOCKS_STAGE",
    "CONTROLS_KEY",
    "NOT_OBSERVABLE",
    "Domain",
    "ExceptionEntry",
    "Finding",
    "Framework",
    "InputError",
    "JsonPath",
    "K8sObject",
    "LabelSelector",
    "Location",
    "PositionIndex",
    "Reference",
    "ResourceRef",
    "RuleMeta",
    "RunPolicy",
    "ScanResult",
    "Severity",
    "SourceLocation",
    "Stage",
    "Suppression",
    "Violation",
    "controls_evidence",
    "format_path",
]
