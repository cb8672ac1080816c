"""What a ``kposture rbac`` answer could not see, in RBAC wording.

A cluster read reports a kind it could not list as the scanner sees it ("cannot list roles:
forbidden; RBAC rules did not see Roles, ..."). An RBAC answer built without one of the RBAC kinds
(Role, ClusterRole, RoleBinding, ClusterRoleBinding) is incomplete whatever it says: such a
problem becomes an error (exit 2) reading ``incomplete: roles could not be listed (forbidden)``.
Any other kind keeps its level, with the scanner's consequence replaced by what the answer missed.
Problems that are not about listing a catalogue kind pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from kposture.model import InputError
from kposture.sources.cluster_kinds import CATALOGUE, KindSpec, kinds

RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
INCOMPLETE = "incomplete: "


def rbac_worded(errors: Iterable[InputError]) -> tuple[InputError, ...]:
    """``errors`` with each listing problem of a catalogue kind in RBAC wording."""
    return tuple(_reworded(error) for error in errors)


def incomplete_marks(errors: Iterable[InputError]) -> tuple[str, ...]:
    """The ``incomplete: ...`` lines an answer carries (from ``rbac_worded`` errors)."""
    return tuple(error.message for error in errors if error.message.startswith(INCOMPLETE))


def _reworded(error: InputError) -> InputError:
    for spec in CATALOGUE:
        reason = _listing_reason(error.message, spec)
        if reason is None:
            continue
        if spec.kind in RBAC_KINDS:
            message = f"{INCOMPLETE}{spec.plural} could not be listed ({reason})"
            return InputError(error.file, error.line, message, "error")
        message = f"cannot list {spec.plural}: {reason}; the answer did not see {kinds(spec.kind)}"
        return InputError(error.file, error.line, message, error.level)
    return error


def _listing_reason(message: str, spec: KindSpec) -> str | None:
    """Why ``spec``'s kind could not be listed, when ``message`` is the cluster read's problem
    about it (``forbidden``, ``not served``); else None."""
    coverage = f"; {spec.lost_coverage()}"
    if not message.endswith(coverage):
        return None
    head = message.removesuffix(coverage)
    listed = f"cannot list {spec.plural}: "
    if head.startswith(listed):
        return head.removeprefix(listed)
    if head.startswith(f"the server serves no version of {spec.kind} "):
        return "not served"
    return None
