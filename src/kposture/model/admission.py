"""Admission decisions — what the webhook decided for one AdmissionReview and why — and the
admission policy that decides them.

The server makes decisions, the store keeps them, ``kposture admission log`` and the metrics read
them. A decision lists every rule the object violated with the mode in force for that rule in that
namespace, so a dry-run decision says exactly what enforcing would have denied. The policy (the
``admission:`` block of the policy file, parsed by ``sources.policy_file``) gives each rule a mode
per namespace and lists the requests admitted without judging.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase

from kposture.model.policies import LabelSelector
from kposture.model.resources import ResourceRef
from kposture.model.rules import Severity


class AdmissionMode(StrEnum):
    """What a violated rule does at admission."""

    ENFORCE = "enforce"
    """Deny the request with a message naming each violation, its rule id and the fix."""
    WARN = "warn"
    """Allow it with AdmissionReview ``warnings`` (kubectl prints them)."""
    DRY_RUN = "dry-run"
    """Allow it and record what would have been denied."""
    EXEMPT = "exempt"
    """Never a policy setting: a verdict whose finding a policy exception or (when admission
    allows self-exemption) the object's ``kposture.io/ignore`` annotation suppressed. Recorded and
    shown to the requester as a warning, never denied."""


class Outcome(StrEnum):
    """The decision's result as the API server and the log see it."""

    ALLOWED = "allowed"
    """No violation (or only violations the change did not introduce)."""
    DENIED = "denied"
    WARNED = "warned"
    DRY_RUN = "dry-run"
    """Allowed; enforcing the dry-run rules would have denied it."""
    EXEMPT = "exempt"
    """Allowed without judging (an exempt namespace, label selector, user or group), or judged
    with every violation suppressed by an exception (the verdicts say which, mode ``exempt``)."""
    ERROR = "error"
    """The request could not be judged (a malformed review, an error in a rule)."""


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One violated rule in a decision, with the mode in force for it."""

    rule_id: str
    severity: Severity
    mode: AdmissionMode
    message: str


@dataclass(frozen=True, slots=True)
class AdmissionDecision:
    """One AdmissionReview judged: who asked for what, what was found, what was decided."""

    uid: str
    time: dt.datetime
    operation: str
    user: str
    groups: tuple[str, ...]
    resource: ResourceRef
    outcome: Outcome
    verdicts: tuple[RuleVerdict, ...] = ()
    latency_ms: float = 0.0
    reason: str = ""
    """Why it was exempt, or the error; empty otherwise."""
    dry_run: bool = False
    """The request itself was a dry run (``kubectl --dry-run=server``)."""


DEFAULT_OWN_NAMESPACE = "kposture"
DEFAULT_SYSTEM_NAMESPACES: tuple[str, ...] = ("kube-system",)
DEFAULT_MAX_REQUEST_BYTES = 3 * 1024 * 1024
"""The API server itself caps request bodies at 3 MiB; a larger review cannot be genuine."""
FAILURE_POLICIES = ("Fail", "Ignore")


@dataclass(frozen=True, slots=True)
class ModeSetting:
    """The mode of some rules (ids or globs) in some namespaces (globs; empty: every namespace).

    ``mode`` ``None`` means *off*: the rule is not applied at admission at all.
    """

    mode: AdmissionMode | None
    rules: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class AdmissionExemption:
    """Requests admitted without judging, with the reason that is logged for each.

    Every part given must match: ``namespaces`` (globs) the request's namespace, ``selector`` the
    object's labels — and, for a workload with a pod template, the template's labels too, so the
    pods it creates are exempt by the same entry rather than merely capped as controller-created —
    and, when ``users`` or ``groups`` are given, the requesting user is listed in ``users`` or
    belongs to one of ``groups`` (globs, for break-glass accounts). Labels are written by the
    requester: a selector exemption is only as strong as the right to create the object.
    """

    reason: str
    namespaces: tuple[str, ...] = ()
    selector: LabelSelector | None = None
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    source: str = ""
    line: int = 0

    def matches(
        self,
        namespace: str,
        labels: Mapping[str, str],
        user: str,
        groups: Sequence[str],
        template_labels: Mapping[str, str] | None = None,
    ) -> bool:
        if self.namespaces and not any(fnmatchcase(namespace, ns) for ns in self.namespaces):
            return False
        if self.selector is not None and not (
            self.selector.matches(labels)
            and (template_labels is None or self.selector.matches(template_labels))
        ):
            return False
        if self.users or self.groups:
            by_user = any(fnmatchcase(user, pattern) for pattern in self.users)
            by_group = any(
                fnmatchcase(group, pattern) for pattern in self.groups for group in groups
            )
            if not (by_user or by_group):
                return False
        return True


def _names(patterns: tuple[str, ...], value: str) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """The ``admission:`` block of the policy file: what each violated rule does at deploy time.

    The mode of rule R in namespace N is, most specific first: the first ``namespace_modes`` entry
    naming both N and R in its ``rules``; else off when the ``rule_modes`` entry for R (the one
    naming R exactly, else the first whose glob matches R) is off; else the first
    ``namespace_modes`` entry for N that covers every rule; else that ``rule_modes`` entry; else
    ``mode``. Rules that need objects a request does not carry are off unless an entry names
    them exactly (the server asks with ``mode_for(..., explicit_only=True)``).

    ``failure_policy`` and ``timeout_seconds`` are what ``kposture admission install`` writes into
    the ValidatingWebhookConfiguration. ``fail_closed`` denies a request a rule failed to judge
    (default: allow it with a warning). ``controller_created`` ``record`` caps at dry-run the
    objects the built-in controllers create for an owner (pods of a ReplicaSet): the owner carries
    the decision, so scaling a legacy Deployment up is not blocked pod by pod; ``judge`` treats
    them like any other request. An owner is judged unless it is exempt, and a label exemption
    covers an owner only when its pod template carries the labels too (its pods are then exempt by
    the same entry), so the cap never turns a label on an owner into privileged pods; only a user
    or group exemption (break-glass) leaves an exempt owner's pods to the cap.
    """

    mode: AdmissionMode = AdmissionMode.WARN
    rule_modes: tuple[ModeSetting, ...] = ()
    namespace_modes: tuple[ModeSetting, ...] = ()
    exemptions: tuple[AdmissionExemption, ...] = ()
    own_namespace: str = DEFAULT_OWN_NAMESPACE
    system_namespaces: tuple[str, ...] = DEFAULT_SYSTEM_NAMESPACES
    failure_policy: str = "Fail"
    timeout_seconds: int = 5
    fail_closed: bool = False
    controller_created: str = "record"
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    allow_self_exemption: bool = False
    """Whether the ``kposture.io/ignore`` annotation suppresses findings at admission. Off by
    default: the requester writes the object's annotations, so honouring them lets anyone who may
    create a Pod exempt it from enforcement. Independent of the scan's own setting."""
    source: str = ""

    def mode_for(
        self, rule_id: str, namespace: str, *, explicit_only: bool = False
    ) -> AdmissionMode | None:
        """The mode of ``rule_id`` for an object in ``namespace`` (``None``: off). With
        ``explicit_only`` only entries naming the rule id exactly count (else off)."""
        scoped = [s for s in self.namespace_modes if namespace and _names(s.namespaces, namespace)]
        for setting in scoped:
            if setting.rules != ("*",) and (
                rule_id in setting.rules or (not explicit_only and _names(setting.rules, rule_id))
            ):
                return setting.mode
        ruled = self._rule_mode(rule_id, explicit_only=explicit_only)
        if ruled is not None and ruled.mode is None:
            # An explicit "off" is a decision not to judge the rule: a namespace-wide mode does
            # not switch it back on (a namespace entry naming the rule does, above).
            return None
        if not explicit_only:
            for setting in scoped:
                if setting.rules == ("*",):
                    return setting.mode
        if ruled is not None:
            return ruled.mode
        return None if explicit_only else self.mode

    def _rule_mode(self, rule_id: str, *, explicit_only: bool) -> ModeSetting | None:
        """The ``rules`` entry for ``rule_id``: the one naming it exactly, else the first glob."""
        for setting in self.rule_modes:
            if rule_id in setting.rules:
                return setting
        if explicit_only:
            return None
        return next((s for s in self.rule_modes if _names(s.rules, rule_id)), None)

    def exemption_for(
        self,
        namespace: str,
        labels: Mapping[str, str],
        user: str,
        groups: Sequence[str],
        template_labels: Mapping[str, str] | None = None,
    ) -> str:
        """Why a request is admitted without judging (empty: it is judged). ``template_labels``:
        the labels of a workload's pod template (``None`` for an object without one)."""
        if namespace and namespace == self.own_namespace:
            return f"namespace {namespace} is kposture's own"
        if namespace and namespace in self.system_namespaces:
            return f"namespace {namespace} is a system namespace"
        for exemption in self.exemptions:
            if exemption.matches(namespace, labels, user, groups, template_labels):
                where = f" ({exemption.source}:{exemption.line})" if exemption.source else ""
                return f"{exemption.reason}{where}"
        return ""
