"""Reads the policy file (``.kposture.yaml``) into a ``RunPolicy``, with file:line for every mistake.

The file enables or disables rules, overrides severities, lists exceptions (scope, reason, optional
expiry) and says whether workloads may exempt themselves by annotation. Rule ids are returned with their
lines so the caller, which knows the registry, can reject unknown ids precisely.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from kposture.model import ExceptionEntry, LabelSelector, RunPolicy, Severity
from kposture.sources.yaml_documents import describe_yaml_error, yaml_error_line

DEFAULT_POLICY_FILE = ".kposture.yaml"
_TOP_KEYS = {"apiVersion", "kind", "rules", "exceptions", "annotations", "registries"}
API_VERSION = "kposture.io/v1"
KIND = "Policy"
_RULES_KEYS = {"enabled", "disabled", "severity"}
_EXCEPTION_KEYS = {"rules", "namespaces", "kinds", "names", "selector", "reason", "expires"}
_SELECTOR_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


class PolicyFileError(ValueError):
    """The policy file is invalid; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A parsed policy file: the run policy and every rule id or rule glob it mentions, with its
    line (the caller checks them against the registry)."""

    policy: RunPolicy
    rule_references: tuple[tuple[str, int], ...]
    path: str


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
    policy = RunPolicy(
        enabled=frozenset(enabled),
        disabled=frozenset(disabled),
        severity_overrides=overrides,
        exceptions=tuple(exceptions),
        allow_annotation_exceptions=allow_annotations,
        allowed_registries=allowed_registries,
        source=file,
    )
    return PolicyFile(policy, tuple(reader.rule_references), file)


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
