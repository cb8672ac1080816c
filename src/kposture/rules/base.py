"""The shape of a built-in rule: frozen metadata plus a pure check function.

Rule families build ``Rule`` values; the engine registers and runs them. Nothing here holds state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kposture.inventory import Inventory
from kposture.model import K8sObject, RuleMeta, RunPolicy, Violation

Check = Callable[[K8sObject, Inventory], Iterable[Violation]]
"""A check reads one object (and, when it must, the inventory) and returns its violations."""


@dataclass(frozen=True, slots=True)
class Configured:
    """What a configurable rule makes of the run policy: the check to run, or ``None`` with the
    reason the rule is off (e.g. no registry allowlist is configured)."""

    check: Check | None
    off_reason: str = ""


Configure = Callable[[RunPolicy], Configured]


class RuleCannotJudge(RuntimeError):
    """Raised by a check that cannot judge one object and says why in its message (a custom rule's
    runtime error, naming its file and line): reported as that message, not as a crash."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: metadata and the check that decides it.

    A rule that depends on user settings (an allowlist, a threshold) also has ``configure``, which
    builds its check from the run policy; the check itself stays a pure function.
    """

    meta: RuleMeta
    check: Check
    configure: Configure | None = None

    @property
    def id(self) -> str:
        return self.meta.id

    def configured(self, policy: RunPolicy) -> Configured:
        """The check to run under ``policy`` (the plain check for rules without settings)."""
        if self.configure is None:
            return Configured(self.check)
        return self.configure(policy)
