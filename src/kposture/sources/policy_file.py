"""Reads the policy file (``.kposture.yaml``) into a ``RunPolicy`` and an ``AdmissionPolicy``, with
file:line for every mistake.

The file enables or disables rules, overrides severities, lists exceptions (scope, reason, optional
expiry), says whether workloads may exempt themselves by annotation, (``admission:``) gives each
rule a mode at deploy time per namespace, with the requests admitted unjudged,
(``customRules:``) lists custom rule files to load, and (``detections:``) tunes audit-log
detections: an allowlist per detection and custom detection files. Rule ids are returned
with their lines so the caller, which knows the registry, can reject unknown ids precisely.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kposture.model import ExceptionEntry, LabelSelector, RunPolicy, Severity
from kposture.model.admission import (
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_OWN_NAMESPACE,
    DEFAULT_SYSTEM_NAMESPACES,
    FAILURE_POLICIES,
    AdmissionExemption,
    AdmissionMode,
    AdmissionPolicy,
    ModeSetting,
)
from kposture.model.detection_tuning import PLACEHOLDER_MARK, AllowEntry
from kposture.sources.yaml_documents import describe_yaml_error, yaml_error_line

DEFAULT_POLICY_FILE = ".kposture.yaml"
_T = TypeVar("_T")
_TOP_KEYS = {
    "apiVersion",
    "kind",
    "rules",
    "exceptions",
    "annotations",
    "registries",
    "admission",
    "customRules",
    "alerts",
    "detections",
}
_DETECTIONS_KEYS = {"allowlist", "custom"}
_ALLOW_KEYS = {
    "users",
    "groups",
    "serviceAccounts",
    "namespaces",
    "userAgents",
    "sourceRanges",
    "reason",
    "expires",
}
_ALLOW_WHO_KEYS = {"users", "groups", "serviceAccounts", "sourceRanges"}
"""The allowlist fields that say who sent a request: the authenticated identity or the peer
address. A user agent is the client's word and a namespace says where, not who."""
_ALLOW_CONDITION_KEYS = _ALLOW_KEYS - {"reason", "expires"}
"""The allowlist fields that narrow what an entry covers. The matcher skips a field that holds
nothing, so an empty list (or null) is refused: it would widen the entry to everyone."""
API_VERSION = "kposture.io/v1"
KIND = "Policy"
_RULES_KEYS = {"enabled", "disabled", "severity"}
_EXCEPTION_KEYS = {"rules", "namespaces", "kinds", "names", "selector", "reason", "expires"}
_SELECTOR_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}
_ADMISSION_KEYS = {
    "mode",
    "rules",
    "namespaces",
    "exemptions",
    "ownNamespace",
    "systemNamespaces",
    "failurePolicy",
    "timeoutSeconds",
    "onError",
    "controllerCreated",
    "maxRequestBytes",
    "allowSelfExemption",
}
_MODE_ENTRY_KEYS = {"namespaces", "rules", "mode"}
_ADMISSION_EXEMPTION_KEYS = {"namespaces", "selector", "users", "groups", "reason"}
_MODES = {"enforce", "warn", "dry-run", "off"}


class PolicyFileError(ValueError):
    """The policy file is invalid; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A parsed policy file: the run policy and every rule id or rule glob it mentions, with its
    line (the caller checks them against the registry)."""

    policy: RunPolicy
    rule_references: tuple[tuple[str, int], ...]
    path: str
    admission: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    """The ``admission:`` block (the defaults when the file has none)."""
    custom_rules: tuple[tuple[str, int], ...] = ()
    """``customRules``: rule files or directories as written (relative to the policy file's
    directory unless absolute), each with its line."""
    alerts: Mapping[str, Any] | None = None
    """The ``alerts:`` block as plain values, parsed by ``kposture.sinks.parse_alerts_block`` (which
    sources may not import); ``alerts_lines`` gives the line of each dotted path in it
    (``alerts.sinks[1].url``) for that parser's errors."""
    alerts_lines: Mapping[str, int] = field(default_factory=dict)
    detection_allowlist: tuple[AllowEntry, ...] = ()
    """``detections.allowlist``: entries per detection id (``*`` for all)."""
    detection_references: tuple[tuple[str, int], ...] = ()
    """The detection ids the file names, with their lines (checked by the caller against the
    built-in and custom detections)."""
    custom_detections: tuple[tuple[str, int], ...] = ()
    """``detections.custom``: custom detection files or directories, as ``customRules``."""


class _Reader:
    """Turns composed YAML nodes into plain values while remembering where each came from."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.rule_references: list[tuple[str, int]] = []

    def fail(self, node: yaml.Node, message: str) -> PolicyFileError:
        return PolicyFileError(f"{self.file}:{node.start_mark.line + 1}: {message}")

    def mapping(self, node: yaml.Node, allowed: set[str], what: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in allowed:
                raise self.fail(
                    key_node,
                    f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})",
                )
            out[key] = value_node
        return out

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{what} must be a single value")
        return str(node.value)

    def strings(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode):
            return (str(node.value),)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list of strings")
        return tuple(self.scalar(item, what) for item in node.value)

    def rule_ids(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        ids = self.strings(node, what)
        for rule_id, item in zip(ids, items, strict=True):
            self.rule_references.append((rule_id, item.start_mark.line + 1))
        return ids

    def severity(self, node: yaml.Node) -> Severity:
        value = self.scalar(node, "severity").lower()
        try:
            return Severity(value)
        except ValueError:
            names = ", ".join(s.value for s in Severity)
            raise self.fail(node, f"unknown severity {value!r} (one of {names})") from None

    def date(self, node: yaml.Node) -> str:
        value = self.scalar(node, "expires")
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise self.fail(
                node, f"expires must be a date like 2027-01-31, not {value!r}"
            ) from None

    def boolean(self, node: yaml.Node, what: str) -> bool:
        value = self.scalar(node, what).lower()
        if value not in {"true", "false"}:
            raise self.fail(node, f"{what} must be true or false")
        return value == "true"

    def selector(self, node: yaml.Node) -> LabelSelector:
        fields = self.mapping(node, {"matchLabels", "matchExpressions"}, "selector")
        labels: list[tuple[str, str]] = []
        if "matchLabels" in fields:
            for key_node, value_node in _pairs(
                reader=self, node=fields["matchLabels"], what="matchLabels"
            ):
                labels.append(
                    (key_node.value, self.scalar(value_node, f"matchLabels.{key_node.value}"))
                )
        expressions: list[tuple[str, str, tuple[str, ...]]] = []
        if "matchExpressions" in fields:
            sequence = fields["matchExpressions"]
            if not isinstance(sequence, yaml.SequenceNode):
                raise self.fail(sequence, "matchExpressions must be a list")
            for item in sequence.value:
                expr = self.mapping(item, {"key", "operator", "values"}, "matchExpressions item")
                if "key" not in expr or "operator" not in expr:
                    raise self.fail(item, "a match expression needs key and operator")
                operator = self.scalar(expr["operator"], "operator")
                if operator not in _SELECTOR_OPERATORS:
                    raise self.fail(expr["operator"], f"unknown operator {operator!r}")
                values = self.strings(expr["values"], "values") if "values" in expr else ()
                expressions.append((self.scalar(expr["key"], "key"), operator, values))
        return LabelSelector(tuple(labels), tuple(expressions))

    def exception(self, node: yaml.Node) -> ExceptionEntry:
        fields = self.mapping(node, _EXCEPTION_KEYS, "exception")
        if "reason" not in fields or not self.scalar(fields["reason"], "reason").strip():
            raise self.fail(node, "every exception needs a reason")
        if "rules" not in fields:
            raise self.fail(node, "every exception needs rules (use ['*'] for all rules)")
        return ExceptionEntry(
            reason=self.scalar(fields["reason"], "reason").strip(),
            rules=self.rule_ids(fields["rules"], "rules"),
            namespaces=self.strings(fields["namespaces"], "namespaces")
            if "namespaces" in fields
            else (),
            kinds=self.strings(fields["kinds"], "kinds") if "kinds" in fields else (),
            names=self.strings(fields["names"], "names") if "names" in fields else (),
            selector=self.selector(fields["selector"]) if "selector" in fields else None,
            expires=self.date(fields["expires"]) if "expires" in fields else "",
            source=self.file,
            line=node.start_mark.line + 1,
        )

    def mode(self, node: yaml.Node) -> AdmissionMode | None:
        value = self.scalar(node, "mode").lower()
        if value not in _MODES:
            raise self.fail(
                node, f"unknown admission mode {value!r} (one of {', '.join(sorted(_MODES))})"
            )
        return None if value == "off" else AdmissionMode(value)

    def integer(self, node: yaml.Node, what: str, low: int, high: int) -> int:
        value = self.scalar(node, what)
        try:
            number = int(value)
        except ValueError:
            raise self.fail(node, f"{what} must be a whole number, not {value!r}") from None
        if not low <= number <= high:
            raise self.fail(node, f"{what} must be between {low} and {high}")
        return number

    def choice(self, node: yaml.Node, what: str, choices: tuple[str, ...]) -> str:
        value = self.scalar(node, what)
        if value not in choices:
            raise self.fail(node, f"{what} must be one of {', '.join(choices)}, not {value!r}")
        return value

    def namespace_mode(self, node: yaml.Node) -> ModeSetting:
        fields = self.mapping(node, _MODE_ENTRY_KEYS, "admission.namespaces entry")
        if "namespaces" not in fields or "mode" not in fields:
            raise self.fail(node, "an admission.namespaces entry needs namespaces and mode")
        return ModeSetting(
            mode=self.mode(fields["mode"]),
            rules=self.rule_ids(fields["rules"], "rules") if "rules" in fields else ("*",),
            namespaces=self.strings(fields["namespaces"], "namespaces"),
            line=node.start_mark.line + 1,
        )

    def admission_exemption(self, node: yaml.Node) -> AdmissionExemption:
        fields = self.mapping(node, _ADMISSION_EXEMPTION_KEYS, "admission exemption")
        if "reason" not in fields or not self.scalar(fields["reason"], "reason").strip():
            raise self.fail(node, "every admission exemption needs a reason")
        if not fields.keys() - {"reason"}:
            raise self.fail(
                node, "an admission exemption needs namespaces, selector, users or groups"
            )
        return AdmissionExemption(
            reason=self.scalar(fields["reason"], "reason").strip(),
            namespaces=self.strings(fields["namespaces"], "namespaces")
            if "namespaces" in fields
            else (),
            selector=self.selector(fields["selector"]) if "selector" in fields else None,
            users=self.strings(fields["users"], "users") if "users" in fields else (),
            groups=self.strings(fields["groups"], "groups") if "groups" in fields else (),
            source=self.file,
            line=node.start_mark.line + 1,
        )

    def admission(self, node: yaml.Node) -> AdmissionPolicy:
        fields = self.mapping(node, _ADMISSION_KEYS, "admission")
        mode = self.mode(fields["mode"]) if "mode" in fields else AdmissionMode.WARN
        if mode is None:
            raise self.fail(fields["mode"], "the default admission mode cannot be off")
        rule_modes: list[ModeSetting] = []
        if "rules" in fields:
            for key_node, value_node in _pairs(self, fields["rules"], "admission.rules"):
                self.rule_references.append((key_node.value, key_node.start_mark.line + 1))
                rule_modes.append(
                    ModeSetting(
                        self.mode(value_node), (key_node.value,), (), key_node.start_mark.line + 1
                    )
                )
        namespace_modes = [
            self.namespace_mode(item)
            for item in self.sequence(fields.get("namespaces"), "admission.namespaces")
        ]
        exemptions = [
            self.admission_exemption(item)
            for item in self.sequence(fields.get("exemptions"), "admission.exemptions")
        ]
        get = fields.get
        own = get("ownNamespace")
        system = get("systemNamespaces")
        failure, timeout, on_error = get("failurePolicy"), get("timeoutSeconds"), get("onError")
        created, limit = get("controllerCreated"), get("maxRequestBytes")
        self_exemption = get("allowSelfExemption")
        return AdmissionPolicy(
            mode=mode,
            rule_modes=tuple(rule_modes),
            namespace_modes=tuple(namespace_modes),
            exemptions=tuple(exemptions),
            own_namespace=self.scalar(own, "ownNamespace")
            if own is not None
            else DEFAULT_OWN_NAMESPACE,
            system_namespaces=self.strings(system, "systemNamespaces")
            if system is not None
            else DEFAULT_SYSTEM_NAMESPACES,
            failure_policy=self.choice(failure, "failurePolicy", FAILURE_POLICIES)
            if failure is not None
            else "Fail",
            timeout_seconds=self.integer(timeout, "timeoutSeconds", 1, 30)
            if timeout is not None
            else 5,
            fail_closed=self.choice(on_error, "onError", ("allow", "deny")) == "deny"
            if on_error is not None
            else False,
            controller_created=self.choice(created, "controllerCreated", ("record", "judge"))
            if created is not None
            else "record",
            max_request_bytes=self.integer(limit, "maxRequestBytes", 1024, 64 * 1024 * 1024)
            if limit is not None
            else DEFAULT_MAX_REQUEST_BYTES,
            allow_self_exemption=self.boolean(self_exemption, "admission.allowSelfExemption")
            if self_exemption is not None
            else False,
            source=self.file,
        )

    def allow_reason(self, entry: yaml.Node, node: yaml.Node) -> str:
        """An allowlist entry's reason: said (not null or blank), and not ``detect tune``'s
        placeholder."""
        reason = "" if _matches_nothing(node) else self.scalar(node, "reason").strip()
        if not reason:
            raise self.fail(entry, "every allowlist entry needs a reason")
        if PLACEHOLDER_MARK in reason:
            raise self.fail(
                node,
                f"the reason still holds detect tune's placeholder ({reason!r}): say why these "
                "alerts are expected",
            )
        return reason

    def allow_entry(self, node: yaml.Node, detection: str) -> AllowEntry:
        """One allowlist entry; every problem in it is reported at once."""
        what = f"detections.allowlist.{detection} entry"
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        problems: list[str] = []
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.value in _ALLOW_KEYS:
                fields[key_node.value] = value_node
            else:
                allowed = ", ".join(sorted(_ALLOW_KEYS))
                message = f"unknown key {key_node.value!r} in {what} (allowed: {allowed})"
                problems.append(str(self.fail(key_node, message)))

        def read(key: str, parse: Callable[[yaml.Node], _T], default: _T) -> _T:
            if key not in fields:
                return default
            try:
                return parse(fields[key])
            except PolicyFileError as exc:
                problems.append(str(exc))
                return default

        reason = read("reason", lambda item: self.allow_reason(node, item), "")
        if "reason" not in fields:
            problems.append(str(self.fail(node, "every allowlist entry needs a reason")))
        for key in sorted(_ALLOW_CONDITION_KEYS & fields.keys()):
            if _matches_nothing(fields[key]):
                message = (
                    f"{key}: an empty list matches nothing to allow (remove the field or name "
                    "at least one)"
                )
                problems.append(str(self.fail(fields.pop(key), message)))
        if not fields.keys() - {"reason", "expires"}:
            problems.append(
                str(
                    self.fail(
                        node,
                        "an allowlist entry needs users, groups, serviceAccounts, namespaces, "
                        "userAgents or sourceRanges",
                    )
                )
            )

        if "userAgents" in fields and not fields.keys() & _ALLOW_WHO_KEYS:
            message = (
                "an allowlist entry with userAgents must also say who sends them: add users, "
                "groups, serviceAccounts or sourceRanges (a user agent is whatever the client "
                "sends, so anyone could send it to hide)"
            )
            problems.append(str(self.fail(node, message)))

        def values(key: str) -> tuple[str, ...]:
            none: tuple[str, ...] = ()
            found = read(key, lambda item: self.strings(item, key), none)
            for value, item in zip(found, _items(fields.get(key, node)), strict=False):
                if not value.strip() or _matches_nothing(item):
                    problems.append(str(self.fail(item, f"{key}: an empty value matches nothing")))
            return found

        given = {key: values(key) for key in sorted(_ALLOW_CONDITION_KEYS)}
        accounts, ranges = given["serviceAccounts"], given["sourceRanges"]
        for account, item in zip(
            accounts, _items(fields.get("serviceAccounts", node)), strict=False
        ):
            if account.count("/") != 1 or not all(account.split("/")):
                message = f"service account {account!r} must be namespace/name"
                problems.append(str(self.fail(item, message)))
        for cidr, item in zip(ranges, _items(fields.get("sourceRanges", node)), strict=False):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                message = f"source range {cidr!r} is not an address or CIDR"
                problems.append(str(self.fail(item, message)))
        expires = read("expires", self.date, "")
        if problems:
            raise PolicyFileError("; ".join(problems))
        return AllowEntry(
            detections=(detection,),
            reason=reason,
            users=given["users"],
            groups=given["groups"],
            service_accounts=accounts,
            namespaces=given["namespaces"],
            user_agents=given["userAgents"],
            source_ranges=ranges,
            expires=expires,
            source=self.file,
            line=node.start_mark.line + 1,
        )

    def detections(
        self, node: yaml.Node | None
    ) -> tuple[tuple[AllowEntry, ...], tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]:
        """The ``detections:`` block: allowlist entries, the detection ids named, custom files.
        Every bad entry is reported at once (``PolicyFileError`` with each ``file:line: message``
        joined by ``; ``), not one a run."""
        if node is None:
            return (), (), ()
        fields = self.mapping(node, _DETECTIONS_KEYS, "detections")
        entries: list[AllowEntry] = []
        references: list[tuple[str, int]] = []
        problems: list[str] = []
        if "allowlist" in fields:
            for key_node, value_node in _pairs(self, fields["allowlist"], "detections.allowlist"):
                detection = str(key_node.value)
                if detection != "*":
                    references.append((detection, key_node.start_mark.line + 1))
                try:
                    items = self.sequence(value_node, f"detections.allowlist.{detection}")
                except PolicyFileError as exc:
                    problems.append(str(exc))
                    continue
                for item in items:
                    try:
                        entries.append(self.allow_entry(item, detection))
                    except PolicyFileError as exc:
                        problems.append(str(exc))
        custom: list[tuple[str, int]] = []
        for item in self.sequence(fields.get("custom"), "detections.custom"):
            try:
                entry = self.scalar(item, "a detections.custom entry").strip()
                if not entry:
                    raise self.fail(item, "a detections.custom entry must be a path")
            except PolicyFileError as exc:
                problems.append(str(exc))
                continue
            custom.append((entry, item.start_mark.line + 1))
        if problems:
            raise PolicyFileError("; ".join(problems))
        return tuple(entries), tuple(references), tuple(custom)

    def sequence(self, node: yaml.Node | None, what: str) -> list[yaml.Node]:
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return list(node.value)


def parse_policy(text: str, file: str) -> PolicyFile:
    """Parse policy-file text; raise ``PolicyFileError`` naming the file and line of any mistake."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        line = yaml_error_line(exc)
        raise PolicyFileError(f"{file}:{line}: {describe_yaml_error(exc)}") from None
    if root is None:
        return PolicyFile(RunPolicy(source=file), (), file)
    reader = _Reader(file)
    top = reader.mapping(root, _TOP_KEYS, "the policy file")
    for key, expected in (("apiVersion", API_VERSION), ("kind", KIND)):
        if key in top and reader.scalar(top[key], key) != expected:
            raise reader.fail(top[key], f"{key} must be {expected}")
    enabled: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    overrides: dict[str, Severity] = {}
    if "rules" in top:
        rules = reader.mapping(top["rules"], _RULES_KEYS, "rules")
        if "enabled" in rules:
            enabled = reader.rule_ids(rules["enabled"], "rules.enabled")
        if "disabled" in rules:
            disabled = reader.rule_ids(rules["disabled"], "rules.disabled")
        if "severity" in rules:
            for key_node, value_node in _pairs(reader, rules["severity"], "rules.severity"):
                reader.rule_references.append((key_node.value, key_node.start_mark.line + 1))
                overrides[key_node.value] = reader.severity(value_node)
    exceptions: list[ExceptionEntry] = []
    if "exceptions" in top:
        node = top["exceptions"]
        if not isinstance(node, yaml.SequenceNode):
            raise reader.fail(node, "exceptions must be a list")
        exceptions = [reader.exception(item) for item in node.value]
    allow_annotations = True
    if "annotations" in top:
        annotations = reader.mapping(top["annotations"], {"allowSelfExemption"}, "annotations")
        if "allowSelfExemption" in annotations:
            allow_annotations = reader.boolean(
                annotations["allowSelfExemption"], "annotations.allowSelfExemption"
            )
    allowed_registries: tuple[str, ...] = ()
    if "registries" in top:
        registries = reader.mapping(top["registries"], {"allowed"}, "registries")
        if "allowed" in registries:
            allowed_registries = reader.strings(registries["allowed"], "registries.allowed")
            for entry, node in zip(allowed_registries, _items(registries["allowed"]), strict=True):
                if not entry.strip() or "://" in entry:
                    raise reader.fail(
                        node, f"registry {entry!r} must be a host or host/path prefix, no scheme"
                    )
    admission = reader.admission(top["admission"]) if "admission" in top else AdmissionPolicy()
    custom_rules: list[tuple[str, int]] = []
    if "customRules" in top:
        for item in reader.sequence(top["customRules"], "customRules"):
            entry = reader.scalar(item, "a customRules entry").strip()
            if not entry:
                raise reader.fail(item, "a customRules entry must be a path")
            custom_rules.append((entry, item.start_mark.line + 1))
    policy = RunPolicy(
        enabled=frozenset(enabled),
        disabled=frozenset(disabled),
        severity_overrides=overrides,
        exceptions=tuple(exceptions),
        allow_annotation_exceptions=allow_annotations,
        allowed_registries=allowed_registries,
        source=file,
    )
    alerts, alerts_lines = _alerts_block(reader, top["alerts"]) if "alerts" in top else (None, {})
    return PolicyFile(
        policy,
        tuple(reader.rule_references),
        file,
        admission,
        tuple(custom_rules),
        alerts,
        alerts_lines,
        *reader.detections(top.get("detections")),
    )


def _alerts_block(reader: _Reader, node: yaml.Node) -> tuple[Mapping[str, Any], dict[str, int]]:
    if not isinstance(node, yaml.MappingNode):
        raise reader.fail(node, "alerts must be a mapping")
    lines: dict[str, int] = {}

    def walk(item: yaml.Node, path: str) -> None:
        lines[path] = item.start_mark.line + 1
        if isinstance(item, yaml.MappingNode):
            for key, value in item.value:
                walk(value, f"{path}.{key.value}")
        elif isinstance(item, yaml.SequenceNode):
            for index, value in enumerate(item.value):
                walk(value, f"{path}[{index}]")

    walk(node, "alerts")
    data = yaml.constructor.SafeConstructor().construct_document(node)
    return data, lines


def _matches_nothing(node: yaml.Node) -> bool:
    """Whether an allowlist condition holds no value: ``[]``, ``null``, ``~`` or nothing at all."""
    if isinstance(node, yaml.SequenceNode):
        return not node.value
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _items(node: yaml.Node) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else [node]


def _pairs(reader: _Reader, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise reader.fail(node, f"{what} must be a mapping")
    return list(node.value)


def load_policy(path: Path, display: str | None = None) -> PolicyFile:
    """Read and parse a policy file from disk."""
    file = display or path.as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"{file}: cannot read policy file: {exc}") from None
    return parse_policy(text, file)
