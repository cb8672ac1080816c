"""The admission decision: one parsed request in, one ``AdmissionDecision`` and its response out.

Pure (the time is passed in, nothing is read or written), so the webhook, ``kposture admission
what-if`` and the tests share it. Owns what gets judged and how findings become a decision:

- DELETE and CONNECT (``pods/exec``, ``pods/attach``, ``pods/portforward``), subresources
  (``status``, ``scale``...) and kinds no rule judges are allowed unjudged; an exempt namespace,
  label selector, user or group is allowed and says why.
- ``pods/ephemeralcontainers`` (``kubectl debug``) is judged as an UPDATE of the Pod: only what the
  new ephemeral containers introduce counts. API servers before 1.23 send an
  ``EphemeralContainers`` object instead of the Pod; its containers are judged in a Pod of their
  own (the pod's securityContext is not in the request).
- CREATE and UPDATE objects are judged with the engine's ``evaluate_one`` — the scanner's engine and
  rules — over an inventory of that one object (a request carries nothing else), so rules that need
  other objects, and rules about manifest files rather than API objects, are off unless the policy
  names them exactly (``OFF_BY_DEFAULT``).
- On UPDATE the old object is judged too, and a finding it already had (same rule and fingerprint,
  or same rule and message) does not count: an unchanged legacy violation never blocks a scale-up.
- Suppressed findings (policy exceptions; the object's own ``kposture.io/ignore`` annotation only
  when ``admission.allowSelfExemption`` allows it — the requester writes it) never deny, but are
  listed with mode ``exempt`` and who let them through, and the requester gets a warning naming
  each. Every other finding gets the mode the admission policy gives its rule in the namespace;
  enforce denies (403, each violation with its rule id and fix), warn adds a ``warnings`` line,
  dry-run is recorded as would-deny.
- Custom (CEL) rules get the review's ``request`` and ``oldObject`` through the object's memo
  (``policy.cel_rules.attach_admission_request``).
- A rule that raises is an error: the request is allowed with a warning and ``Outcome.ERROR``, or
  denied when the policy fails closed. Messages name rules and fields, never object values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

from kposture.engine import Registry, evaluate_one
from kposture.engine.suppressing import IGNORE_ANNOTATION, annotation_exemption
from kposture.inventory import Inventory, pod_template_metadata
from kposture.model import Finding, K8sObject, ResourceRef, RunPolicy, SourceLocation, Suppression
from kposture.model.admission import (
    AdmissionDecision,
    AdmissionMode,
    AdmissionPolicy,
    Outcome,
    RuleVerdict,
)
from kposture.policy.cel_rules import admission_binding, attach_admission_request
from kposture.server.reviews import AdmissionRequest, truncate

JUDGED_OPERATIONS = frozenset({"CREATE", "UPDATE"})
EPHEMERAL_SUBRESOURCE = "ephemeralcontainers"
"""The one subresource judged: ``kubectl debug`` adds containers to a running Pod through it."""
ADMISSION_FILE = "admission request"
"""The ``file`` of an admitted object's location: it has no file, but its findings keep their path."""
CROSS_OBJECT_RULES = frozenset(
    {
        "workload-not-isolated",
        "workload-egress-unrestricted",
        "namespace-without-network-policy",
        "service-account-token-automount",
    }
)
"""Rules whose verdict depends on objects a request does not carry (NetworkPolicies, the
ServiceAccount): judged alone, every workload would look unprotected. Off at admission unless the
policy names them exactly; ``kposture scan --cluster`` judges them with the whole cluster."""
MANIFEST_RULES = frozenset({"secret-in-manifest"})
"""Rules about what a manifest file commits to Git: every Secret the API server admits holds its
values, so at admission this rule would fire on every Secret."""
OFF_BY_DEFAULT = CROSS_OBJECT_RULES | MANIFEST_RULES
CONTROLLER_OWNER_KINDS = frozenset(
    {
        "ReplicaSet",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
    }
)
HOST_ACCESS_RULES = (
    "host-pid",
    "host-ipc",
    "host-network",
    "host-ports",
    "host-path-volume",
    "sensitive-host-path",
    "container-runtime-socket",
)
"""The rules that keep a pod out of the node's namespaces and filesystem. Each hostPath volume is
reported by exactly one of the last three (the most specific): ``host-path-volume`` does not
report hostPath ``/`` or the container runtime socket, so a glob such as ``host-*`` that gives it a
mode leaves the most dangerous hostPaths to another setting."""
_GLOB_CHARACTERS = frozenset("*?[")
_CONTROLLER_USER_PREFIX = "system:serviceaccount:kube-system:"
_CONTROLLER_MANAGER = "system:kube-controller-manager"
_RULE_ERROR = re.compile(r"^rule (\S+) failed on .*?: (\w+)")
_OUTCOME_ORDER = (Outcome.DENIED, Outcome.ERROR, Outcome.WARNED, Outcome.DRY_RUN, Outcome.EXEMPT)


@dataclass(frozen=True, slots=True)
class Judged:
    """A decision with the response fields the API server gets."""

    decision: AdmissionDecision
    allowed: bool
    message: str = ""
    code: int = 0
    warnings: tuple[str, ...] = ()
    rule_errors: tuple[str, ...] = field(default=(), repr=False)
    """The engine's own error for each rule that failed (``rule X failed on Kind/ns/name: why``,
    as a scan shows it). Never sent to the API server, recorded nor in its repr (it may quote a
    field value): ``admission what-if``, which replays the operator's own objects, shows it."""


def request_object(request: AdmissionRequest, raw: Mapping[str, Any]) -> K8sObject:
    """The request's object as the rules see it: its namespace is the request's (the API server
    fills it in; a manifest may leave it out) and its findings are located by path only."""
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name") or meta.get("generateName") or request.name
    api_version = raw.get("apiVersion")
    kind = raw.get("kind")
    ref = ResourceRef(
        api_version=api_version if isinstance(api_version, str) else request.api_group_version,
        kind=kind if isinstance(kind, str) and kind else request.kind,
        namespace=request.namespace or _string(meta.get("namespace")),
        name=name if isinstance(name, str) else "",
    )
    return K8sObject(ref, raw, SourceLocation(ADMISSION_FILE, 0, 0, "admission"))


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _request_ref(request: AdmissionRequest) -> ResourceRef:
    raw = request.object or request.old_object
    if raw is not None:
        return request_object(request, raw).ref
    return ResourceRef(request.api_group_version, request.kind, request.namespace, request.name)


class Decider:
    """Judges requests against one registry, run policy and admission policy (built once, shared by
    every request; it holds no per-request state, so concurrent requests are safe)."""

    __slots__ = ("_run_policy", "admission", "policy", "registry")

    def __init__(self, registry: Registry, policy: RunPolicy, admission: AdmissionPolicy) -> None:
        self.registry = registry
        self.policy = policy
        self.admission = admission
        # The requester writes the object's annotations: at admission they exempt it only when
        # the admission block allows it (and the file does not forbid self-exemption overall).
        self._run_policy = replace(
            policy,
            allow_annotation_exceptions=policy.allow_annotation_exceptions
            and admission.allow_self_exemption,
        )

    @property
    def kinds(self) -> frozenset[str]:
        """Every kind at least one rule judges."""
        return frozenset(kind for rule in self.registry for kind in rule.meta.kinds)

    def decide(self, request: AdmissionRequest, now: dt.datetime) -> Judged:
        ref = _request_ref(request)

        def allowed(outcome: Outcome, reason: str) -> Judged:
            return Judged(self._decision(request, now, ref, outcome, reason=reason), True)

        if request.operation not in JUDGED_OPERATIONS:
            return allowed(Outcome.ALLOWED, f"{request.operation} is not judged")
        if request.sub_resource:
            if not _is_ephemeral_update(request):
                return allowed(Outcome.ALLOWED, f"subresource {request.sub_resource} is not judged")
            request = _ephemeral_as_pod(request)
        if request.object is None:
            return allowed(Outcome.ALLOWED, "the request carries no object")
        obj = request_object(request, request.object)
        if not self.registry.for_kind(obj.ref.kind):
            return allowed(Outcome.ALLOWED, f"no rule judges {obj.ref.kind}")
        exemption = self.admission.exemption_for(
            _scope_namespace(obj), obj.labels, request.user, request.groups, _template_labels(obj)
        )
        if exemption:
            return allowed(Outcome.EXEMPT, exemption)
        return self._judge(request, obj, now)

    def _judge(self, request: AdmissionRequest, obj: K8sObject, now: dt.datetime) -> Judged:
        today = now.date()
        _bind_request(request, obj)
        result = evaluate_one(obj, Inventory((obj,)), self.registry, self._run_policy, today)
        findings = list(result.findings)
        if request.operation == "UPDATE" and request.old_object is not None and findings:
            findings = self._introduced(request, request.old_object, findings, today)
        capped = self._controller_created(request, obj)
        namespace = _scope_namespace(obj)
        verdicts: list[RuleVerdict] = []
        by_rule = {}
        for finding in findings:
            mode = self.admission.mode_for(
                finding.rule_id, namespace, explicit_only=finding.rule_id in OFF_BY_DEFAULT
            )
            if mode is None:
                continue
            message = finding.message
            if finding.suppressed_by is not None:
                # Let through by an exception: recorded and shown, never silently dropped.
                mode = AdmissionMode.EXEMPT
                message = f"{message} ({_suppression_text(finding.suppressed_by)})"
            elif capped:
                mode = AdmissionMode.DRY_RUN
            verdicts.append(RuleVerdict(finding.rule_id, finding.severity, mode, message))
            by_rule[finding.rule_id] = finding
        errors = tuple(error.message for error in result.errors if error.level == "error")
        failed = [_rule_error(message) for message in errors]
        notes = self._ignored_annotation(obj, verdicts)
        judged = self._respond(request, now, obj.ref, verdicts, by_rule, failed, capped, notes)
        return replace(judged, rule_errors=errors) if errors else judged

    def _ignored_annotation(self, obj: K8sObject, verdicts: list[RuleVerdict]) -> list[str]:
        """A warning when the object's ``kposture.io/ignore`` names a violated rule but is not
        honoured at admission, so the requester knows why it did not help."""
        if self._run_policy.allow_annotation_exceptions:
            return []
        exemption = annotation_exemption(obj)
        if exemption is None or not any(v.rule_id in exemption.rule_ids for v in verdicts):
            return []
        return [
            f"kposture: the {IGNORE_ANNOTATION} annotation is not honoured at admission "
            "(admission.allowSelfExemption is false)"
        ]

    def _introduced(
        self,
        request: AdmissionRequest,
        raw: Mapping[str, Any],
        findings: list[Finding],
        today: dt.date,
    ) -> list[Finding]:
        old = request_object(request, raw)
        before = evaluate_one(old, Inventory((old,)), self.registry, self.policy, today)
        held = {(f.rule_id, f.fingerprint) for f in before.findings}
        held |= {(f.rule_id, f.message) for f in before.findings}
        return [
            f
            for f in findings
            if (f.rule_id, f.fingerprint) not in held and (f.rule_id, f.message) not in held
        ]

    def _controller_created(self, request: AdmissionRequest, obj: K8sObject) -> bool:
        """Made by a built-in controller for an owner the webhook judged (see
        ``AdmissionPolicy.controller_created``); the owner reference alone is not trusted."""
        if self.admission.controller_created != "record" or request.operation != "CREATE":
            return False
        user = request.user
        if not (user == _CONTROLLER_MANAGER or user.startswith(_CONTROLLER_USER_PREFIX)):
            return False
        owners = obj.metadata.get("ownerReferences")
        return isinstance(owners, list) and any(
            isinstance(owner, Mapping)
            and owner.get("controller") is True
            and owner.get("kind") in CONTROLLER_OWNER_KINDS
            for owner in owners
        )

    def _respond(
        self,
        request: AdmissionRequest,
        now: dt.datetime,
        ref: ResourceRef,
        verdicts: list[RuleVerdict],
        by_rule: dict[str, Finding],
        failed: list[tuple[str, str]],
        capped: bool,
        notes: list[str],
    ) -> Judged:
        modes = {verdict.mode for verdict in verdicts}
        outcomes = set()
        if AdmissionMode.ENFORCE in modes:
            outcomes.add(Outcome.DENIED)
        if failed:
            outcomes.add(Outcome.ERROR)
        if AdmissionMode.WARN in modes:
            outcomes.add(Outcome.WARNED)
        if AdmissionMode.DRY_RUN in modes:
            outcomes.add(Outcome.DRY_RUN)
        if AdmissionMode.EXEMPT in modes:
            outcomes.add(Outcome.EXEMPT)
        outcome = next((o for o in _OUTCOME_ORDER if o in outcomes), Outcome.ALLOWED)
        warnings = [
            truncate(f"[{v.rule_id}] {v.message}") for v in verdicts if v.mode is AdmissionMode.WARN
        ]
        exempt = [v for v in verdicts if v.mode is AdmissionMode.EXEMPT]
        warnings += [truncate(f"[{v.rule_id}] exempt: {v.message}") for v in exempt]
        warnings += [truncate(note) for note in notes]
        reasons = []
        if capped and any(v.mode is AdmissionMode.DRY_RUN for v in verdicts):
            reasons.append(
                "created by a controller: recorded, at most dry-run; its owner was judged when "
                "created or changed, or exempt by user or group"
            )
        if exempt:
            reasons.append("suppressed: " + "; ".join(f"{v.rule_id} {v.message}" for v in exempt))
        if failed:
            rules = ", ".join(sorted({rule for rule, _ in failed}))
            failure = f"rule(s) {rules} failed on this object"
            then = "denied (onError: deny)" if self.admission.fail_closed else "allowed"
            warnings.append(truncate(f"kposture: {failure}; {then}"))
            reasons.append(failure)
        reason = "; ".join(reasons)
        decision = self._decision(
            request, now, ref, outcome, verdicts=tuple(verdicts), reason=reason
        )
        if outcome is Outcome.DENIED:
            message = _deny_message(ref, verdicts, by_rule)
            return Judged(decision, False, message, 403, tuple(warnings))
        if failed and self.admission.fail_closed:
            message = f"kposture could not judge {ref.display()}: {failure} (onError: deny)"
            return Judged(decision, False, message, 500, tuple(warnings))
        return Judged(decision, True, warnings=tuple(warnings))

    def _decision(
        self,
        request: AdmissionRequest,
        now: dt.datetime,
        ref: ResourceRef,
        outcome: Outcome,
        *,
        verdicts: tuple[RuleVerdict, ...] = (),
        reason: str = "",
    ) -> AdmissionDecision:
        return AdmissionDecision(
            uid=request.uid,
            time=now,
            operation=request.operation,
            user=request.user,
            groups=request.groups,
            resource=ref,
            outcome=outcome,
            verdicts=verdicts,
            reason=reason,
            dry_run=request.dry_run,
        )


def mode_gaps(admission: AdmissionPolicy) -> list[str]:
    """Warnings for ``admission`` mode entries whose rule globs cover some host-access rules but
    leave out others that no entry names by id — typically ``"host-*": enforce`` leaving
    ``sensitive-host-path`` and ``container-runtime-socket`` (hostPath ``/``, docker.sock) at the
    default mode while a harmless hostPath is denied."""
    named = {
        rule
        for setting in (*admission.rule_modes, *admission.namespace_modes)
        for rule in setting.rules
        if not _GLOB_CHARACTERS & set(rule)
    }
    warnings = []
    for setting in (*admission.rule_modes, *admission.namespace_modes):
        for pattern in setting.rules:
            if pattern == "*" or not _GLOB_CHARACTERS & set(pattern):
                continue
            covered = [r for r in HOST_ACCESS_RULES if fnmatchcase(r, pattern)]
            missing = [r for r in HOST_ACCESS_RULES if r not in covered and r not in named]
            if covered and missing:
                where = f"{admission.source}:{setting.line}: " if admission.source else ""
                warnings.append(
                    f"{where}admission rule glob {pattern!r} covers {', '.join(covered)} but not "
                    f"{', '.join(missing)}, which judge host access too (hostPath / and the "
                    "container runtime socket are reported by sensitive-host-path and "
                    "container-runtime-socket, never host-path-volume); name them to give them "
                    "a mode"
                )
    return warnings


def _is_ephemeral_update(request: AdmissionRequest) -> bool:
    return (
        request.sub_resource == EPHEMERAL_SUBRESOURCE
        and request.resource == "pods"
        and request.operation == "UPDATE"
    )


def _ephemeral_as_pod(request: AdmissionRequest) -> AdmissionRequest:
    """The ``pods/ephemeralcontainers`` request as an UPDATE of a Pod: from 1.23 the object is the
    Pod already; before, an ``EphemeralContainers`` object, which becomes a Pod holding only those
    containers (the old one, when missing, a Pod with none, so only the new ones count)."""
    if request.object is None or request.object.get("kind") != "EphemeralContainers":
        return request
    new = _containers_pod(request.object)
    old = _containers_pod(request.old_object or {**request.object, "ephemeralContainers": []})
    return replace(request, kind="Pod", object=new, old_object=old)


def _containers_pod(raw: Mapping[str, Any]) -> dict[str, Any]:
    containers = raw.get("ephemeralContainers")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": raw.get("metadata") or {},
        "spec": {"ephemeralContainers": containers if isinstance(containers, list) else []},
    }


def _bind_request(request: AdmissionRequest, obj: K8sObject) -> None:
    """Give custom (CEL) rules the review's ``request`` and ``oldObject``, in the object's memo,
    so the engine stays a pure function of the object."""
    binding = admission_binding(
        operation=request.operation,
        group=request.group,
        version=request.version,
        kind=request.kind,
        namespace=request.namespace,
        name=request.name or obj.ref.name,
        user=request.user,
        groups=request.groups,
        dry_run=request.dry_run,
        old_object=request.old_object,
    )
    attach_admission_request(obj, binding)


def _suppression_text(suppression: Suppression) -> str:
    """How and why a finding was let through, for the verdict, the log and the warning."""
    if suppression.kind == "annotation":
        how = f"{IGNORE_ANNOTATION} annotation"
    else:
        how = "policy exception"
        if suppression.expires:
            how += f" until {suppression.expires}"
    return f"{how}: {suppression.reason}"


def _template_labels(obj: K8sObject) -> Mapping[str, str] | None:
    """The labels of a workload's pod template (``None`` for a Pod or an object without one): a
    label exemption must cover the pods a workload creates, not only the workload."""
    template = pod_template_metadata(obj)
    if template is None or template.path == ("metadata",):
        return None
    labels = template.spec.get("labels")
    if not isinstance(labels, Mapping):
        return {}
    return {str(k): str(v) for k, v in labels.items()}


def _scope_namespace(obj: K8sObject) -> str:
    """The namespace policy scopes match: a Namespace object matches its own name."""
    return obj.ref.name if obj.ref.kind == "Namespace" else obj.ref.namespace


def _rule_error(message: str) -> tuple[str, str]:
    """(rule id, exception type) from the engine's error; the exception's text is dropped, as it
    may quote a field value."""
    match = _RULE_ERROR.match(message)
    return (match.group(1), match.group(2)) if match else ("unknown", "error")


def _deny_message(
    ref: ResourceRef, verdicts: list[RuleVerdict], by_rule: dict[str, Finding]
) -> str:
    enforced = [v for v in verdicts if v.mode is AdmissionMode.ENFORCE]
    count = f"{len(enforced)} violation{'s' if len(enforced) != 1 else ''}"
    lines = [f"kposture denied {ref.display()}: {count}"]
    for verdict in enforced:
        remediation = by_rule[verdict.rule_id].remediation
        lines.append(f"[{verdict.rule_id}] {verdict.message} — fix: {remediation}")
    return "\n".join(lines)
