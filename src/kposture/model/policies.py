"""The run policy: which rules run, severity overrides, exceptions, and admission-time settings.

Parsed from ``.kposture.yaml`` by ``sources.policy_file``; applied by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kposture.model.rules import Severity


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector: ``match_labels`` plus ``(key, operator, values)`` expressions."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        for key, operator, values in self.match_expressions:
            present = key in labels
            if operator == "In" and (not present or labels[key] not in values):
                return False
            if operator == "NotIn" and present and labels[key] in values:
                return False
            if operator == "Exists" and not present:
                return False
            if operator == "DoesNotExist" and present:
                return False
        return True


@dataclass(frozen=True, slots=True)
class ExceptionEntry:
    """A policy-file exception: which findings it suppresses, why, and until when.

    Empty scope fields match everything; ``rules`` may contain ``*``. ``kinds``, ``names`` and
    ``namespaces`` are glob patterns. ``expires`` is an ISO date (inclusive) or empty for never.
    """

    reason: str
    rules: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    selector: LabelSelector | None = None
    expires: str = ""
    source: str = ""
    """The policy file that declared the entry, and ``line`` its line there (for messages)."""
    line: int = 0


@dataclass(frozen=True, slots=True)
class RunPolicy:
    """What the engine runs and how it judges.

    ``enabled`` empty means every rule; ``disabled`` wins over ``enabled``. ``allow_annotation_exceptions``
    controls whether objects may exempt themselves with the ``kposture.io/ignore`` annotation.
    ``allowed_registries`` lists registry hosts or path prefixes images may come from (empty: the
    ``untrusted-registry`` rule is off).
    """

    enabled: frozenset[str] = frozenset()
    disabled: frozenset[str] = frozenset()
    severity_overrides: Mapping[str, Severity] = field(default_factory=dict)
    exceptions: tuple[ExceptionEntry, ...] = ()
    allow_annotation_exceptions: bool = True
    allowed_registries: tuple[str, ...] = ()
    settings: Mapping[str, object] = field(default_factory=dict)
    source: str = ""
    """The policy file this came from; empty for the built-in defaults."""
