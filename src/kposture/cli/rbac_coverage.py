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

from kposture.inventory.workloads import WORKLOAD_KINDS
from kposture.model import InputError
from kposture.sources.cluster_kinds import CATALOGUE, KindSpec, kinds

RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
INCOMPLETE = "incomplete: "
CANNOT_ANSWER = "Cannot answer: "

RBAC_READS = RBAC_KINDS | {"Namespace", "ServiceAccount"}
"""The kinds every RBAC view reads: the RBAC kinds, Namespaces (``-n`` checked against them) and
ServiceAccounts (a binding's subjects)."""
WORKLOAD_READS = RBAC_READS | set(WORKLOAD_KINDS)
PATHS_READS = WORKLOAD_READS | {"Secret"}
"""What ``rbac paths`` reads: pods run as any ServiceAccount of their namespace, token Secrets."""
EXPOSURE_READS = WORKLOAD_READS | {"Service", "Ingress"}
"""What ``rbac workloads`` reads: the workloads and what exposes their pods."""


def catalogue_of(reads: frozenset[str]) -> tuple[KindSpec, ...]:
    """The catalogue kinds a view reads, in listing order: a ``--cluster`` RBAC view lists only
    these (faster, and no warning about a kind it never looks at)."""
    return tuple(spec for spec in CATALOGUE if spec.kind in reads)


def rbac_worded(errors: Iterable[InputError]) -> tuple[InputError, ...]:
    """``errors`` with each listing problem of a catalogue kind in RBAC wording."""
    return tuple(_reworded(error) for error in errors)


def unlisted_rbac(errors: Iterable[InputError]) -> str:
    """What an answer could not see of RBAC, in one line (``roles, rolebindings could not be
    listed (forbidden)``), from ``rbac_worded`` errors; "" when every RBAC kind was read."""
    reasons: dict[str, list[str]] = {}
    for error in errors:
        if not error.message.startswith(INCOMPLETE):
            continue
        plural, _, reason = error.message.removeprefix(INCOMPLETE).partition(
            " could not be listed "
        )
        reasons.setdefault(reason, []).append(plural)
    return "; ".join(
        f"{', '.join(plurals)} could not be listed {reason}" for reason, plurals in reasons.items()
    )


BINDING_PLURALS = ("rolebindings", "clusterrolebindings")


def bindings_unlisted(errors: Iterable[InputError]) -> bool:
    """Whether some RoleBindings or ClusterRoleBindings could not be listed (``rbac_worded``
    errors): who a binding names is then unknown."""
    return any(
        error.message.startswith(f"{INCOMPLETE}{plural} could not be listed")
        for error in errors
        for plural in BINDING_PLURALS
    )


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
