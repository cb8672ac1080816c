"""Which written entries of a PolicyRule grant a permission, and how to say so in one line.

``find_grant`` answers "does this rule grant any of these verbs on these resources, and through which
of its ``verbs``/``apiGroups``/``resources`` entries" (so findings point at the exact entry);
``describe_grant`` renders the answer as ``verbs [get list] on secrets in apiGroup ""``, naming what a
wildcard covers and any ``resourceNames`` restriction. Grants are scope-aware (``rbac_scope``): rules
in force only in a namespace (a Role, or any role bound by a RoleBinding) grant nothing on
cluster-scoped resources. Built on ``rbac_rules``; used by the RBAC rule family and the who-can views.
"""

from __future__ import annotations

from dataclasses import dataclass

from kposture.inventory.rbac_rules import PolicyRule
from kposture.inventory.rbac_scope import Scope, reachable


@dataclass(frozen=True, slots=True)
class Target:
    """A permission a rule looks for: any of ``verbs`` on any of ``resources`` in ``group``."""

    verbs: tuple[str, ...]
    group: str
    resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Grant:
    """Which written entries of one PolicyRule grant a target, and what they grant."""

    verbs: tuple[int, ...]
    groups: tuple[int, ...]
    resources: tuple[int, ...]
    covered: tuple[tuple[str, str], ...]
    """(verb, resource) pairs actually granted."""


def find_grant(
    rule: PolicyRule, targets: tuple[Target, ...], scope: Scope = Scope.CLUSTER
) -> Grant | None:
    """The entries of ``rule`` that grant any of ``targets`` when in force with ``scope``, or None
    when it grants none (in a namespace, a cluster-scoped target is never granted)."""
    verbs: set[int] = set()
    groups: set[int] = set()
    resources: set[int] = set()
    covered: list[tuple[str, str]] = []
    for target in targets:
        for resource in target.resources:
            granted = [
                v
                for v in target.verbs
                if rule.grants(v, target.group, resource)
                and reachable(scope, v, target.group, resource)
            ]
            if not granted:
                continue
            covered.extend((verb, resource) for verb in granted)
            verbs.update(rule.verb_entries(granted))
            groups.update(rule.group_entries(target.group))
            resources.update(rule.resource_entries(resource))
    if not covered:
        return None
    return Grant(
        tuple(sorted(verbs)), tuple(sorted(groups)), tuple(sorted(resources)), tuple(covered)
    )


# --- messages ---------------------------------------------------------------------------------------


def _entries(values: tuple[str, ...], indexes: tuple[int, ...]) -> list[str]:
    return [values[i] for i in indexes]


def describe_grant(rule: PolicyRule, grant: Grant) -> str:
    """``verbs [get list] on secrets in apiGroup ""``, from the entries as written, plus what a
    wildcard covers and any resourceNames restriction."""
    verbs = _entries(rule.verbs, grant.verbs)
    resources = _entries(rule.resources, grant.resources)
    groups = _entries(rule.api_groups, grant.groups)
    on = resources[0] if len(resources) == 1 else "[" + " ".join(resources) + "]"
    group_text = (
        f'apiGroup "{groups[0]}"'
        if len(groups) == 1
        else "apiGroups [" + " ".join(f'"{g}"' for g in groups) + "]"
    )
    text = f"verbs [{' '.join(verbs)}] on {on} in {group_text}"
    if "*" in verbs or any("*" in r for r in resources) or "*" in groups:
        by_resource: dict[str, list[str]] = {}
        for verb, resource in grant.covered:
            by_resource.setdefault(resource, []).append(verb)
        covers = "; ".join(f"{'/'.join(v)} on {r}" for r, v in by_resource.items())
        text += f", which covers {covers}"
    if rule.names_only:
        text += f" (only on resourceNames [{' '.join(rule.resource_names)}])"
    return text
