"""Loading custom rule files: YAML documents of ``kind: Rule`` (several per file), validated field
by field with ``file:line`` for every mistake, compiled, and returned as ordinary rules.

Owns the file format (see docs/custom-rules.md): unknown fields, missing required fields, bad
enum values (severity, domain, stage, operations, framework), invalid selectors and paths, rule
ids that are not kebab-case or clash with a built-in rule or another custom rule, and every
expression problem ``cel_programs`` finds. One bad rule never stops the others: ``load_rule_files``
returns the rules that loaded together with a ``RuleFileError`` per problem, and the ids of the
rules that did not load (so a policy file naming one is not reported twice).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kposture.engine.registry import metadata_problems
from kposture.model import (
    Domain,
    Framework,
    InputError,
    JsonPath,
    LabelSelector,
    Reference,
    Severity,
    Stage,
)
from kposture.policy.cel_rules import compile_rule
from kposture.policy.rule_specs import (
    API_VERSION,
    DEFAULT_OPERATIONS,
    OPERATIONS,
    RULE_KIND,
    TEST_KIND,
    KindMatch,
    RuleFileError,
    RuleMatch,
    RuleSpec,
    Validation,
    Variable,
)
from kposture.rules.base import Rule
from kposture.sources.yaml_documents import DocumentError, parse_yaml_recovering

RULE_FILE_SUFFIXES = (".yaml", ".yml")
MAX_RULE_FILE_BYTES = 4 * 1024 * 1024
_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")
_METADATA_KEYS = ("name", "labels", "annotations")
_SPEC_REQUIRED = (
    "title",
    "severity",
    "domain",
    "stage",
    "description",
    "remediation",
    "match",
    "validations",
)
_SPEC_KEYS = (*_SPEC_REQUIRED, "references", "params", "variables")
_MATCH_KEYS = ("kinds", "operations", "namespaceSelector", "objectSelector", "namespaces")
_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_VARIABLE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_PATH_SEGMENT = re.compile(r"""\.?([^.\[\]"']+)|\[(\d+)\]|\[(["'])(.*?)\3\]""")


class _Invalid(Exception):
    """One problem that makes the document unusable."""

    def __init__(self, path: JsonPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def parse_json_path(text: str) -> JsonPath:
    """``spec.containers[0]["app.kubernetes.io/name"]`` as a path; ``ValueError`` if malformed."""
    out: list[str | int] = []
    position = 0
    while position < len(text):
        match = _PATH_SEGMENT.match(text, position)
        if match is None or match.end() == position or (out == [] and text[position] == "."):
            raise ValueError(f'path {text!r} is not in dot/bracket form (a.b[0]["c.d"])')
        name, index, _, quoted = match.groups()
        out.append(int(index) if index is not None else (quoted if quoted is not None else name))
        position = match.end()
    return tuple(out)


class _Document:
    """Reads one parsed document, turning every problem into an ``_Invalid`` with its path."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    @staticmethod
    def mapping(value: Any, path: JsonPath, allowed: Sequence[str], what: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise _Invalid(path, f"{what} must be a mapping")
        for key in value:
            if key not in allowed:
                raise _Invalid(
                    (*path, str(key)),
                    f"unknown field {key!r} in {what} (allowed: {', '.join(allowed)})",
                )
        return value

    @staticmethod
    def text(value: Any, path: JsonPath, what: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise _Invalid(path, f"{what} must be a non-empty string")
        return value.strip()

    def strings(self, value: Any, path: JsonPath, what: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise _Invalid(path, f"{what} must be a list of strings")
        return tuple(self.text(item, (*path, i), what, empty=True) for i, item in enumerate(value))

    @staticmethod
    def choice(value: Any, path: JsonPath, what: str, choices: Iterable[str]) -> str:
        known = list(choices)
        if not isinstance(value, str) or value not in known:
            raise _Invalid(path, f"{what} must be one of {', '.join(known)}, not {value!r}")
        return value

    def selector(self, value: Any, path: JsonPath, what: str) -> LabelSelector:
        fields = self.mapping(value, path, ("matchLabels", "matchExpressions"), what)
        labels: list[tuple[str, str]] = []
        for key, label in (fields.get("matchLabels") or {}).items():
            if not isinstance(label, str):
                raise _Invalid(
                    (*path, "matchLabels", key), f"{what}.matchLabels values are strings"
                )
            labels.append((str(key), label))
        expressions: list[tuple[str, str, tuple[str, ...]]] = []
        items = fields.get("matchExpressions") or []
        if not isinstance(items, list):
            raise _Invalid((*path, "matchExpressions"), "matchExpressions must be a list")
        for i, item in enumerate(items):
            where = (*path, "matchExpressions", i)
            entry = self.mapping(item, where, ("key", "operator", "values"), "a match expression")
            if "key" not in entry or "operator" not in entry:
                raise _Invalid(where, "a match expression needs key and operator")
            key = self.text(entry["key"], (*where, "key"), "key")
            operator = self.choice(
                entry["operator"], (*where, "operator"), "operator", _SELECTOR_OPERATORS
            )
            values = (
                self.strings(entry["values"], (*where, "values"), "values")
                if "values" in entry
                else ()
            )
            if operator in ("In", "NotIn") and not values:
                raise _Invalid(where, f"operator {operator} needs a non-empty values list")
            if operator in ("Exists", "DoesNotExist") and values:
                raise _Invalid(where, f"operator {operator} takes no values")
            expressions.append((key, operator, values))
        return LabelSelector(tuple(labels), tuple(expressions))

    def references(self, value: Any, path: JsonPath) -> tuple[Reference, ...]:
        if not isinstance(value, list):
            raise _Invalid(path, "references must be a list")
        out = []
        frameworks = [f.value for f in Framework]
        for i, item in enumerate(value):
            where = (*path, i)
            entry = self.mapping(item, where, ("framework", "id", "title"), "a reference")
            if "framework" not in entry or "id" not in entry:
                raise _Invalid(where, "a reference needs framework and id")
            framework = self.choice(
                entry["framework"], (*where, "framework"), "framework", frameworks
            )
            ident = entry["id"]
            if not isinstance(ident, str | int | float) or isinstance(ident, bool):
                raise _Invalid((*where, "id"), "a reference id must be a string")
            title = self.text(entry.get("title", ""), (*where, "title"), "title", empty=True)
            out.append(Reference(Framework(framework), str(ident), title))
        return tuple(out)

    def match(self, value: Any, path: JsonPath) -> RuleMatch:
        fields = self.mapping(value, path, _MATCH_KEYS, "match")
        if "kinds" not in fields:
            raise _Invalid(path, "match needs kinds (a list of apiGroups + kinds)")
        entries = fields["kinds"]
        if not isinstance(entries, list) or not entries:
            raise _Invalid((*path, "kinds"), "match.kinds must be a non-empty list")
        kinds = []
        for i, item in enumerate(entries):
            where = (*path, "kinds", i)
            entry = self.mapping(item, where, ("apiGroups", "kinds"), "a match.kinds entry")
            for key in ("apiGroups", "kinds"):
                if key not in entry:
                    raise _Invalid(where, f"a match.kinds entry needs {key}")
            groups = self.strings(entry["apiGroups"], (*where, "apiGroups"), "apiGroups")
            names = self.strings(entry["kinds"], (*where, "kinds"), "kinds")
            if not groups or not names:
                raise _Invalid(where, "apiGroups and kinds must not be empty")
            if "*" in names or any(not name for name in names):
                raise _Invalid((*where, "kinds"), "name every kind (no '*' or empty kinds)")
            kinds.append(KindMatch(groups, names))
        operations: tuple[str, ...] = DEFAULT_OPERATIONS
        if "operations" in fields:
            listed = self.strings(fields["operations"], (*path, "operations"), "operations")
            for i, operation in enumerate(listed):
                self.choice(operation, (*path, "operations", i), "an operation", OPERATIONS)
            if not listed:
                raise _Invalid((*path, "operations"), "operations must not be empty")
            operations = listed
        return RuleMatch(
            kinds=tuple(kinds),
            operations=operations,
            namespace_selector=self.selector(
                fields["namespaceSelector"], (*path, "namespaceSelector"), "namespaceSelector"
            )
            if "namespaceSelector" in fields
            else None,
            object_selector=self.selector(
                fields["objectSelector"], (*path, "objectSelector"), "objectSelector"
            )
            if "objectSelector" in fields
            else None,
            namespaces=self.strings(fields["namespaces"], (*path, "namespaces"), "namespaces")
            if "namespaces" in fields
            else (),
        )

    def variables(self, value: Any, path: JsonPath, line: _Lines) -> tuple[Variable, ...]:
        if not isinstance(value, list):
            raise _Invalid(path, "variables must be a list")
        out: list[Variable] = []
        for i, item in enumerate(value):
            where = (*path, i)
            entry = self.mapping(item, where, ("name", "expression"), "a variable")
            for key in ("name", "expression"):
                if key not in entry:
                    raise _Invalid(where, f"a variable needs {key}")
            name = self.text(entry["name"], (*where, "name"), "a variable name")
            if not _VARIABLE_NAME.match(name):
                raise _Invalid((*where, "name"), f"variable name {name!r} is not an identifier")
            if any(known.name == name for known in out):
                raise _Invalid((*where, "name"), f"variable {name!r} is declared twice")
            expression = self.text(entry["expression"], (*where, "expression"), "expression")
            out.append(Variable(name, expression, line((*where, "expression"))))
        return tuple(out)

    def validations(self, value: Any, path: JsonPath, line: _Lines) -> tuple[Validation, ...]:
        if not isinstance(value, list) or not value:
            raise _Invalid(path, "validations must be a non-empty list")
        out = []
        allowed = ("expression", "message", "messageExpression", "path")
        for i, item in enumerate(value):
            where = (*path, i)
            entry = self.mapping(item, where, allowed, "a validation")
            if "expression" not in entry:
                raise _Invalid(where, "a validation needs expression")
            path_text = (
                self.text(entry["path"], (*where, "path"), "path") if "path" in entry else ""
            )
            try:
                json_path = parse_json_path(path_text)
            except ValueError as exc:
                raise _Invalid((*where, "path"), str(exc)) from None
            message_expression = (
                self.text(
                    entry["messageExpression"], (*where, "messageExpression"), "messageExpression"
                )
                if "messageExpression" in entry
                else ""
            )
            out.append(
                Validation(
                    expression=self.text(entry["expression"], (*where, "expression"), "expression"),
                    line=line((*where, "expression")),
                    message=self.text(entry["message"], (*where, "message"), "message")
                    if "message" in entry
                    else "",
                    message_expression=message_expression,
                    message_expression_line=line((*where, "messageExpression"))
                    if message_expression
                    else 0,
                    path=json_path,
                    path_text=path_text,
                )
            )
        return tuple(out)


class _Lines:
    """The line of a path in one document."""

    def __init__(self, positions: Any, start: int) -> None:
        self.positions = positions
        self.start = start

    def __call__(self, path: JsonPath) -> int:
        found = self.positions.position(path)
        return int(found[0]) if found else self.start


def _enum(value: Any, path: JsonPath, what: str, enum: Any) -> Any:
    choices = [member.value for member in enum]
    return enum(_Document.choice(value, path, what, choices))


def _spec(data: Any, file: str, line: _Lines) -> RuleSpec:
    reader = _Document(data)
    top = reader.mapping(data, (), _TOP_KEYS, "a rule document")
    for key, expected in (("apiVersion", API_VERSION), ("kind", RULE_KIND)):
        if top.get(key) != expected:
            raise _Invalid((key,), f"{key} must be {expected}, not {top.get(key)!r}")
    for key in ("metadata", "spec"):
        if key not in top:
            raise _Invalid((), f"a rule needs {key}")
    metadata = reader.mapping(top["metadata"], ("metadata",), _METADATA_KEYS, "metadata")
    if "name" not in metadata:
        raise _Invalid(("metadata",), "metadata needs name (the rule id)")
    rule_id = reader.text(metadata["name"], ("metadata", "name"), "metadata.name")
    spec = reader.mapping(top["spec"], ("spec",), _SPEC_KEYS, "spec")
    missing = [key for key in _SPEC_REQUIRED if key not in spec]
    if missing:
        raise _Invalid(("spec",), f"spec needs {', '.join(missing)}")
    params = spec.get("params", {})
    if not isinstance(params, Mapping):
        raise _Invalid(("spec", "params"), "params must be a mapping")
    return RuleSpec(
        id=rule_id,
        title=reader.text(spec["title"], ("spec", "title"), "title"),
        severity=_enum(spec["severity"], ("spec", "severity"), "severity", Severity),
        domain=_enum(spec["domain"], ("spec", "domain"), "domain", Domain),
        stage=_enum(spec["stage"], ("spec", "stage"), "stage", Stage),
        description=reader.text(spec["description"], ("spec", "description"), "description"),
        remediation=reader.text(spec["remediation"], ("spec", "remediation"), "remediation"),
        references=reader.references(spec["references"], ("spec", "references"))
        if "references" in spec
        else (),
        match=reader.match(spec["match"], ("spec", "match")),
        validations=reader.validations(spec["validations"], ("spec", "validations"), line),
        variables=reader.variables(spec["variables"], ("spec", "variables"), line)
        if "variables" in spec
        else (),
        params=params,
        file=file,
        line=line.start,
    )


def _rule_id_of(data: Any) -> str:
    metadata = data.get("metadata") if isinstance(data, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else ""


def _not_a_rule(data: Any) -> bool:
    """A document a rule directory may hold beside its rules: a Kubernetes object (a fixture) or
    a ``RuleTest``. A ``kposture.io`` document of any other kind is a misspelt rule, not this."""
    if not isinstance(data, Mapping):
        return False
    api_version = str(data.get("apiVersion", ""))
    if not api_version.startswith("kposture.io/"):
        return "apiVersion" in data and "kind" in data
    return data.get("kind") == TEST_KIND


def parse_rule_text(
    text: str, file: str, *, skip_others: bool = False
) -> tuple[list[RuleSpec], list[RuleFileError]]:
    """The valid rule documents of one file's text and a ``RuleFileError`` per invalid one
    (metadata checked as the registry checks it; ids not yet checked against other rules).
    ``skip_others``: a file found in a directory may hold fixtures and rule tests, left out."""
    specs: list[RuleSpec] = []
    errors: list[RuleFileError] = []
    for item in parse_yaml_recovering(text):
        if isinstance(item, DocumentError):
            errors.append(RuleFileError(file, item.line, item.message))
            continue
        if item.data is None or (skip_others and _not_a_rule(item.data)):
            continue
        line = _Lines(item.positions, item.start[0])
        try:
            spec = _spec(item.data, file, line)
        except _Invalid as exc:
            errors.append(RuleFileError(file, line(exc.path), exc.message, _rule_id_of(item.data)))
            continue
        problems = metadata_problems(spec.meta())
        if problems:
            errors.append(RuleFileError(file, spec.line, "; ".join(problems), spec.id))
            continue
        specs.append(spec)
    return specs, errors


@dataclass(frozen=True, slots=True)
class LoadedRules:
    """Custom rules that loaded, their specs (same order), every problem, the ids of rules that
    did not load, and the files read."""

    rules: tuple[Rule, ...] = ()
    specs: tuple[RuleSpec, ...] = ()
    errors: tuple[RuleFileError, ...] = ()
    failed_ids: frozenset[str] = frozenset()
    files: tuple[str, ...] = ()

    def input_errors(self) -> tuple[InputError, ...]:
        """The problems as scan input errors (``file:line: message``)."""
        return tuple(
            InputError(error.file, error.line, str(error).split(": ", 1)[1])
            for error in self.errors
        )


def rule_file_paths(
    paths: Collection[str | Path],
) -> tuple[list[Path], set[Path], list[RuleFileError]]:
    """Files given and every ``*.yaml``/``*.yml`` under directories given, sorted per directory,
    and which of them were found in a directory; a path that does not exist is an error."""
    files: list[Path] = []
    found: set[Path] = set()
    errors: list[RuleFileError] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in RULE_FILE_SUFFIXES
            )
            files.extend(inside)
            found.update(inside)
        elif path.is_file():
            files.append(path)
        else:
            errors.append(RuleFileError(str(given), 0, "no such rule file or directory"))
    return list(dict.fromkeys(files)), found - {Path(p) for p in paths}, errors


def load_rule_files(paths: Iterable[str | Path], *, taken_ids: Collection[str] = ()) -> LoadedRules:
    """Load, validate and compile every rule in ``paths`` (files or directories); ``taken_ids``
    are the built-in rule ids a custom rule may not reuse."""
    paths = list(paths)
    files, in_directories, errors = rule_file_paths(paths)
    specs: list[RuleSpec] = []
    for path in files:
        name = path.as_posix()
        try:
            if path.stat().st_size > MAX_RULE_FILE_BYTES:
                errors.append(RuleFileError(name, 0, f"larger than {MAX_RULE_FILE_BYTES} bytes"))
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(RuleFileError(name, 0, f"cannot read rule file: {exc}"))
            continue
        parsed, problems = parse_rule_text(text, name, skip_others=path in in_directories)
        specs.extend(parsed)
        errors.extend(problems)
    loaded = compile_specs(specs, taken_ids=taken_ids)
    failed = {error.rule_id for error in errors if error.rule_id} | loaded.failed_ids
    return LoadedRules(
        loaded.rules,
        loaded.specs,
        tuple(errors) + loaded.errors,
        frozenset(failed - {spec.id for spec in loaded.specs}),
        tuple(path.as_posix() for path in files),
    )


def compile_specs(specs: Iterable[RuleSpec], *, taken_ids: Collection[str] = ()) -> LoadedRules:
    """Compile parsed specs, refusing ids that are built-in or already defined."""
    taken = set(taken_ids)
    first: dict[str, RuleSpec] = {}
    rules: list[Rule] = []
    kept: list[RuleSpec] = []
    errors: list[RuleFileError] = []
    for spec in specs:
        if spec.id in taken:
            errors.append(
                RuleFileError(spec.file, spec.line, "id is already a built-in rule", spec.id)
            )
            continue
        if spec.id in first:
            earlier = first[spec.id]
            errors.append(
                RuleFileError(
                    spec.file,
                    spec.line,
                    f"duplicate rule id: this rule is dropped, the one defined first at "
                    f"{earlier.file}:{earlier.line} is kept",
                    spec.id,
                )
            )
            continue
        first[spec.id] = spec
        rule, problems = compile_rule(spec)
        errors.extend(problems)
        if rule is not None:
            rules.append(rule)
            kept.append(spec)
    failed = frozenset(spec_id for spec_id in first if spec_id not in {s.id for s in kept})
    return LoadedRules(tuple(rules), tuple(kept), tuple(errors), failed)
