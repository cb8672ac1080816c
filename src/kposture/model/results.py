"""The outcome of a scan: findings plus the input errors met on the way."""

from __future__ import annotations

from dataclasses import dataclass

from kposture.model.findings import Finding


@dataclass(frozen=True, slots=True)
class InputError:
    """A problem with one input (a file, a document, a chart, or a rule that failed on an object).

    ``level`` is ``error`` for input that could not be read, ``warning`` for input that was skipped on
    purpose and should be visible (e.g. a Helm chart that cannot be rendered here).
    """

    file: str
    line: int
    message: str
    level: str = "error"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Findings (suppressed ones included and marked) and errors of one scan."""

    findings: tuple[Finding, ...]
    errors: tuple[InputError, ...] = ()
    inputs: tuple[str, ...] = ()
    scanned_at: str = ""
    objects_scanned: int = 0
    rules_run: int = 0
    rule_ids_run: tuple[str, ...] = ()
    """Ids of the rules that ran: enabled by the policy and not off for a missing setting."""

    @property
    def active_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed_by is None)
