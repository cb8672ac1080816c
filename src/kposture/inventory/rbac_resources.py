"""The resource names RBAC rules use, and what to suggest when a question names another one.

RBAC rules name resources as the API serves them: lowercase plurals (``secrets``, ``pods/exec``,
``networkpolicies``) in an API group (``deployments`` in ``apps``). kubectl maps a kind, a singular
or a short name to that form through discovery; the authorizer does not, so a question about
``secret`` or ``deployments`` in the core group matches only wildcard rules. ``known_resources``
collects the (group, resource) pairs the inputs' roles, the built-in default roles and the
cluster-scoped catalogue name; ``suggest_resource`` proposes the form a question probably meant
(a plural, the group that serves the resource, or a close spelling). Used by ``kposture rbac
who-can`` for its hint; pure.
"""

from __future__ import annotations

from difflib import get_close_matches

from kposture.inventory.objects import Inventory
from kposture.inventory.rbac import ROLE_KINDS, own_rules
from kposture.inventory.rbac_defaults import BUILTIN_CLUSTER_ROLES
from kposture.inventory.rbac_rules import ALL, PolicyRule
from kposture.inventory.rbac_scope import CLUSTER_SCOPED_RESOURCES

Resource = tuple[str, str]
"""(API group, resource) as a rule names it: ``("apps", "deployments")``, ``("", "pods/exec")``."""


def _named(rule: PolicyRule) -> set[Resource]:
    return {
        (group, resource)
        for group in rule.api_groups
        for resource in rule.resources
        if group != ALL and ALL not in resource
    }


def known_resources(inventory: Inventory) -> frozenset[Resource]:
    """Every (group, resource) a role of the inputs or a built-in default role names, and the
    cluster-scoped resources of the catalogue; wildcards left out. Memoised per inventory."""
    key = "rbac_resources.known"
    cached: frozenset[Resource] | None = inventory.derived.get(key)
    if cached is not None:
        return cached
    found: set[Resource] = set()
    for kind in ROLE_KINDS:
        for role in inventory.of_kind(kind):
            for _, rule in own_rules(role):
                found |= _named(rule)
    for rules in BUILTIN_CLUSTER_ROLES.values():
        for rule in rules:
            found |= _named(rule)
    for group, resources in CLUSTER_SCOPED_RESOURCES.items():
        found.update((group, resource) for resource in resources)
    result = frozenset(found)
    inventory.derived[key] = result
    return result


def named_objects(inventory: Inventory, verb: str, group: str, resource: str) -> tuple[str, ...]:
    """Every name a rule of the inputs lists in ``resourceNames`` and allows ``verb`` on
    ``group``/``resource`` (``pods/exec`` form) for, sorted: the names a question without one
    misses grants for."""
    found: set[str] = set()
    for kind in ROLE_KINDS:
        for role in inventory.of_kind(kind):
            for _, rule in own_rules(role):
                found.update(
                    name for name in rule.resource_names if rule.allows(verb, group, resource, name)
                )
    return tuple(sorted(found))


def _plurals(word: str) -> list[str]:
    """The English plurals the API uses for a singular kind: ``secret`` -> ``secrets``,
    ``ingress`` -> ``ingresses``, ``networkpolicy`` -> ``networkpolicies``."""
    found = [f"{word}s", f"{word}es"]
    if word.endswith("y"):
        found.insert(0, f"{word[:-1]}ies")
    return found


def kubectl_form(group: str, resource: str, subresource: str) -> str:
    """``deployments.apps/scale``: how ``who-can`` takes a resource."""
    return resource + (f".{group}" if group else "") + (f"/{subresource}" if subresource else "")


def suggest_resource(
    group: str, resource: str, subresource: str, known: frozenset[Resource]
) -> str | None:
    """The ``resource[.group][/subresource]`` a question on ``resource`` of ``group`` probably
    meant, when no known rule names it: its plural, the group that serves it, or a close
    spelling of a resource of the group; None when the resource is known or nothing is close."""
    combined = f"{resource}/{subresource}" if subresource else resource
    if (group, resource) in known or (group, combined) in known:
        return None
    for candidate in _plurals(resource):
        if (group, candidate) in known:
            return kubectl_form(group, candidate, subresource)
    for candidate in (resource, *_plurals(resource)):
        # The group that still serves it before a deprecated one (extensions).
        groups = sorted(
            (g for g, r in known if r == candidate), key=lambda g: (g == "extensions", g)
        )
        if groups:
            return kubectl_form(groups[0], candidate, subresource)
    in_group = sorted({r for g, r in known if g == group and "/" not in r})
    close = get_close_matches(resource, in_group, n=1, cutoff=0.75)
    return kubectl_form(group, close[0], subresource) if close else None
