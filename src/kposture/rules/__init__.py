"""The built-in rule library: an explicit tuple of rule families, one module each.

Families never import each other; shared check shapes live in ``_templates`` and shared references in
``_references``. Adding a family means
adding its module to ``FAMILIES`` — there is no self-registration.
"""

from __future__ import annotations

from kposture.rules import (
    cluster_tooling,
    control_plane,
    images,
    network,
    node_components,
    rbac,
    secrets,
    service_accounts,
    workload_hardening,
    workload_host_access,
    workload_privileges,
)
from kposture.rules.base import Check, Configure, Configured, Rule

FAMILIES = (
    workload_privileges,
    workload_host_access,
    workload_hardening,
    service_accounts,
    rbac,
    secrets,
    images,
    network,
    control_plane,
    node_components,
    cluster_tooling,
)


def builtin_rules() -> tuple[Rule, ...]:
    """Every built-in rule, family by family, in catalogue order."""
    return tuple(rule for family in FAMILIES for rule in family.RULES)


__all__ = ["FAMILIES", "Check", "Configure", "Configured", "Rule", "builtin_rules"]
