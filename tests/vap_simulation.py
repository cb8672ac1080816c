"""A small ValidatingAdmissionPolicy evaluator for tests: what the API server would decide about one
object with an exported policy, using the ``cel`` module kposture itself uses.

It follows the API server's order: the resource rules (group, resource plural, operation) and the
namespace and object selectors of ``matchConstraints``, then every ``matchCondition``, then the
``variables`` in order and every ``validation``. A namespace selector is applied to a namespaced
object's Namespace labels and to a Namespace's own, never to other cluster-scoped objects; every
Namespace carries ``kubernetes.io/metadata.name``. ``params`` is null, as in a policy without
``paramKind`` (the export inlines params). It does not type-check or bound cost: the schema tests
and the CEL subset the rules keep to cover those.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import cel

from kposture.policy.cel_programs import new_context
from kposture.reports.admission_resources import API_RESOURCES

Verdict = Literal["skip", "pass", "fail", "error"]
NAME_LABEL = "kubernetes.io/metadata.name"


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement["key"], requirement["operator"]
        values = requirement.get("values") or []
        present = key in labels
        if operator == "In" and (not present or labels[key] not in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _labels(obj: Mapping[str, Any] | None) -> dict[str, str]:
    if not obj:
        return {}
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _resource_matches(rules: list[Mapping[str, Any]], kind: str, operation: str) -> bool:
    resource = API_RESOURCES.get(kind)
    if resource is None:
        return False
    for rule in rules:
        groups = rule.get("apiGroups", [])
        resources = rule.get("resources", [])
        operations = rule.get("operations", [])
        if (
            ("*" in groups or resource.group in groups)
            and ("*" in resources or resource.plural in resources)
            and ("*" in operations or operation in operations)
        ):
            return True
    return False


def request_for(obj: Mapping[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    """The ``request`` binding of an admission request for ``obj``."""
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    meta = obj.get("metadata") or {}
    return {
        "kind": {"group": group, "version": version, "kind": obj.get("kind", "")},
        "operation": operation,
        "userInfo": {"username": "kposture:test", "groups": []},
        "namespace": str(meta.get("namespace") or ""),
        "name": str(meta.get("name") or ""),
        "dryRun": False,
    }


def _namespace_labels(
    obj: Mapping[str, Any], namespace_object: Mapping[str, Any] | None
) -> dict[str, str] | None:
    meta = obj.get("metadata") or {}
    if obj.get("kind") == "Namespace":
        return {**_labels(obj), NAME_LABEL: str(meta.get("name", ""))}
    namespace = meta.get("namespace")
    if not namespace:
        return None
    return {**_labels(namespace_object), NAME_LABEL: str(namespace)}


def evaluate_policy(
    policy: Mapping[str, Any],
    obj: Mapping[str, Any],
    *,
    namespace_object: Mapping[str, Any] | None = None,
    operation: str = "CREATE",
) -> Verdict:
    """What ``policy`` decides about ``obj``: skip (not matched), pass, fail or error."""
    spec = policy["spec"]
    constraints = spec["matchConstraints"]
    if not _resource_matches(constraints["resourceRules"], str(obj.get("kind")), operation):
        return "skip"
    namespace_labels = _namespace_labels(obj, namespace_object)
    selector = constraints.get("namespaceSelector")
    labels = namespace_labels
    if selector and labels is not None and not _selector_matches(selector, labels):
        return "skip"
    object_selector = constraints.get("objectSelector")
    if object_selector and not _selector_matches(object_selector, _labels(obj)):
        return "skip"
    variables: dict[str, Any] = {}
    context = new_context(
        {
            "object": obj,
            "oldObject": None,
            "request": request_for(obj, operation),
            "namespaceObject": namespace_object,
            "params": None,
            "variables": variables,
        }
    )
    try:
        for condition in spec.get("matchConditions", []):
            if context_eval(context, condition["expression"]) is not True:
                return "skip"
        for variable in spec.get("variables", []):
            variables[variable["name"]] = context_eval(context, variable["expression"])
            context.add_variable("variables", variables)
        results = [context_eval(context, v["expression"]) for v in spec["validations"]]
    except Exception:
        return "error"
    if any(not isinstance(result, bool) for result in results):
        return "error"
    return "pass" if all(results) else "fail"


def context_eval(context: Any, expression: str) -> Any:
    return cel.evaluate(expression, context)


def message_of(policy: Mapping[str, Any], obj: Mapping[str, Any]) -> list[str]:
    """The messages of the failing validations of ``policy`` on ``obj`` (messageExpression when it
    evaluates to a string, else message), for checking messages render."""
    spec = policy["spec"]
    variables: dict[str, Any] = {}
    context = new_context(
        {
            "object": obj,
            "oldObject": None,
            "request": request_for(obj),
            "namespaceObject": None,
            "params": None,
            "variables": variables,
        }
    )
    for variable in spec.get("variables", []):
        variables[variable["name"]] = context_eval(context, variable["expression"])
        context.add_variable("variables", variables)
    messages = []
    for validation in spec["validations"]:
        if context_eval(context, validation["expression"]) is False:
            text = None
            if "messageExpression" in validation:
                text = context_eval(context, validation["messageExpression"])
            messages.append(text if isinstance(text, str) else validation["message"])
    return messages
