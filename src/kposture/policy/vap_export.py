"""Rules as Kubernetes ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding manifests.

Owns the translation of one CEL rule (``ExportRule``: a custom rule from a rule file, or an
exportable built-in with its hand-written CEL) into ``admissionregistration.k8s.io/v1`` objects:

- ``matchConstraints.resourceRules`` from the rule's kinds through ``reports.admission_resources``
  (the preferred version of each kind, ``matchPolicy: Equivalent`` so a request in another version
  is converted to it; pods also through ``pods/ephemeralcontainers``), the operations, and the
  namespace and object selectors;
- ``namespaces`` globs, which a policy cannot express as a selector: exact names become a
  ``kubernetes.io/metadata.name In [...]`` namespace selector, any real glob a ``matchCondition``
  on ``request.namespace`` with an anchored RE2 pattern;
- inline ``params``, written into the expressions as CEL literals (``cel_literals``), so the policy
  needs no parameter object and judges with exactly the rule's values;
- the binding's ``validationActions`` from the mode (``[Warn, Audit]`` dry-run, ``[Warn]`` warn,
  ``[Deny]`` enforce) or, with a policy file, from its ``admission:`` block: per-rule modes, modes
  of namespaces named exactly (one binding per mode with a namespace selector), and the namespaces
  the webhook exempts, excluded by a ``NotIn`` selector.

Pure: returns manifests as plain dicts and the warnings for what could not be carried over. The
CLI (``cli/rules_export_commands``) renders them as YAML or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kposture.model import LabelSelector, RuleMeta
from kposture.model.admission import (
    DEFAULT_OWN_NAMESPACE,
    DEFAULT_SYSTEM_NAMESPACES,
    AdmissionMode,
    AdmissionPolicy,
)
from kposture.policy.builtin_cel import BuiltinCel, builtin_variables
from kposture.policy.cel_bounds import called
from kposture.policy.cel_costs import ExpressionShapeError
from kposture.policy.cel_functions import not_in_vap
from kposture.policy.cel_literals import cel_literal, inline_params
from kposture.policy.cel_regex import regex_literal_problems
from kposture.policy.cel_syntax import (
    Call,
    ListLiteral,
    Literal,
    MapLiteral,
    Node,
    SyntaxProblem,
    parse,
    walk,
)
from kposture.policy.rule_specs import KindMatch, RuleSpec
from kposture.reports.admission_resources import API_RESOURCES

API_VERSION = "admissionregistration.k8s.io/v1"
NAME_PREFIX = "kposture-"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_OPERATIONS = ("CREATE", "UPDATE")
MANAGED_BY = {"app.kubernetes.io/managed-by": "kposture"}
_GLOB_CHARS = frozenset("*?[")
_RE2_SPECIAL = frozenset(".^$+(){}|\\/")


class ExportError(ValueError):
    """A rule that cannot be exported (a kind with no known API resource, a bad glob)."""


class ValidationAction(StrEnum):
    DENY = "Deny"
    WARN = "Warn"
    AUDIT = "Audit"


ACTIONS: Mapping[AdmissionMode, tuple[ValidationAction, ...]] = {
    AdmissionMode.DRY_RUN: (ValidationAction.WARN, ValidationAction.AUDIT),
    AdmissionMode.WARN: (ValidationAction.WARN,),
    AdmissionMode.ENFORCE: (ValidationAction.DENY,),
}
"""The binding's validationActions for each kposture admission mode."""


@dataclass(frozen=True, slots=True)
class ExportValidation:
    """One validation: false ``expression`` means a violation."""

    expression: str
    message: str = ""
    message_expression: str = ""


@dataclass(frozen=True, slots=True)
class ExportRule:
    """Everything the export needs of one rule, whatever its origin."""

    rule_id: str
    title: str
    severity: str
    kinds: tuple[KindMatch, ...]
    validations: tuple[ExportValidation, ...]
    variables: tuple[tuple[str, str], ...] = ()
    operations: tuple[str, ...] = DEFAULT_OPERATIONS
    namespace_selector: Mapping[str, Any] | None = None
    object_selector: Mapping[str, Any] | None = None
    namespaces: tuple[str, ...] = ()
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Export:
    """The manifests of an export, in apply order, and what could not be carried over."""

    manifests: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BindingPlan:
    """One binding of a policy: its name suffix, actions and namespace selector (None: all)."""

    suffix: str
    actions: tuple[ValidationAction, ...]
    namespace_selector: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """How rules are bound: one ``mode`` for all, or the ``admission`` block of a policy file."""

    mode: AdmissionMode = AdmissionMode.DRY_RUN
    admission: AdmissionPolicy | None = None
    failure_policy: str = "Fail"


# --- rules from their sources ---------------------------------------------------------------------


def builtin_export_rule(meta: RuleMeta, entry: BuiltinCel) -> ExportRule:
    """An exportable built-in rule: its kinds from the metadata, its CEL from the table."""
    groups: dict[str, list[str]] = {}
    for kind in meta.kinds:
        resource = API_RESOURCES.get(kind)
        if resource is None:
            raise ExportError(f"{meta.id}: kind {kind} has no API resource")
        groups.setdefault(resource.group, []).append(kind)
    return ExportRule(
        rule_id=meta.id,
        title=meta.title,
        severity=meta.severity.value,
        kinds=tuple(KindMatch((group,), tuple(kinds)) for group, kinds in groups.items()),
        variables=builtin_variables(entry),
        validations=(
            ExportValidation(
                entry.expression,
                f"{meta.id}: {meta.title}. {meta.remediation}",
                entry.message_expression,
            ),
        ),
    )


def selector_manifest(selector: LabelSelector) -> dict[str, Any]:
    """A label selector as Kubernetes writes it."""
    out: dict[str, Any] = {}
    if selector.match_labels:
        out["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        out["matchExpressions"] = [
            {"key": key, "operator": operator, **({"values": list(values)} if values else {})}
            for key, operator, values in selector.match_expressions
        ]
    return out


def custom_export_rule(spec: RuleSpec) -> ExportRule:
    """A custom rule from its rule file. Its ``params`` (an empty map when it has none, as the
    rule binds them) are always inlined, so ``has(params.x)`` stays false rather than failing on
    a policy's null params."""
    match = spec.match
    return ExportRule(
        rule_id=spec.id,
        title=spec.title,
        severity=spec.severity.value,
        kinds=match.kinds,
        validations=tuple(
            ExportValidation(v.expression, v.message, v.message_expression)
            for v in spec.validations
        ),
        variables=tuple((v.name, v.expression) for v in spec.variables),
        operations=match.operations,
        namespace_selector=(
            selector_manifest(match.namespace_selector) if match.namespace_selector else None
        ),
        object_selector=selector_manifest(match.object_selector) if match.object_selector else None,
        namespaces=match.namespaces,
        params=dict(spec.params),
    )


# --- what Kubernetes 1.30 accepts -----------------------------------------------------------------


def _literal_type(node: Node) -> str:
    if isinstance(node, Literal):
        return node.kind
    if isinstance(node, ListLiteral):
        return "list"
    if isinstance(node, MapLiteral):
        return "map"
    return ""


def _mixed(types: Iterable[str]) -> bool:
    known = {t for t in types if t and t != "null"}
    return len(known) > 1


def _mixed_literals(tree: Node) -> list[str]:
    """Mixed-type list and map literals not wrapped in ``dyn()`` (Kubernetes refuses them)."""
    wrapped = {
        id(arg)
        for node in walk(tree)
        if isinstance(node, Call) and node.function == "dyn"
        for arg in node.args
    }
    problems: list[str] = []
    for node in walk(tree):
        if id(node) in wrapped:
            continue
        if isinstance(node, ListLiteral) and _mixed(_literal_type(i) for i in node.items):
            problems.append("a list literal mixes element types (wrap it in dyn())")
        elif isinstance(node, MapLiteral) and not node.message:
            keys = _mixed(_literal_type(k) for k, _ in node.entries)
            values = _mixed(_literal_type(v) for _, v in node.entries)
            if keys or values:
                problems.append("a map literal mixes key or value types (wrap it in dyn())")
    return problems


def cel_problems(rule: ExportRule) -> list[str]:
    """Why Kubernetes 1.30 would refuse the rule's expressions: functions outside its base CEL
    environment, mixed-type literals, regex literals RE2 refuses; empty when it accepts them."""
    sources = [expression for _, expression in rule.variables]
    for validation in rule.validations:
        sources.append(validation.expression)
        if validation.message_expression:
            sources.append(validation.message_expression)
    problems: list[str] = []
    for source in sources:
        try:
            tree = parse(source)
        except (SyntaxProblem, ExpressionShapeError) as exc:
            problems.append(f"expression {source!r} cannot be read: {exc}")
            continue
        missing = not_in_vap(called(tree))
        if missing:
            listed = ", ".join(f"{name}()" for name in missing)
            problems.append(
                f"calls {listed}, which Kubernetes 1.30 does not offer a "
                "ValidatingAdmissionPolicy (see docs/custom-rules.md)"
            )
        problems.extend(_mixed_literals(tree))
        problems.extend(regex_literal_problems(tree))
    return list(dict.fromkeys(problems))


# --- match constraints ----------------------------------------------------------------------------


def glob_to_re2(pattern: str) -> str:
    """An anchored RE2 pattern matching what ``fnmatch.fnmatchcase`` matches."""
    out = ["^"]
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = pattern.find(
                "]", index + 1 if pattern[index : index + 1] in ("!", "]") else index
            )
            if end < 0:
                out.append("\\[")
                continue
            body = pattern[index:end]
            index = end + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
            out.append(f"[{'^' if negate else ''}{body}]")
        elif char in _RE2_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    out.append("$")
    return "".join(out)


def _is_glob(pattern: str) -> bool:
    return any(char in _GLOB_CHARS for char in pattern)


def _resource_rules(rule: ExportRule) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for entry in rule.kinds:
        wanted_groups = [g for g in entry.api_groups if g != "*"]
        by_key: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
        for kind in entry.kinds:
            resource = API_RESOURCES.get(kind)
            if resource is None:
                raise ExportError(
                    f"{rule.rule_id}: kind {kind} is not in kposture's table of API resources, "
                    "so its resource name is unknown"
                )
            key: tuple[tuple[str, ...], tuple[str, ...]]
            if not wanted_groups or resource.group in wanted_groups:
                key = ((resource.group,), (resource.versions[0],))
            else:
                key = (tuple(wanted_groups), ("*",))
            plurals = by_key.setdefault(key, [])
            plurals.append(resource.plural)
            if kind == "Pod":
                plurals.append("pods/ephemeralcontainers")
        for (groups, versions), plurals in by_key.items():
            rules.append(
                {
                    "apiGroups": list(groups),
                    "apiVersions": list(versions),
                    "resources": list(dict.fromkeys(plurals)),
                    "operations": list(rule.operations),
                }
            )
    return rules


def _with_expression(
    selector: Mapping[str, Any] | None, expression: Mapping[str, Any]
) -> dict[str, Any]:
    """``selector`` and one more requirement (requirements are ANDed)."""
    merged = dict(selector or {})
    merged["matchExpressions"] = [*merged.get("matchExpressions", []), dict(expression)]
    return merged


_REQUEST_NAMESPACE = "(request.kind.kind == 'Namespace' ? request.name : request.namespace)"
"""The namespace a request is in as kposture sees it: a Namespace's own name, else the request's
namespace (empty for other cluster-scoped objects, which a ``namespaces`` list never selects)."""


def _namespace_match(
    rule: ExportRule,
) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """The namespace selector and the match conditions for the rule's selector and namespaces.

    Exact names become a ``kubernetes.io/metadata.name In`` requirement; Kubernetes does not apply
    a namespace selector to cluster-scoped objects other than Namespaces, so a condition leaves
    those out as kposture does. Any real glob makes the whole list one condition instead.
    """
    selector = dict(rule.namespace_selector) if rule.namespace_selector else None
    if not rule.namespaces:
        return selector, []
    if not any(_is_glob(pattern) for pattern in rule.namespaces):
        requirement = {
            "key": NAMESPACE_NAME_LABEL,
            "operator": "In",
            "values": sorted(set(rule.namespaces)),
        }
        condition = "request.namespace != '' || request.kind.kind == 'Namespace'"
        return _with_expression(selector, requirement), [
            {"name": "kposture-namespaced", "expression": condition}
        ]
    tests = []
    exact = sorted({p for p in rule.namespaces if not _is_glob(p)})
    if exact:
        tests.append(f"{_REQUEST_NAMESPACE} in {cel_literal(exact)}")
    tests.extend(
        f"{_REQUEST_NAMESPACE}.matches({cel_literal(glob_to_re2(p))})"
        for p in rule.namespaces
        if _is_glob(p)
    )
    expression = f"{_REQUEST_NAMESPACE} != '' && ({' || '.join(tests)})"
    return selector, [{"name": "kposture-namespaces", "expression": expression}]


# --- bindings -------------------------------------------------------------------------------------


def _names_selector(operator: str, names: Iterable[str]) -> dict[str, Any]:
    return {
        "matchExpressions": [
            {"key": NAMESPACE_NAME_LABEL, "operator": operator, "values": sorted(set(names))}
        ]
    }


def _exempt_namespaces(admission: AdmissionPolicy, notes: list[str]) -> set[str]:
    exempt = {admission.own_namespace, *admission.system_namespaces} - {""}
    for exemption in admission.exemptions:
        simple = (
            exemption.namespaces
            and exemption.selector is None
            and not exemption.users
            and not exemption.groups
            and not any(_is_glob(ns) for ns in exemption.namespaces)
        )
        if simple:
            exempt.update(exemption.namespaces)
        else:
            note = (
                f"admission exemption {exemption.reason!r} is not exported: bindings exclude "
                "namespaces by exact name only (no globs, label selectors, users or groups)"
            )
            if note not in notes:
                notes.append(note)
    return exempt


def binding_plans(rule_id: str, settings: ExportSettings) -> tuple[list[BindingPlan], list[str]]:
    """The bindings of one rule — a single one for a plain mode, or one per mode in force under
    the policy file's admission block (none: the rule is off at admission) — and notes on what
    of the admission block the bindings cannot carry."""
    notes: list[str] = []
    admission = settings.admission
    if admission is None:
        # as the default admission policy: kposture's own and the system namespaces are exempt
        exempt = {DEFAULT_OWN_NAMESPACE, *DEFAULT_SYSTEM_NAMESPACES}
        return [BindingPlan("", ACTIONS[settings.mode], _names_selector("NotIn", exempt))], notes
    exempt = _exempt_namespaces(admission, notes)
    named: set[str] = set()
    for setting in admission.namespace_modes:
        for pattern in setting.namespaces:
            if _is_glob(pattern):
                note = (
                    f"admission.namespaces entry {pattern!r} (line {setting.line}) is not "
                    "exported: bindings select namespaces by exact name"
                )
                if note not in notes:
                    notes.append(note)
            else:
                named.add(pattern)
    named -= exempt
    default = admission.mode_for(rule_id, "")
    by_mode: dict[AdmissionMode | None, list[str]] = {}
    for namespace in sorted(named):
        mode = admission.mode_for(rule_id, namespace)
        if mode != default:
            by_mode.setdefault(mode, []).append(namespace)
    plans: list[BindingPlan] = []
    if default is not None:
        excluded = exempt | {ns for names in by_mode.values() for ns in names}
        selector = _names_selector("NotIn", excluded) if excluded else None
        plans.append(BindingPlan("", ACTIONS[default], selector))
    for mode, namespaces in by_mode.items():
        if mode is not None:
            selector = _names_selector("In", namespaces)
            plans.append(BindingPlan(f"-{mode.value}", ACTIONS[mode], selector))
    return plans, notes


# --- manifests ------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """Kubernetes refuses validation messages with line breaks."""
    return " ".join(text.split())


def policy_manifest(rule: ExportRule, failure_policy: str = "Fail") -> dict[str, Any]:
    """The ValidatingAdmissionPolicy of one rule."""
    params = rule.params
    namespace_selector, conditions = _namespace_match(rule)
    constraints: dict[str, Any] = {
        "resourceRules": _resource_rules(rule),
        "matchPolicy": "Equivalent",
    }
    if namespace_selector is not None:
        constraints["namespaceSelector"] = namespace_selector
    if rule.object_selector:
        constraints["objectSelector"] = dict(rule.object_selector)
    annotations = {
        "kposture.io/rule-id": rule.rule_id,
        "kposture.io/title": rule.title,
        "kposture.io/severity": rule.severity,
    }
    if params is not None:
        annotations["kposture.io/params"] = json.dumps(params, sort_keys=True)
    validations = []
    for validation in rule.validations:
        item: dict[str, Any] = {
            "expression": inline_params(validation.expression, params),
            "message": _one_line(validation.message or f"{rule.rule_id}: {rule.title}"),
        }
        if validation.message_expression:
            item["messageExpression"] = inline_params(validation.message_expression, params)
        validations.append(item)
    spec: dict[str, Any] = {"failurePolicy": failure_policy, "matchConstraints": constraints}
    if conditions:
        spec["matchConditions"] = conditions
    if rule.variables:
        spec["variables"] = [
            {"name": name, "expression": inline_params(expression, params)}
            for name, expression in rule.variables
        ]
    spec["validations"] = validations
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": NAME_PREFIX + rule.rule_id,
            "labels": dict(MANAGED_BY),
            "annotations": annotations,
        },
        "spec": spec,
    }


def binding_manifest(rule_id: str, plan: BindingPlan) -> dict[str, Any]:
    """One ValidatingAdmissionPolicyBinding of the policy of ``rule_id``."""
    spec: dict[str, Any] = {
        "policyName": NAME_PREFIX + rule_id,
        "validationActions": [action.value for action in plan.actions],
    }
    if plan.namespace_selector is not None:
        spec["matchResources"] = {"namespaceSelector": dict(plan.namespace_selector)}
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": NAME_PREFIX + rule_id + plan.suffix, "labels": dict(MANAGED_BY)},
        "spec": spec,
    }


def export_rules(rules: Sequence[ExportRule], settings: ExportSettings) -> Export:
    """The policy and bindings of every rule; a rule that cannot be exported is an error and the
    others are still exported; a rule off at admission is left out with a warning."""
    manifests: list[Mapping[str, Any]] = []
    errors: list[str] = []
    warnings: list[str] = []
    notes: dict[str, None] = {}
    for rule in rules:
        plans, rule_notes = binding_plans(rule.rule_id, settings)
        notes.update(dict.fromkeys(rule_notes))
        if not plans:
            warnings.append(f"{rule.rule_id}: off at admission in the policy file, not exported")
            continue
        problems = cel_problems(rule)
        if problems:
            errors.extend(f"{rule.rule_id}: {problem}" for problem in problems)
            continue
        try:
            policy = policy_manifest(rule, settings.failure_policy)
        except ValueError as error:
            errors.append(str(error))
            continue
        manifests.append(policy)
        manifests.extend(binding_manifest(rule.rule_id, plan) for plan in plans)
    return Export(tuple(manifests), (*notes, *warnings), tuple(errors))


__all__ = [
    "ACTIONS",
    "BindingPlan",
    "Export",
    "ExportError",
    "ExportRule",
    "ExportSettings",
    "ExportValidation",
    "ValidationAction",
    "binding_manifest",
    "binding_plans",
    "builtin_export_rule",
    "cel_problems",
    "custom_export_rule",
    "export_rules",
    "glob_to_re2",
    "policy_manifest",
    "selector_manifest",
]
