"""RBAC objects the API server would refuse, or bindings that grant nothing yet: the two shape rules
of the RBAC family (``rbac-role-malformed``, ``rbac-binding-invalid``), metadata and checks.

The RBAC authorizer and the other RBAC rules read only well-formed fields (``inventory.rbac``
skips a ``resources: "secrets"`` string, an unknown subject kind, a binding without ``roleRef``),
so a malformed manifest would pass the scan while granting nothing — or something else once it is
fixed. These rules say so, at the exact field, with the API server's own validation
(``ValidatePolicyRule``, ``ValidateRoleBindingSubject``, the roleRef checks) as the reference. A
live cluster's objects passed that validation; only a binding to a missing role (which the API
server accepts: whoever creates the role later grants it) occurs there too. Default roles the API
server recreates (``cluster-admin``, ``admin``, ``edit``, ``view``) and ``system:`` roles (the
bootstrap policy of every cluster) are not reported missing when they are not in the inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from difflib import get_close_matches
from functools import partial
from typing import Any

from kposture.inventory import BINDING_KINDS, ROLE_KINDS, Inventory, bound_role
from kposture.model import Domain, JsonPath, K8sObject, Reference, Severity, Stage, Violation
from kposture.rules._references import AUTHN_AUTHZ, K03, MITRE
from kposture.rules._templates import rule_meta
from kposture.rules.base import Rule

RBAC_GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
LIST_FIELDS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def _close(given: str, choices: tuple[str, ...]) -> str:
    """`` (did you mean User?)`` for a near miss (``Usr``, ``user``), else ""."""
    lowered = {choice.lower(): choice for choice in choices}
    found = get_close_matches(given.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[found[0]]}?)" if found else ""


# --- roles ------------------------------------------------------------------------------------------


def _rule_problems(item: object, namespaced: bool) -> Iterator[tuple[str, JsonPath]]:
    """(problem, path relative to the rule) for one ``rules`` entry, as ValidatePolicyRule says."""
    if not isinstance(item, Mapping):
        yield f"is {type(item).__name__} {item!r}, not a mapping", ()
        return
    present: dict[str, int] = {}
    for field in LIST_FIELDS:
        value = item.get(field)
        if value is None:
            present[field] = 0
        elif isinstance(value, list):
            present[field] = len(value)
        else:
            shown = f'"{value}"' if isinstance(value, str) else repr(value)
            yield (
                f"{field} is {shown}, not a list: the API server refuses it and kposture reads "
                f"the rule as granting nothing (write {field}: [{value}])",
                (field,),
            )
            present[field] = 1
    if not present["verbs"]:
        yield "has no verbs: the API server requires at least one", ()
    if present["nonResourceURLs"]:
        if namespaced:
            yield (
                "a Role cannot hold nonResourceURLs (only a ClusterRole can)",
                ("nonResourceURLs",),
            )
        if present["apiGroups"] or present["resources"] or present["resourceNames"]:
            yield (
                "mixes nonResourceURLs with apiGroups/resources: the API server refuses a rule "
                "on both",
                ("nonResourceURLs",),
            )
        return
    if not present["apiGroups"]:
        yield 'has no apiGroups: a resource rule needs at least one ("" is the core group)', ()
    if not present["resources"]:
        yield "has no resources: a resource rule needs at least one", ()


def role_malformed(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    rules = obj.raw.get("rules")
    if rules is None:
        return  # no rules (an aggregated ClusterRole's are written by the controller)
    if not isinstance(rules, list):
        yield Violation(
            f"{obj.ref.display()}: rules is {type(rules).__name__}, not a list: the API server "
            "refuses it and kposture reads the role as granting nothing",
            ("rules",),
        )
        return
    namespaced = obj.ref.kind == "Role"
    for index, item in enumerate(rules):
        for problem, path in _rule_problems(item, namespaced):
            yield Violation(
                f"{obj.ref.display()} rules[{index}] {problem}", ("rules", index, *path)
            )


# --- bindings ---------------------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _role_ref_problems(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    raw = obj.raw.get("roleRef")
    if not isinstance(raw, Mapping):
        yield Violation(
            f"{obj.ref.display()} has no roleRef: the API server refuses it; it grants nothing",
            ("roleRef",),
        )
        return
    kind = str(raw.get("kind") or "")
    name = str(raw.get("name") or "")
    allowed = ("ClusterRole",) if obj.ref.kind == "ClusterRoleBinding" else ("Role", "ClusterRole")
    if kind not in allowed:
        yield Violation(
            f"{obj.ref.display()} roleRef.kind {kind or '<unset>'!r} is not "
            f"{' or '.join(allowed)}{_close(kind, allowed) if kind else ''}: the API server "
            "refuses it; it grants nothing",
            ("roleRef", "kind"),
        )
        return
    if not name:
        yield Violation(
            f"{obj.ref.display()} roleRef has no name: the API server refuses it",
            ("roleRef",),
        )
        return
    group = raw.get("apiGroup")
    if group is not None and group != RBAC_GROUP:
        yield Violation(
            f"{obj.ref.display()} roleRef.apiGroup is {group!r}, not {RBAC_GROUP}: the API "
            "server refuses it",
            ("roleRef", "apiGroup"),
        )
    role = bound_role(obj, inventory)
    if role is not None and not role.known and not name.startswith("system:"):
        where = f" in namespace {obj.ref.namespace}" if kind == "Role" else ""
        yield Violation(
            f"{obj.ref.display()} binds {kind} {name}{where}, which is not in the inputs: the "
            f"binding grants nothing now, and whoever creates a {kind} named {name}{where} later "
            "grants its rules to these subjects",
            ("roleRef", "name"),
        )


def _subject_problems(obj: K8sObject) -> Iterator[Violation]:
    items = obj.raw.get("subjects")
    if items is None:
        return
    if not isinstance(items, list):
        yield Violation(
            f"{obj.ref.display()}: subjects is {type(items).__name__}, not a list: the API "
            "server refuses it",
            ("subjects",),
        )
        return
    for index, item in enumerate(items):
        where = f"{obj.ref.display()} subjects[{index}]"
        if not isinstance(item, Mapping):
            yield Violation(f"{where} is not a mapping", ("subjects", index))
            continue
        kind = str(item.get("kind") or "")
        name = str(item.get("name") or "")
        if kind not in SUBJECT_KINDS:
            yield Violation(
                f"{where} has kind {kind or '<unset>'!r}, not User, Group or ServiceAccount"
                f"{_close(kind, SUBJECT_KINDS) if kind else ''}: the API server refuses it; "
                "it matches nobody",
                ("subjects", index, "kind"),
            )
            continue
        if not name:
            yield Violation(f"{where} ({kind}) has no name", ("subjects", index))
            continue
        namespace = item.get("namespace")
        if kind == "ServiceAccount" and not namespace and obj.ref.kind == "ClusterRoleBinding":
            yield Violation(
                f"{where} ServiceAccount {name} has no namespace: a ClusterRoleBinding needs one "
                "(the API server refuses it); it matches no ServiceAccount",
                ("subjects", index),
            )
        group = item.get("apiGroup")
        expected = "" if kind == "ServiceAccount" else RBAC_GROUP
        if group is not None and group != expected:
            yield Violation(
                f"{where} {kind} {name} has apiGroup {group!r}, not {expected!r}: the API "
                "server refuses it",
                ("subjects", index, "apiGroup"),
            )


def binding_invalid(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    yield from _role_ref_problems(obj, inventory)
    yield from _subject_problems(obj)


# --- metadata ---------------------------------------------------------------------------------------

_meta = partial(rule_meta, domain=Domain.RBAC)
VALIDATION = Reference(MITRE, "T1098.006")

SHAPE_RULES: tuple[Rule, ...] = (
    Rule(
        _meta(
            "rbac-role-malformed",
            "Role or ClusterRole rule the API server would refuse",
            Severity.LOW,
            Stage.CRAWL,
            ROLE_KINDS,
            remediation=(
                "Write verbs, apiGroups, resources, resourceNames and nonResourceURLs as lists, "
                "with at least one verb, and apiGroups and resources for a resource rule."
            ),
            description=(
                "A rule whose verbs or resources are a string instead of a list (resources: "
                "secrets), that has no verbs, no apiGroups or no resources, or that mixes "
                "nonResourceURLs with resources, is refused by the API server's validation, so "
                "the role never exists as written; kposture reads such a field as granting "
                "nothing, which hides what the role would grant once fixed. Reported at the "
                "field, with its file and line. A live cluster's roles passed that validation."
            ),
            references=(K03, AUTHN_AUTHZ),
            fix_snippet=(
                'rules:\n- apiGroups: [""]\n  resources: ["secrets"]   # a list, not "secrets"\n'
                '  verbs: ["get"]\n'
            ),
        ),
        role_malformed,
    ),
    Rule(
        _meta(
            "rbac-binding-invalid",
            "Binding without a valid roleRef or subject, or bound to a missing role",
            Severity.MEDIUM,
            Stage.CRAWL,
            BINDING_KINDS,
            remediation=(
                "Give the binding a roleRef to an existing Role or ClusterRole and subjects of kind "
                "User, Group or ServiceAccount (a ServiceAccount with its namespace), or delete it."
            ),
            description=(
                "A binding without roleRef, with a subject of an unknown kind (Usr), or with a "
                "ServiceAccount subject without a namespace in a ClusterRoleBinding is refused by "
                "the API server and matches nobody, so the access it was written for silently "
                "does not exist. A binding whose role is missing is accepted by the API server "
                "and grants nothing yet, but whoever may create a role of that name later grants "
                "its rules to the binding's subjects: a dormant grant. Default roles the API "
                "server recreates (cluster-admin, admin, edit, view) and system: roles are not "
                "reported missing."
            ),
            references=(K03, VALIDATION, AUTHN_AUTHZ),
            fix_snippet=(
                "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: app-reader\n"
                "subjects:\n- kind: ServiceAccount\n  name: app\n  namespace: shop\n"
            ),
        ),
        binding_invalid,
    ),
)
"""The shape rules, appended to the RBAC family's ``RULES``."""
