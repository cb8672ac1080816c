"""The parsed form of a custom rule file (``apiVersion: kposture.io/v1``, ``kind: Rule``): frozen
values that ``rule_files`` builds from YAML, ``cel_rules`` turns into a ``rules.base.Rule`` and the
ValidatingAdmissionPolicy exporter reads. Every expression keeps the line it was written on, so
errors found later (compiling, evaluating) still point at the file.

The format is documented in docs/custom-rules.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kposture.model import (
    Domain,
    JsonPath,
    LabelSelector,
    Reference,
    RuleMeta,
    Severity,
    Stage,
)

API_VERSION = "kposture.io/v1"
RULE_KIND = "Rule"
TEST_KIND = "RuleTest"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
DEFAULT_OPERATIONS = ("CREATE", "UPDATE")


@dataclass(frozen=True, slots=True)
class KindMatch:
    """One ``match.kinds`` entry: API groups (``""`` is the core group, ``"*"`` any) and kinds."""

    api_groups: tuple[str, ...]
    kinds: tuple[str, ...]

    def matches(self, group: str, kind: str) -> bool:
        return kind in self.kinds and ("*" in self.api_groups or group in self.api_groups)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """Which objects and requests a rule judges."""

    kinds: tuple[KindMatch, ...]
    operations: tuple[str, ...] = DEFAULT_OPERATIONS
    namespace_selector: LabelSelector | None = None
    object_selector: LabelSelector | None = None
    namespaces: tuple[str, ...] = ()
    """Namespace globs; empty: every namespace (and cluster-scoped objects)."""

    @property
    def kind_names(self) -> tuple[str, ...]:
        """Every kind named, in order, once."""
        return tuple(dict.fromkeys(kind for entry in self.kinds for kind in entry.kinds))


@dataclass(frozen=True, slots=True)
class Variable:
    """``spec.variables[]``: bound as ``variables.<name>`` for the expressions after it."""

    name: str
    expression: str
    line: int


@dataclass(frozen=True, slots=True)
class Validation:
    """``spec.validations[]``: a violation when ``expression`` is false."""

    expression: str
    line: int
    message: str = ""
    message_expression: str = ""
    message_expression_line: int = 0
    path: JsonPath = ()
    """The field the finding points at, parsed from ``path_text``."""
    path_text: str = ""


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One ``kind: Rule`` document, validated but not compiled."""

    id: str
    title: str
    severity: Severity
    domain: Domain
    stage: Stage
    description: str
    remediation: str
    references: tuple[Reference, ...]
    match: RuleMatch
    validations: tuple[Validation, ...]
    variables: tuple[Variable, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    file: str = ""
    line: int = 0
    """Where the document starts (its ``apiVersion`` line)."""

    def meta(self) -> RuleMeta:
        return RuleMeta(
            id=self.id,
            title=self.title,
            severity=self.severity,
            domain=self.domain,
            stage=self.stage,
            kinds=self.match.kind_names,
            remediation=self.remediation,
            description=self.description,
            references=self.references,
        )


@dataclass(frozen=True, slots=True)
class RuleFileError:
    """A problem with a rule file, a rule or one of its expressions: ``file:line: message``,
    with the rule id when it is known."""

    file: str
    line: int
    message: str
    rule_id: str = ""

    def __str__(self) -> str:
        rule = f"rule {self.rule_id}: " if self.rule_id else ""
        return f"{self.file}:{self.line}: {rule}{self.message}"
