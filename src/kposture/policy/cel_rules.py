"""Custom rules as ordinary ``rules.base.Rule`` values: a ``RuleSpec`` compiled into metadata plus a
check that evaluates its CEL expressions on one object.

Owns the bindings (as in a Kubernetes ValidatingAdmissionPolicy): ``object``; ``oldObject`` (null
outside an UPDATE); ``request`` (``kind``, ``operation``, ``userInfo``, ``namespace``, ``name``,
``dryRun`` — a synthesized CREATE by ``kposture:scan`` in scans, the AdmissionReview's request at
admission); ``namespaceObject`` (the object's Namespace from the inventory, else null); ``params``;
``variables``. The activation (a ``cel.Context``) is built once per object and memoised in the
object's ``derived`` memo under ``ACTIVATION_KEY``, so every custom rule judging the object shares
it and only swaps ``params`` and ``variables``. The admission webhook attaches the request under
``REQUEST_KEY`` (``attach_admission_request``) before it calls the engine, which stays pure.

Also owns matching (kinds with their API groups, operations, namespace globs, object and namespace
selectors), the runtime cost bound (each expression's estimate from ``cel_costs`` is checked
against ``COST_BUDGET`` per rule and object before it is evaluated) and what a failure is: any
error, a refused cost or a validation that does not return a bool raises ``CelRuleError``, which
the engine reports as an error for that rule and object — never a pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import cel

from kposture.inventory import Inventory, namespace_of
from kposture.model import K8sObject, Violation
from kposture.policy.cel_bounds import estimate as bound_cost
from kposture.policy.cel_programs import (
    CelExpression,
    CompileProblem,
    compile_expression,
    new_context,
    run,
)
from kposture.policy.rule_specs import RuleFileError, RuleSpec
from kposture.rules.base import Rule, RuleCannotJudge

ACTIVATION_KEY = "kposture.policy.cel-activation"
REQUEST_KEY = "kposture.policy.admission-request"
COST_BUDGET = 400_000
"""Estimated steps (``cel_bounds``) one rule may take on one object, its variables and
validations together: at most about 100 ms on one core of the reference machine, measured by
``bench/cel_cost_calibration.py`` (slowest case 244 ns per estimated step)."""
SCAN_USER = "kposture:scan"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class CelRuleError(RuleCannotJudge):
    """A custom rule could not judge an object: the message names the rule file and line."""


class CelCostError(CelRuleError):
    """An expression's estimated cost on this object is over the budget; it was not evaluated."""


@dataclass(frozen=True, slots=True)
class AdmissionBinding:
    """What an admission request adds to the bindings: the ``request`` variable and ``oldObject``."""

    operation: str
    request: Mapping[str, Any]
    old_object: Mapping[str, Any] | None = None


def admission_binding(
    *,
    operation: str,
    group: str,
    version: str,
    kind: str,
    namespace: str,
    name: str,
    user: str,
    groups: Sequence[str],
    dry_run: bool,
    old_object: Mapping[str, Any] | None = None,
) -> AdmissionBinding:
    """The binding for an AdmissionReview request (the server calls this; it knows the review)."""
    request = {
        "kind": {"group": group, "version": version, "kind": kind},
        "operation": operation,
        "userInfo": {"username": user, "groups": list(groups)},
        "namespace": namespace,
        "name": name,
        "dryRun": dry_run,
    }
    return AdmissionBinding(operation, request, old_object if operation == "UPDATE" else None)


def attach_admission_request(obj: K8sObject, binding: AdmissionBinding) -> None:
    """Make ``binding`` the request every custom rule sees for ``obj`` (before it is judged)."""
    obj.derived[REQUEST_KEY] = binding
    obj.derived.pop(ACTIVATION_KEY, None)


def _scan_binding(obj: K8sObject) -> AdmissionBinding:
    ref = obj.ref
    version = ref.api_version.rpartition("/")[2]
    request = {
        "kind": {"group": ref.group, "version": version, "kind": ref.kind},
        "operation": "CREATE",
        "userInfo": {"username": SCAN_USER, "groups": []},
        "namespace": namespace_of(obj),
        "name": ref.name,
        "dryRun": True,
    }
    return AdmissionBinding("CREATE", request)


def _plain(value: Any) -> Any:
    """``value`` with what CEL cannot hold made plain: YAML dates as RFC 3339 strings, integers
    beyond 64 bits as floats, other unknown values as strings."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | float | bytes):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


class _Activation:
    """One object's bindings and the ``cel.Context`` holding them, shared by every custom rule."""

    __slots__ = ("bindings", "context", "operation")

    def __init__(self, obj: K8sObject, inventory: Inventory) -> None:
        binding = obj.derived.get(REQUEST_KEY)
        if not isinstance(binding, AdmissionBinding):
            binding = _scan_binding(obj)
        self.operation = binding.operation
        namespace = _namespace_object(obj, inventory)
        self.bindings: dict[str, Any] = {
            "object": obj.raw,
            "oldObject": binding.old_object,
            "request": binding.request,
            "namespaceObject": namespace.raw if namespace is not None else None,
        }
        base = {**self.bindings, "params": {}, "variables": {}}
        try:
            self.context = new_context(base)
        except ValueError:  # a value CEL cannot hold (a YAML date): build from plain values
            self.bindings = {key: _plain(value) for key, value in self.bindings.items()}
            self.context = new_context({**self.bindings, "params": {}, "variables": {}})


def activation(obj: K8sObject, inventory: Inventory) -> _Activation:
    """The object's shared activation, built on first use."""
    found = obj.derived.get(ACTIVATION_KEY)
    if isinstance(found, _Activation):
        return found
    built = _Activation(obj, inventory)
    obj.derived[ACTIVATION_KEY] = built
    return built


def _namespace_object(obj: K8sObject, inventory: Inventory) -> K8sObject | None:
    if obj.ref.kind == "Namespace":
        return None
    namespace = namespace_of(obj)
    return inventory.get("Namespace", "", namespace) if namespace else None


def _namespace_labels(obj: K8sObject, inventory: Inventory) -> Mapping[str, str] | None:
    """The labels of the object's namespace (its own for a Namespace); None when cluster-scoped.
    A Namespace not in the inventory has only the ``kubernetes.io/metadata.name`` label the API
    server sets on every Namespace."""
    if obj.ref.kind == "Namespace":
        return {**obj.labels, NAMESPACE_NAME_LABEL: obj.ref.name}
    namespace = namespace_of(obj)
    if not namespace:
        return None
    found = inventory.get("Namespace", "", namespace)
    labels = found.labels if found is not None else {}
    return {**labels, NAMESPACE_NAME_LABEL: namespace}


@dataclass(frozen=True, slots=True)
class _CompiledValidation:
    expression: CelExpression
    message: str
    message_expression: CelExpression | None
    path: tuple[str | int, ...]
    number: int


class CelCheck:
    """The check of one custom rule (a callable ``Check``)."""

    __slots__ = ("_reads", "_validations", "_variables", "spec")

    def __init__(
        self,
        spec: RuleSpec,
        variables: tuple[tuple[str, CelExpression], ...],
        validations: tuple[_CompiledValidation, ...],
    ) -> None:
        self.spec = spec
        self._variables = variables
        self._validations = validations
        expressions = [expression for _, expression in variables]
        for validation in validations:
            expressions.append(validation.expression)
            if validation.message_expression is not None:
                expressions.append(validation.message_expression)
        self._reads = frozenset(root for e in expressions for root in e.shape.roots)
        """The bound names the rule reads: only those it reads are set per rule."""

    def applies(self, obj: K8sObject, inventory: Inventory, operation: str) -> bool:
        """Whether the rule's ``match`` selects this object (and request operation)."""
        match = self.spec.match
        if operation not in match.operations:
            return False
        if not any(entry.matches(obj.ref.group, obj.ref.kind) for entry in match.kinds):
            return False
        if match.namespaces:
            namespace = obj.ref.name if obj.ref.kind == "Namespace" else namespace_of(obj)
            if not namespace or not any(fnmatchcase(namespace, g) for g in match.namespaces):
                return False
        if match.object_selector is not None and not match.object_selector.matches(obj.labels):
            return False
        if match.namespace_selector is not None:
            labels = _namespace_labels(obj, inventory)
            if labels is not None and not match.namespace_selector.matches(labels):
                return False
        return True

    def __call__(self, obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        state = activation(obj, inventory)
        if not self.applies(obj, inventory, state.operation):
            return
        context = state.context
        # The context is shared: a name another rule set is reset before this rule reads it.
        if "params" in self._reads:
            context.add_variable("params", self.spec.params)
        values: dict[str, Any] = {}
        if "variables" in self._reads:
            context.add_variable("variables", values)
        spent = 0
        for name, expression in self._variables:
            spent = self._afford(expression, state, values, spent)
            values[name] = self._evaluate(expression, context, f"variable {name}")
            context.add_variable("variables", values)
        for validation in self._validations:
            spent = self._afford(validation.expression, state, values, spent)
            result = self._evaluate(validation.expression, context, "validation")
            if not isinstance(result, bool):
                raise CelRuleError(
                    f"{self.spec.file}:{validation.expression.line}: validation returned "
                    f"{type(result).__name__}, not a bool"
                )
            if not result:
                message = self._message(validation, state, values, spent)
                yield Violation(message, validation.path, (("validation", str(validation.number)),))

    def _afford(
        self, expression: CelExpression, state: _Activation, values: Mapping[str, Any], spent: int
    ) -> int:
        cost = bound_cost(expression.tree, {**state.bindings, "variables": values})
        if spent + cost > COST_BUDGET:
            raise CelCostError(
                f"{self.spec.file}:{expression.line}: expression not evaluated: its estimated "
                f"cost on this object ({spent + cost:,} steps with the rule's "
                f"earlier expressions) is over the budget of {COST_BUDGET:,}"
            )
        return spent + cost

    def _evaluate(self, expression: CelExpression, context: cel.Context, what: str) -> Any:
        try:
            return run(expression, context)
        except Exception as exc:  # cel raises KeyError, TypeError, ValueError, RuntimeError...
            raise CelRuleError(
                f"{self.spec.file}:{expression.line}: {what} failed: {cel_error_text(exc)}"
            ) from None

    def _message(
        self,
        validation: _CompiledValidation,
        state: _Activation,
        values: Mapping[str, Any],
        spent: int,
    ) -> str:
        """``messageExpression`` when it yields a non-empty string, else ``message``, else the
        expression (as Kubernetes does when a message expression fails)."""
        expression = validation.message_expression
        if expression is not None:
            try:
                self._afford(expression, state, values, spent)
                text = run(expression, state.context)
            except Exception:  # a failed message expression falls back, as in Kubernetes
                text = None
            if isinstance(text, str) and text.strip():
                return text.strip()
        return validation.message or f"failed expression: {validation.expression.source}"


def cel_error_text(exc: BaseException) -> str:
    """An evaluation error in CEL's words rather than Python's: ``KeyError: 'spec'`` is
    ``no such key: spec`` (guard the read with ``has()``)."""
    if isinstance(exc, KeyError) and exc.args:
        return f"no such key: {exc.args[0]} (guard the read with has())"
    if isinstance(exc, IndexError):
        return _first_line(exc)
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def compile_rule(spec: RuleSpec) -> tuple[Rule | None, list[RuleFileError]]:
    """The rule for ``spec``, or None with an error per expression that does not compile."""
    errors: list[RuleFileError] = []
    declared: list[str] = []
    variables: list[tuple[str, CelExpression]] = []

    def compiled(source: str, line: int, want_bool: bool, what: str) -> CelExpression | None:
        try:
            return compile_expression(
                source, want_bool=want_bool, variables=tuple(declared), line=line
            )
        except CompileProblem as exc:
            errors.append(RuleFileError(spec.file, line, f"{what} {exc}", spec.id))
            return None

    for variable in spec.variables:
        found = compiled(variable.expression, variable.line, False, f"variable {variable.name}")
        declared.append(variable.name)
        if found is not None:
            variables.append((variable.name, found))
    validations: list[_CompiledValidation] = []
    for number, validation in enumerate(spec.validations, start=1):
        expression = compiled(validation.expression, validation.line, True, "expression")
        message_expression = None
        if validation.message_expression:
            message_expression = compiled(
                validation.message_expression,
                validation.message_expression_line,
                False,
                "messageExpression",
            )
        if expression is not None:
            validations.append(
                _CompiledValidation(
                    expression,
                    validation.message,
                    message_expression,
                    validation.path,
                    number,
                )
            )
    if errors:
        return None, errors
    check = CelCheck(spec, tuple(variables), tuple(validations))
    return Rule(spec.meta(), check), []
