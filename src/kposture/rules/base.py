"""The shape of a built-in rule: frozen metadata plus a pure check function.

Rule families build ``Rule`` values; the engine registers and runs them. Nothing here holds state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kposture.inventory import Inventory
from kposture.model import K8sObject, RuleMeta, Violation

Check = Callable[[K8sObject, Inventory], Iterable[Violation]]
"""A check reads one object (and, when it must, the inventory) and returns its violations."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: metadata and the check that decides it."""

    meta: RuleMeta
    check: Check

    @property
    def id(self) -> str:
        return self.meta.id
