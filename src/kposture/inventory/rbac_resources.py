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

import re
from collections.abc import Mapping
from difflib import get_close_matches
from types import MappingProxyType

from kposture.inventory.objects import Inventory
from kposture.inventory.rbac import ROLE_KINDS, own_rules
from kposture.inventory.rbac_defaults import BUILTIN_CLUSTER_ROLES
from kposture.inventory.rbac_rules import ALL, PolicyRule
from kposture.inventory.rbac_scope import CLUSTER_SCOPED_RESOURCES

Resource = tuple[str, str]
"""(API group, resource) as a rule names it: ``("apps", "deployments")``, ``("", "pods/exec")``."""

KUBERNETES_VERBS = frozenset(
    {
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
        # The special verbs the API server checks itself.
        "use",
        "bind",
        "escalate",
        "impersonate",
        "approve",
        "sign",
        "attest",
        ALL,
    }
)
"""The verbs the API server asks the authorizer about for resources; ``known_verbs`` adds the
HTTP methods of non-resource requests and whatever the inputs' rules name (a custom verb)."""

URL_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", ALL})
"""The verbs of a non-resource request: its HTTP method, lowercased."""

COMMAND_SUBRESOURCES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "exec": ("exec", "create"),
        "attach": ("attach", "create"),
        "portforward": ("portforward", "create"),
        "port-forward": ("portforward", "create"),
        "log": ("log", "get"),
        "logs": ("log", "get"),
        "proxy": ("proxy", "get"),
        "scale": ("scale", "update"),
        "evict": ("eviction", "create"),
        "eviction": ("eviction", "create"),
        "token": ("token", "create"),
    }
)
"""A kubectl command word typed as a verb -> the subresource it acts on and the verb RBAC checks
(``kubectl exec`` is ``create pods/exec``)."""

STANDARD_URLS = frozenset(
    {"/api", "/apis", "/healthz", "/livez", "/readyz", "/version", "/metrics", "/openapi", "/logs"}
)
"""Non-resource URLs every API server serves (their sub-paths too)."""

_VERSION = re.compile(r"v[0-9]+((alpha|beta)[0-9]+)?")


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


def known_verbs(inventory: Inventory) -> frozenset[str]:
    """The Kubernetes verbs, the HTTP methods of non-resource requests, and every verb a role of
    the inputs names."""
    found = set(KUBERNETES_VERBS | URL_VERBS)
    for kind in ROLE_KINDS:
        for role in inventory.of_kind(kind):
            for _, rule in own_rules(role):
                found.update(rule.verbs)
    return frozenset(found)


def known_urls(inventory: Inventory) -> frozenset[str]:
    """The standard non-resource URLs and every one a role of the inputs names (``/healthz/*``)."""
    found = set(STANDARD_URLS)
    for kind in ROLE_KINDS:
        for role in inventory.of_kind(kind):
            for _, rule in own_rules(role):
                found.update(url for url in rule.non_resource_urls if url != ALL)
    return frozenset(found)


def suggest_verb(
    verb: str,
    group: str,
    resource: str,
    subresource: str,
    verbs: frozenset[str],
    known: frozenset[Resource],
) -> str | None:
    """What a verb outside ``verbs`` probably meant: ``create pods/exec`` for ``exec pods`` (a
    kubectl command word on a resource with that subresource), else a close spelling of a known
    verb (``get`` for ``gett``); None for a known verb or nothing close."""
    if verb in verbs:
        return None
    command = COMMAND_SUBRESOURCES.get(verb)
    if command is not None and not subresource:
        meant, checked = command
        if (group, f"{resource}/{meant}") in known:
            return f"{checked} {kubectl_form(group, resource, meant)}"
    close = get_close_matches(verb, sorted(verbs - {ALL}), n=1, cutoff=0.75)
    return close[0] if close else None


def suggest_url(resource: str, urls: frozenset[str]) -> str | None:
    """``/metrics`` for a RESOURCE ``metrics``: the non-resource URL it names once a ``/`` is put
    in front, when a known URL (or one of its ``*`` prefixes) covers it."""
    url = "/" + resource.strip().strip("/")
    for known in urls:
        if known.endswith(ALL):
            covered = url.startswith(known.rstrip(ALL))
        else:
            below = known in STANDARD_URLS and url.startswith(known + "/")
            covered = url == known.rstrip("/") or below
        if covered:
            return url
    return None


def api_version_form(resource: str) -> str | None:
    """``secrets`` for ``v1/secrets``, ``deployments.apps/scale`` for ``apps/v1/deployments/scale``:
    the ``resource[.group][/subresource]`` a RESOURCE written with an apiVersion meant."""
    parts = resource.strip().lower().split("/")
    if len(parts) >= 2 and _VERSION.fullmatch(parts[0]) and parts[1]:
        return kubectl_form("", parts[1], "/".join(parts[2:]))
    if len(parts) >= 3 and _VERSION.fullmatch(parts[1]) and parts[0] and parts[2]:
        return kubectl_form(parts[0], parts[2], "/".join(parts[3:]))
    return None


def suggest_subresource(
    group: str, resource: str, subresource: str, known: frozenset[Resource]
) -> str | None:
    """``pods/exec`` for ``pods/exc``: a close spelling of a subresource known for ``resource``
    when no rule names the one asked; None otherwise (a CRD's subresource no rule names)."""
    if not subresource or (group, f"{resource}/{subresource}") in known:
        return None
    prefix = f"{resource}/"
    subresources = sorted(
        r.removeprefix(prefix) for g, r in known if g == group and r.startswith(prefix)
    )
    close = get_close_matches(subresource, subresources, n=1, cutoff=0.75)
    return kubectl_form(group, resource, close[0]) if close else None


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
    spelling of a resource of the group (of a subresource of a known resource); None when the
    resource is known or nothing is close."""
    combined = f"{resource}/{subresource}" if subresource else resource
    if (group, resource) in known or (group, combined) in known:
        return suggest_subresource(group, resource, subresource, known)
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
