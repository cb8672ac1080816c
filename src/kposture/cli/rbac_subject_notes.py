"""Notes on the SUBJECT an ``rbac can`` or ``rbac paths`` answer is about, so a slip is visible:
a well-known group name read as a user (``system:masters``, ``system:serviceaccounts:dev``), and a
subject no binding names (a typo such as ``alcie`` would otherwise answer like a real user)."""

from __future__ import annotations

from collections.abc import Iterator

from kposture.cli.consoles import error_console
from kposture.inventory import Inventory
from kposture.inventory.rbac import BINDING_KINDS, subjects

WELL_KNOWN_GROUPS = frozenset(
    {
        "system:masters",
        "system:authenticated",
        "system:unauthenticated",
        "system:serviceaccounts",
        "system:nodes",
        "system:bootstrappers",
        "system:monitoring",
    }
)
"""Groups Kubernetes itself assigns or binds; ``system:serviceaccounts:NS`` and
``system:bootstrappers:...`` are groups too (``GROUP_PREFIXES``)."""
GROUP_PREFIXES = ("system:serviceaccounts:", "system:bootstrappers:")


def is_well_known_group(name: str) -> bool:
    return name in WELL_KNOWN_GROUPS or name.startswith(GROUP_PREFIXES)


def print_subject_notes(
    inventory: Inventory, kind: str, name: str, command: str, *, bindings_read: bool = True
) -> None:
    """Each note on the SUBJECT (``kind`` User, Group or ServiceAccount; ``name`` as displayed,
    ``NS/NAME`` for a ServiceAccount) on stderr, after the answer; ``bindings_read`` False when
    some RoleBindings or ClusterRoleBindings could not be listed."""
    for note in subject_notes(inventory, kind, name, command, bindings_read=bindings_read):
        error_console().print(note, highlight=False, markup=False)


def subject_notes(
    inventory: Inventory, kind: str, name: str, command: str, *, bindings_read: bool = True
) -> Iterator[str]:
    """``hint: system:masters is a group: kposture rbac can group:system:masters`` when a user
    SUBJECT is named like a well-known group; ``note: no binding names User alcie; ...`` when no
    RoleBinding or ClusterRoleBinding lists the subject itself (never when some could not be read:
    the answer already says it cannot tell)."""
    if kind == "User" and is_well_known_group(name):
        yield f"hint: {name} is a group: kposture rbac {command} group:{name}"
    if bindings_read and not _is_named(inventory, kind, name):
        note = f"note: no binding names {kind} {name}"
        yield note if kind == "Group" else f"{note}; only groups it would belong to grant anything"


def _is_named(inventory: Inventory, kind: str, name: str) -> bool:
    for binding_kind in BINDING_KINDS:
        for binding in inventory.of_kind(binding_kind):
            for subject in subjects(binding):
                if subject.kind != kind:
                    continue
                if kind == "ServiceAccount":
                    namespace = subject.namespace or binding.ref.namespace
                    if f"{namespace}/{subject.name}" == name:
                        return True
                elif subject.name == name:
                    return True
    return False
