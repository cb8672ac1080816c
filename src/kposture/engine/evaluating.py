"""Runs rules over objects and turns their violations into located, fingerprinted findings.

``evaluate`` scans a whole inventory; ``evaluate_one`` judges a single object (the admission path).
A rule that raises on an object becomes an error entry for that pair; the scan goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from kposture.engine.registry import Registry
from kposture.engine.suppressing import (
    IGNORE_ANNOTATION,
    IGNORE_REASON_ANNOTATION,
    AnnotationExemption,
    annotation_exemption,
    is_expired,
    suppression_for,
)
from kposture.inventory import Inventory
from kposture.inventory.owners import inventory_coverage
from kposture.model import (
    Finding,
    InputError,
    K8sObject,
    Location,
    RunPolicy,
    ScanResult,
    Violation,
    format_path,
)
from kposture.rules.base import Check, Rule, RuleCannotJudge


def fingerprint(rule_id: str, obj: K8sObject, violation: Violation) -> str:
    """A stable id for a finding: the same rule, resource, field and evidence give the same value,
    wherever the file lives and whatever line the field is on (the violation's ``context`` is not
    part of it)."""
    ref = obj.ref
    parts = [rule_id, ref.group, ref.kind, ref.namespace, ref.name, format_path(violation.path)]
    parts.extend(f"{key}={value}" for key, value in violation.evidence)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def _location(obj: K8sObject, violation: Violation) -> Location | None:
    found = obj.locate(violation.path)
    if found is None:
        return None
    file, line, column = found
    return Location(file, line, column, format_path(violation.path))


def _release_positions(obj: K8sObject) -> None:
    """Let the object's position index drop what it read to locate the findings (an item of a
    JSON ``List`` keeps a located copy of the item otherwise: about 5 KB per RoleBinding), now that
    they are located; an index without ``release`` keeps what it holds."""
    release = getattr(obj.positions, "release", None)
    if release is not None:
        release()


def _object_error(obj: K8sObject, message: str, level: str = "error") -> InputError:
    file = obj.location.file if obj.location else ""
    line = obj.location.line if obj.location else 0
    return InputError(file, line, message, level)


def _is_active(rule: Rule, policy: RunPolicy) -> bool:
    rule_id = rule.meta.id
    if rule_id in policy.disabled:
        return False
    return not policy.enabled or rule_id in policy.enabled


class _Evaluator:
    """Holds what one evaluation shares across objects: the active rules' checks and the date."""

    __slots__ = ("_active", "_inventory", "_known", "_policy", "_today", "errors", "off_notices")

    def __init__(
        self, inventory: Inventory, registry: Registry, policy: RunPolicy, today: dt.date
    ) -> None:
        self._inventory = inventory
        self._policy = policy
        self._today = today
        self._active: dict[str, Check] = {}
        self._known = frozenset(registry.ids)
        self.errors: list[InputError] = []
        self.off_notices: list[InputError] = []
        for rule in registry:
            if not _is_active(rule, policy):
                continue
            configured = rule.configured(policy)
            if configured.check is None:
                message = f"rule {rule.meta.id} is off: {configured.off_reason}"
                self.off_notices.append(InputError("", 0, message, "warning"))
            else:
                self._active[rule.meta.id] = configured.check

    @property
    def active_ids(self) -> tuple[str, ...]:
        return tuple(self._active)

    def run(self, obj: K8sObject, rules: Iterable[Rule]) -> list[Finding]:
        findings: list[Finding] = []
        exemption = annotation_exemption(obj)
        if exemption is not None:
            self._check_exemption(obj, exemption)
        for rule in rules:
            check = self._active.get(rule.meta.id)
            if check is None:
                continue
            try:
                violations = list(check(obj, self._inventory))
            except Exception as exc:  # a broken rule must not hide other findings
                self.errors.append(
                    _object_error(
                        obj, f"rule {rule.meta.id} failed on {obj.ref.display()}: {_reason(exc)}"
                    )
                )
                continue
            for violation in violations:
                findings.append(self._finding(rule, obj, violation, exemption))
        _release_positions(obj)
        return findings

    def _check_exemption(self, obj: K8sObject, exemption: AnnotationExemption) -> None:
        """Warn about ignore annotations that do not do what their author expects."""
        problem = ""
        if not self._policy.allow_annotation_exceptions:
            problem = "is not honoured: the policy forbids self-exemption"
        elif not exemption.reason:
            problem = f"needs a {IGNORE_REASON_ANNOTATION} annotation; the exemption is not applied"
        else:
            unknown = sorted(exemption.rule_ids - self._known)
            if unknown:
                problem = (
                    f"names unknown rule id(s) {', '.join(unknown)} (wildcards are not accepted)"
                )
        if problem:
            message = f"{obj.ref.display()}: {IGNORE_ANNOTATION} {problem}"
            self.errors.append(_object_error(obj, message, "warning"))

    def _finding(
        self,
        rule: Rule,
        obj: K8sObject,
        violation: Violation,
        exemption: AnnotationExemption | None,
    ) -> Finding:
        meta = rule.meta
        return Finding(
            rule_id=meta.id,
            title=meta.title,
            severity=violation.severity
            or self._policy.severity_overrides.get(meta.id)
            or meta.severity,
            domain=meta.domain,
            stage=meta.stage,
            message=violation.message,
            resource=obj.ref,
            location=_location(obj, violation),
            references=meta.references,
            remediation=meta.remediation,
            fingerprint=fingerprint(meta.id, obj, violation),
            evidence=violation.evidence + violation.context,
            suppressed_by=suppression_for(
                meta.id,
                obj,
                self._policy,
                self._today,
                exemption,
            ),
        )


def _policy_warnings(policy: RunPolicy, today: dt.date) -> list[InputError]:
    """Exceptions that no longer work (expired) or that silence everything (a ``*`` rule with no
    scope at all): both are worth a line in every report."""
    warnings = []
    for entry in policy.exceptions:
        if is_expired(entry, today):
            message = (
                f"exception for {', '.join(entry.rules)} expired on {entry.expires}; it no longer "
                f"suppresses ({entry.reason})"
            )
        elif "*" in entry.rules and not (
            entry.namespaces or entry.kinds or entry.names or entry.selector
        ):
            message = (
                f"exception suppresses every rule on every object ({entry.reason}); scope it by "
                "namespace, kind, name or selector"
            )
        else:
            continue
        warnings.append(InputError(entry.source, entry.line, message, "warning"))
    return warnings


def _judge(
    objects: Iterable[K8sObject],
    inventory: Inventory,
    registry: Registry,
    policy: RunPolicy,
    today: dt.date,
) -> tuple[list[Finding], list[InputError], tuple[str, ...]]:
    evaluator = _Evaluator(inventory, registry, policy, today)
    findings: list[Finding] = []
    for obj in objects:
        findings.extend(evaluator.run(obj, registry.for_kind(obj.ref.kind)))
    errors = _policy_warnings(policy, today) + evaluator.off_notices + evaluator.errors
    return findings, errors, evaluator.active_ids


def evaluate(
    inventory: Inventory,
    registry: Registry,
    policy: RunPolicy,
    today: dt.date,
) -> ScanResult:
    """Run every active rule on every object of the inventory (and on its implied namespaces),
    except objects whose controlling owner in the scan has the same pod template: the owner's
    findings stand for them (``inventory.owners``)."""
    covered = inventory_coverage(inventory).covered
    order = inventory.evaluation_order()
    if covered:
        order = (obj for obj in order if id(obj) not in covered)
    findings, errors, rule_ids = _judge(order, inventory, registry, policy, today)
    return ScanResult(
        findings=tuple(findings),
        errors=tuple(errors),
        objects_scanned=len(inventory),  # implied namespaces are not counted as scanned
        rules_run=len(rule_ids),
        rule_ids_run=rule_ids,
    )


def evaluate_one(
    obj: K8sObject,
    inventory: Inventory,
    registry: Registry,
    policy: RunPolicy,
    today: dt.date,
) -> ScanResult:
    """Judge one object (for admission), reading the rest of the inventory where rules need it."""
    findings, errors, rule_ids = _judge((obj,), inventory, registry, policy, today)
    return ScanResult(
        findings=tuple(findings),
        errors=tuple(errors),
        objects_scanned=1,
        rules_run=len(rule_ids),
        rule_ids_run=rule_ids,
    )


def _reason(exc: Exception) -> str:
    """A rule's own explanation as it gave it; any other exception with its type (a bug)."""
    return str(exc) if isinstance(exc, RuleCannotJudge) else repr(exc)
