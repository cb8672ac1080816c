"""The PolicyRule matcher: what one RBAC rule lets through, decided exactly as the Kubernetes RBAC
authorizer does (``rbac.RuleAllows`` and its ``VerbMatches``, ``APIGroupMatches``,
``ResourceMatches``, ``ResourceNameMatches`` and ``NonResourceURLMatches`` helpers).

Semantics kept on purpose: ``*`` matches any verb, group or resource; the core group is ``""``;
a resource entry matches the request's ``resource/subresource`` string exactly, ``*`` matches every
resource and subresource, and ``*/sub`` matches subresource ``sub`` of every resource. The authorizer
does not expand ``resource/*``: such an entry only matches a request for a subresource literally named
``*``, so it grants nothing in practice. Non-resource URLs match exactly, ``*`` matches all, and a
trailing ``*`` matches by prefix. A rule with ``resourceNames`` matches only requests that carry one
of those names, so it never grants ``create`` on a top-level resource or ``deletecollection``
(those requests carry no name). Used by ``inventory.rbac`` and, through it, by rules and who-can.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ALL = "*"
NAMELESS_VERBS = frozenset({"deletecollection"})
"""Verbs whose requests never carry an object name, whatever the resource."""


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One entry of a Role's or ClusterRole's ``rules``, as string tuples in the written order."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    # --- the authorizer's helpers -------------------------------------------------------------------

    def matches_verb(self, verb: str) -> bool:
        return ALL in self.verbs or verb in self.verbs

    def matches_group(self, group: str) -> bool:
        return ALL in self.api_groups or group in self.api_groups

    def matches_resource(self, resource: str) -> bool:
        """``resource`` is the request's combined ``resource`` or ``resource/subresource``."""
        return any(_resource_entry_matches(entry, resource) for entry in self.resources)

    def matches_name(self, name: str) -> bool:
        return not self.resource_names or name in self.resource_names

    def matches_url(self, url: str) -> bool:
        for entry in self.non_resource_urls:
            if entry in (ALL, url):
                return True
            if entry.endswith(ALL) and url.startswith(entry.rstrip(ALL)):
                return True
        return False

    # --- decisions ------------------------------------------------------------------------------------

    def allows(self, verb: str, group: str, resource: str, name: str = "") -> bool:
        """The authorizer's decision for one resource request (``name`` empty for requests that
        carry none: list, create of a top-level resource, deletecollection)."""
        return (
            self.matches_verb(verb)
            and self.matches_group(group)
            and self.matches_resource(resource)
            and self.matches_name(name)
        )

    def allows_url(self, verb: str, url: str) -> bool:
        """The authorizer's decision for one non-resource request (``/healthz``, ``/metrics``...)."""
        return self.matches_verb(verb) and self.matches_url(url)

    def grants(self, verb: str, group: str, resource: str) -> bool:
        """Whether some request with this verb on this group and resource is allowed, on at least
        one object name. A rule restricted by ``resourceNames`` still grants get, update, patch,
        delete (and list/watch of a single named object) on those names, and subresource actions
        such as ``create pods/exec`` on them; see ``names_only``."""
        if not (
            self.matches_verb(verb)
            and self.matches_group(group)
            and self.matches_resource(resource)
        ):
            return False
        if not self.resource_names:
            return True
        if verb in NAMELESS_VERBS:
            return False
        return not (verb == "create" and "/" not in resource)

    def grants_any(self, verbs: Iterable[str], group: str, resource: str) -> bool:
        return any(self.grants(verb, group, resource) for verb in verbs)

    @property
    def names_only(self) -> bool:
        """Whether the rule is limited to the objects listed in ``resourceNames``."""
        return bool(self.resource_names)

    # --- which written entries make a decision ------------------------------------------------------

    def verb_entries(self, verbs: Iterable[str]) -> tuple[int, ...]:
        """Indexes of ``verbs`` entries that match any of ``verbs``."""
        wanted = set(verbs)
        return tuple(i for i, entry in enumerate(self.verbs) if entry == ALL or entry in wanted)

    def group_entries(self, group: str) -> tuple[int, ...]:
        return tuple(i for i, entry in enumerate(self.api_groups) if entry in (ALL, group))

    def resource_entries(self, resource: str) -> tuple[int, ...]:
        return tuple(
            i for i, entry in enumerate(self.resources) if _resource_entry_matches(entry, resource)
        )


def _resource_entry_matches(entry: str, resource: str) -> bool:
    if entry in (ALL, resource):
        return True
    _, slash, subresource = resource.partition("/")
    return bool(slash) and entry == f"*/{subresource}"


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(item) if item is not None else "" for item in value)
    return ()


def policy_rule(raw: object) -> PolicyRule | None:
    """A ``PolicyRule`` from one parsed ``rules`` entry; None when it is not a mapping."""
    if not isinstance(raw, Mapping):
        return None
    return PolicyRule(
        verbs=_strings(raw.get("verbs")),
        api_groups=_strings(raw.get("apiGroups")),
        resources=_strings(raw.get("resources")),
        resource_names=_strings(raw.get("resourceNames")),
        non_resource_urls=_strings(raw.get("nonResourceURLs")),
    )
