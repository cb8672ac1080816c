"""The rule registry: an explicit, validated collection of rules indexed by id and by kind.

Rejects duplicate ids and malformed metadata at construction, so a bad rule never reaches a scan.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from kposture.model import RuleMeta
from kposture.rules.base import Rule

RULE_ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_TITLE_LENGTH = 80


class RegistryError(ValueError):
    """A rule could not be registered: duplicate id or invalid metadata."""


def metadata_problems(meta: RuleMeta) -> list[str]:
    """Everything wrong with one rule's metadata (empty when it is valid)."""
    problems: list[str] = []
    if not RULE_ID_PATTERN.match(meta.id):
        problems.append(f"id {meta.id!r} is not kebab-case")
    if not meta.title or len(meta.title) >= MAX_TITLE_LENGTH:
        problems.append(f"title must be 1-{MAX_TITLE_LENGTH - 1} characters")
    if not meta.kinds:
        problems.append("kinds is empty")
    if not meta.remediation.strip() or not meta.remediation.rstrip().endswith("."):
        problems.append("remediation must be a sentence ending with a period")
    if not meta.description.strip():
        problems.append("description is empty")
    if len(set(meta.references)) != len(meta.references):
        problems.append("references contain duplicates")
    return problems


class Registry:
    """Rules by id, in registration order, with a per-kind index for the engine."""

    __slots__ = ("_by_id", "_by_kind")

    def __init__(self, rules: Iterable[Rule]) -> None:
        by_id: dict[str, Rule] = {}
        by_kind: defaultdict[str, list[Rule]] = defaultdict(list)
        for rule in rules:
            problems = metadata_problems(rule.meta)
            if problems:
                raise RegistryError(f"rule {rule.meta.id!r}: " + "; ".join(problems))
            if rule.meta.id in by_id:
                raise RegistryError(f"duplicate rule id {rule.meta.id!r}")
            by_id[rule.meta.id] = rule
            for kind in rule.meta.kinds:
                by_kind[kind].append(rule)
        self._by_id = by_id
        self._by_kind = {kind: tuple(kind_rules) for kind, kind_rules in by_kind.items()}

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    def get(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def for_kind(self, kind: str) -> Sequence[Rule]:
        """Rules that apply to objects of ``kind``."""
        return self._by_kind.get(kind, ())

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)
