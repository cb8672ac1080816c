"""Custom audit-log detections in CEL: a ``DetectionSpec`` (parsed by ``detection_files``) compiled
into an ordinary ``Detection`` whose ``detect`` evaluates the spec's expressions over the event.

The expressions see ``event`` — the audit event as an ``audit.k8s.io/v1``-shaped map built from the
``AuditEvent`` (Secret values already removed), with ``allowed`` and ``sourceIP`` added and every
field present (empty when the log did not carry it; ``requestObject``/``responseObject`` are
``null``) — and ``variables``. ``match`` (verbs, resources as ``resource`` or
``resource/subresource``, namespace globs, outcome) is checked in Python first and gives the
detection its ``interest``, so the map is built only for events a custom detection selects, once
per event for all of them. Compilation and the per-evaluation cost bound are the custom rules'
(``cel_programs``, ``cel_costs``); an evaluation error or a cost over the budget is a
``DetectionRuntimeError`` with the file and line, which the detector counts for that detection and
event.

``cel`` has no type checker, so at load the expressions also run, in order, on an event with every
field empty (``SAMPLE_EVENT``): a condition that returns something other than a bool there, or a
message expression that returns something other than a string, is refused with its line (an
expression that fails on that event, reading a body that is absent, is judged only at run time).
A message expression that fails at run time does not lose the alert: it carries the ``message``
(else the title) with a note saying why, and the detection's ``DetectionNotes`` (its state) keep
one warning with the file and line for the detector's notices.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import cel

from kposture.detections import DetectionRuntimeError, DetectionSettings
from kposture.detections.base import Detection, DetectionNotes, Interest
from kposture.model.audit import AuditEvent, AuditUser
from kposture.model.incidents import DetectionMeta, Hit
from kposture.policy.cel_costs import collection_size, estimate
from kposture.policy.cel_overloads import overload_problem
from kposture.policy.cel_programs import CelExpression, CompileProblem, compile_expression, run
from kposture.policy.cel_programs import new_context as cel_context
from kposture.policy.cel_rules import COST_BUDGET, _plain, cel_error_text
from kposture.policy.rule_specs import RuleFileError, Variable

DETECTION_ROOTS = frozenset({"event", "variables"})
SAMPLE_EVENT = AuditEvent(audit_id="", stage="", verb="", request_uri="", user=AuditUser(""))
"""The event expressions are tried on at load: every field present and empty, no bodies."""


class MessageExpressionFailed(Exception):
    """A message expression that gave no message on one event; the text says why."""


class Outcome(enum.StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class DetectionSpec:
    """One parsed ``kind: Detection`` document."""

    meta: DetectionMeta
    verbs: tuple[str, ...]
    resources: tuple[str, ...]
    namespaces: tuple[str, ...]
    outcome: Outcome
    variables: tuple[Variable, ...]
    conditions: tuple[tuple[str, int], ...]
    message: str
    message_expression: str
    message_expression_line: int
    containment: str
    file: str
    line: int


def _user(user: AuditUser | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "username": user.username,
        "groups": list(user.groups),
        "extraKeys": list(user.extra_keys),
    }


def event_map(event: AuditEvent) -> dict[str, Any]:
    """The event as CEL sees it."""
    ref = event.ref
    return {
        "auditID": event.audit_id,
        "stage": event.stage,
        "level": event.level,
        "verb": event.verb,
        "requestURI": event.request_uri,
        "user": _user(event.user),
        "impersonatedUser": _user(event.impersonated_user),
        "sourceIPs": list(event.source_ips),
        "sourceIP": event.source_ip,
        "userAgent": event.user_agent,
        "objectRef": ref.as_audit_json(),
        "responseStatus": {"code": event.response_code or 0, "reason": event.response_reason},
        "requestReceivedTimestamp": event.received_at.isoformat() if event.received_at else "",
        "annotations": {
            "authorization.k8s.io/decision": event.decision,
            "authorization.k8s.io/reason": event.reason,
        },
        "allowed": event.allowed,
        "requestObject": _plain(event.request_object) if event.request_object is not None else None,
        "responseObject": _plain(event.response_object)
        if event.response_object is not None
        else None,
    }


class _Activations:
    """The last event's map and context, shared by every custom detection of a load: the detector
    shows them one event after another, so each event's map is built once."""

    def __init__(self) -> None:
        self._last = threading.local()

    def get(self, event: AuditEvent) -> tuple[dict[str, Any], cel.Context]:
        last = getattr(self._last, "entry", None)
        if last is not None and last[0] is event:
            return last[1], last[2]
        mapped = event_map(event)
        context = cel_context({"event": mapped})
        self._last.entry = (event, mapped, context)
        return mapped, context


@dataclass(frozen=True, slots=True)
class _Program:
    spec: DetectionSpec
    variables: tuple[tuple[str, CelExpression], ...]
    conditions: tuple[CelExpression, ...]
    message: CelExpression | None
    activations: _Activations

    def selects(self, event: AuditEvent) -> bool:
        spec = self.spec
        ref = event.ref
        if spec.verbs and event.verb not in spec.verbs:
            return False
        if (
            spec.resources
            and ref.resource not in spec.resources
            and (ref.resource_path not in spec.resources)
        ):
            return False
        if spec.namespaces and not any(fnmatchcase(ref.namespace, g) for g in spec.namespaces):
            return False
        if spec.outcome is Outcome.ALLOWED:
            return event.allowed
        return spec.outcome is Outcome.ANY or not event.allowed

    def fail(self, expression: CelExpression, message: str) -> DetectionRuntimeError:
        return DetectionRuntimeError(f"{self.spec.file}:{expression.line}: {message}")

    def afford(self, expression: CelExpression, bindings: dict[str, Any], spent: int) -> int:
        if not expression.shape.comprehensions:
            return spent + 1
        strings = expression.shape.splits
        cost = estimate(expression.shape, bindings, lambda: collection_size(bindings, strings))
        if spent + cost > COST_BUDGET:
            raise self.fail(
                expression,
                f"expression not evaluated: its estimated cost on this event ({spent + cost:,} "
                f"comprehension steps) is over the budget of {COST_BUDGET:,}",
            )
        return spent + cost

    def evaluate(
        self, expression: CelExpression, context: cel.Context, what: str, bindings: dict[str, Any]
    ) -> Any:
        try:
            return run(expression, context)
        except Exception as exc:  # cel raises KeyError, TypeError, ValueError, RuntimeError...
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            why = (
                overload_problem(exc, expression.tree, bindings) or f"{type(exc).__name__}: {first}"
            )
            raise self.fail(expression, f"{what} failed: {why}") from None

    def __call__(self, event: AuditEvent, notes: object) -> Iterator[Hit]:
        if not self.selects(event):
            return
        mapped, context = self.activations.get(event)
        values: dict[str, Any] = {}
        bindings = {"event": mapped, "variables": values}
        context.add_variable("variables", values)
        spent = 0
        for name, expression in self.variables:
            spent = self.afford(expression, bindings, spent)
            values[name] = self.evaluate(expression, context, f"variable {name}", bindings)
            context.add_variable("variables", values)
        for expression in self.conditions:
            spent = self.afford(expression, bindings, spent)
            result = self.evaluate(expression, context, "condition", bindings)
            if not isinstance(result, bool):
                raise self.fail(
                    expression, f"condition returned {type(result).__name__}, not a bool"
                )
            if not result:
                return
        containment = self.spec.containment or self.spec.meta.response
        fallback = self.spec.message or self.spec.meta.title
        if self.message is None:
            yield Hit(fallback, containment)
            return
        try:
            text = self._message(self.message, context, bindings, spent)
        except MessageExpressionFailed as failed:
            yield self._noted(fallback, containment, str(failed), event, notes)
            return
        yield Hit(text, containment)

    def _message(
        self, expression: CelExpression, context: cel.Context, bindings: dict[str, Any], spent: int
    ) -> str:
        try:
            self.afford(expression, bindings, spent)
            text = run(expression, context)
        except DetectionRuntimeError as exc:
            raise MessageExpressionFailed(str(exc).split(": ", 1)[-1]) from None
        except Exception as exc:  # cel raises KeyError, TypeError, ValueError, RuntimeError...
            why = overload_problem(exc, expression.tree, bindings) or cel_error_text(exc)
            raise MessageExpressionFailed(why) from None
        if not isinstance(text, str):
            raise MessageExpressionFailed(f"it returned {_type_name(text)}, not a string")
        if not text.strip():
            raise MessageExpressionFailed("it returned an empty string")
        return text.strip()

    def _noted(
        self, fallback: str, containment: str, why: str, event: AuditEvent, notes: object
    ) -> Hit:
        """The alert of a detection whose message expression failed: the fallback message with a
        note, and (once per detection) a warning with the file and line."""
        spec = self.spec
        where = f"{spec.file}:{spec.message_expression_line}"
        if isinstance(notes, DetectionNotes):
            instead = "message" if spec.message else "title"
            notes.once(
                "messageExpression",
                f"{where}: detection {spec.meta.id}: messageExpression failed on audit event "
                f"{event.audit_id or '<no id>'}: {why}; its alerts carry the {instead} with a "
                "note instead (warned once per detection)",
            )
        return Hit(
            f"{fallback} (note: the messageExpression at {where} failed: {_brief(why)})",
            containment,
            evidence=(("message_expression_error", f"{where}: {why}"),),
        )


def _brief(why: str, limit: int = 120) -> str:
    """The first sentence of a reason, short enough for an alert message."""
    first = why.split(". ", 1)[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _notes(_settings: DetectionSettings) -> DetectionNotes:
    return DetectionNotes()


def compile_detection(
    spec: DetectionSpec, activations: _Activations | None = None
) -> tuple[Detection | None, list[RuleFileError]]:
    """The detection for ``spec``, or None with an error per expression that does not compile."""
    errors: list[RuleFileError] = []
    declared: list[str] = []

    def compiled(source: str, line: int, want_bool: bool, what: str) -> CelExpression | None:
        try:
            return compile_expression(
                source,
                want_bool=want_bool,
                variables=tuple(declared),
                line=line,
                roots=DETECTION_ROOTS,
            )
        except CompileProblem as exc:
            errors.append(RuleFileError(spec.file, line, f"{what} {exc}", spec.meta.id))
            return None

    variables = []
    for variable in spec.variables:
        found = compiled(variable.expression, variable.line, False, f"variable {variable.name}")
        declared.append(variable.name)
        if found is not None:
            variables.append((variable.name, found))
    conditions = [compiled(source, line, True, "condition") for source, line in spec.conditions]
    message = (
        compiled(spec.message_expression, spec.message_expression_line, False, "messageExpression")
        if spec.message_expression
        else None
    )
    errors.extend(
        _sample_problems(spec, variables, [c for c in conditions if c is not None], message)
    )
    if errors:
        return None, errors
    program = _Program(
        spec,
        tuple(variables),
        tuple(c for c in conditions if c is not None),
        message,
        activations or _SHARED,
    )
    resources = frozenset(item.split("/", 1)[0] for item in spec.resources) or None
    interest = Interest(frozenset(spec.verbs) or None, resources)
    return Detection(spec.meta, program, start=_notes, interest=interest), []


def _sample_problems(
    spec: DetectionSpec,
    variables: list[tuple[str, CelExpression]],
    conditions: list[CelExpression],
    message: CelExpression | None,
) -> list[RuleFileError]:
    """Run the compiled expressions on ``SAMPLE_EVENT``, in order: a condition that returns no
    bool, or a message expression that returns no string, is a load error. An expression that
    fails there, or reads a variable that did, is left to run time."""
    context = cel_context({"event": event_map(SAMPLE_EVENT)})
    values: dict[str, Any] = {}
    context.add_variable("variables", values)
    unknown: set[str] = set()

    def result(expression: CelExpression) -> tuple[bool, Any]:
        if unknown & set(expression.shape.variables):
            return False, None
        try:
            return True, run(expression, context)
        except Exception:  # a body absent on this event: judged at run time
            return False, None

    for name, expression in variables:
        known, value = result(expression)
        if known:
            values[name] = value
            context.add_variable("variables", values)
        else:
            unknown.add(name)
    problems = []
    for expression in conditions:
        known, value = result(expression)
        if known and not isinstance(value, bool):
            problems.append(
                RuleFileError(
                    spec.file,
                    expression.line,
                    f"condition must return a bool, not {_type_name(value)} (it returned "
                    f"{_shown(value)} on an event with every field empty)",
                    spec.meta.id,
                )
            )
    if message is not None:
        known, value = result(message)
        if known and not isinstance(value, str):
            problems.append(
                RuleFileError(
                    spec.file,
                    message.line,
                    f"messageExpression must return a string, not {_type_name(value)} (it "
                    f"returned {_shown(value)} on an event with every field empty)",
                    spec.meta.id,
                )
            )
    return problems


def _shown(value: object) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_SHARED = _Activations()
