"""The findings the watcher last judged, per object, and the open ones counted by label set.

Owns the numbers behind ``kposture_open_findings``: open (not suppressed) findings per severity,
rule and namespace. A batch replaces the findings of the objects it judged, and the counts change
by exactly those, so a batch costs what it judged, not a recount of every finding held (about
37,000 in the benchmark cluster). ``take_changes`` hands over the label sets whose count differs
from what it last handed over, with their new counts (0 for a label set with none left).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from kposture.model import Finding
from kposture.watcher.state import Key, key_of

Labels = tuple[str, str, str]
"""(severity, rule, namespace) of an open finding."""


def _labels(finding: Finding) -> Labels:
    return (finding.severity.value, finding.rule_id, finding.resource.namespace)


class OpenFindings:
    """Findings by object key and open ones counted by ``Labels``; see the module docstring."""

    def __init__(self) -> None:
        self._by_key: dict[Key, list[Finding]] = {}
        self._counts: Counter[Labels] = Counter()
        self._changed: set[Labels] = set()
        self._reported: dict[Labels, int] = {}

    def clear(self) -> None:
        """Forget every finding (a full reconcile replaces them all)."""
        self._changed.update(self._counts)
        self._by_key.clear()
        self._counts.clear()

    def replace(self, judged: Iterable[Key], findings: Iterable[Finding]) -> None:
        """The objects of ``judged`` were judged again and ``findings`` are what was found."""
        for key in judged:
            for finding in self._by_key.pop(key, ()):
                self._count(finding, -1)
        for finding in findings:
            self._by_key.setdefault(key_of(finding.resource), []).append(finding)
            self._count(finding, 1)

    def _count(self, finding: Finding, step: int) -> None:
        if finding.suppressed_by is not None:
            return
        labels = _labels(finding)
        count = self._counts[labels] + step
        if count:
            self._counts[labels] = count
        else:
            del self._counts[labels]
        self._changed.add(labels)

    def counts(self) -> Counter[Labels]:
        """Open findings per label set (a copy)."""
        return Counter(self._counts)

    def take_changes(self) -> dict[Labels, int]:
        """Label sets whose count is not what the last call handed over, with their counts now
        (0: none left)."""
        changes: dict[Labels, int] = {}
        for labels in self._changed:
            count = self._counts.get(labels, 0)
            if count != self._reported.get(labels, 0):
                changes[labels] = count
                if count:
                    self._reported[labels] = count
                else:
                    del self._reported[labels]
        self._changed.clear()
        return changes
