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
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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

_T = TypeVar("_T")

RULE_FILE_SUFFIXES = (".yaml", ".yml")
MAX_RULE_FILE_BYTES = 4 * 1024 * 1024
_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")
DETECTION_KIND = "Detection"
DETECTION_DOCUMENTS = (
    "Detection documents are audit-log detections: use kposture detect --detections"
)
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


class _AllInvalid(Exception):
    """Every problem found in one document (a rule is reported whole, not one mistake a run)."""

    def __init__(self, problems: Sequence[_Invalid]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = tuple(problems)


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
    """Reads one parsed document, turning every problem into an ``_Invalid`` with its path.

    With ``collect``, a problem that does not stop the reading of the rest (an unknown key, one
    bad field, one bad list entry) is kept in ``problems`` and the reading goes on, so a rule's
    every mistake is reported at once; without it, the first problem is raised."""

    def __init__(self, data: Mapping[str, Any], *, collect: bool = False) -> None:
        self.data = data
        self.collect = collect
        self.problems: list[_Invalid] = []

    def report(self, problem: _Invalid) -> None:
        if not self.collect:
            raise problem
        self.problems.append(problem)

    def attempt(self, read: Callable[[], _T], default: _T) -> _T:
        """``read()``, or (collecting) ``default`` once its problem is kept."""
        try:
            return read()
        except _Invalid as exc:
            self.report(exc)
            return default

    def mapping(
        self, value: Any, path: JsonPath, allowed: Sequence[str], what: str
    ) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise _Invalid(path, f"{what} must be a mapping")
        for key in value:
            if key not in allowed:
                self.report(
                    _Invalid(
                        (*path, str(key)),
                        f"unknown field {key!r} in {what} (allowed: {', '.join(allowed)})",
                    )
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
        given_labels = fields.get("matchLabels") or {}
        if not isinstance(given_labels, Mapping):
            self.report(_Invalid((*path, "matchLabels"), "matchLabels must be a mapping"))
            given_labels = {}
        for key, label in given_labels.items():
            if not isinstance(label, str):
                self.report(
                    _Invalid((*path, "matchLabels", key), f"{what}.matchLabels values are strings")
                )
                continue
            labels.append((str(key), label))
        expressions: list[tuple[str, str, tuple[str, ...]]] = []
        items = fields.get("matchExpressions") or []
        if not isinstance(items, list):
            raise _Invalid((*path, "matchExpressions"), "matchExpressions must be a list")
        for i, item in enumerate(items):
            try:
                expressions.append(self._expression(item, (*path, "matchExpressions", i)))
            except _Invalid as exc:
                self.report(exc)
        return LabelSelector(tuple(labels), tuple(expressions))

    def _expression(self, item: Any, where: JsonPath) -> tuple[str, str, tuple[str, ...]]:
        entry = self.mapping(item, where, ("key", "operator", "values"), "a match expression")
        if "key" not in entry or "operator" not in entry:
            raise _Invalid(where, "a match expression needs key and operator")
        key = self.text(entry["key"], (*where, "key"), "key")
        operator = self.choice(
            entry["operator"], (*where, "operator"), "operator", _SELECTOR_OPERATORS
        )
        values = (
            self.strings(entry["values"], (*where, "values"), "values") if "values" in entry else ()
        )
        if operator in ("In", "NotIn") and not values:
            raise _Invalid(where, f"operator {operator} needs a non-empty values list")
        if operator in ("Exists", "DoesNotExist") and values:
            raise _Invalid(where, f"operator {operator} takes no values")
        return key, operator, values

    def references(self, value: Any, path: JsonPath) -> tuple[Reference, ...]:
        if not isinstance(value, list):
            raise _Invalid(path, "references must be a list")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self._reference(item, (*path, i)))
            except _Invalid as exc:
                self.report(exc)
        return tuple(out)

    def _reference(self, item: Any, where: JsonPath) -> Reference:
        entry = self.mapping(item, where, ("framework", "id", "title"), "a reference")
        if "framework" not in entry or "id" not in entry:
            raise _Invalid(where, "a reference needs framework and id")
        frameworks = [f.value for f in Framework]
        framework = self.attempt(
            lambda: self.choice(entry["framework"], (*where, "framework"), "framework", frameworks),
            frameworks[0],
        )
        ident = entry["id"]
        if not isinstance(ident, str | int | float) or isinstance(ident, bool):
            raise _Invalid((*where, "id"), "a reference id must be a string")
        title = self.text(entry.get("title", ""), (*where, "title"), "title", empty=True)
        return Reference(Framework(framework), str(ident), title)

    def _kind_match(self, item: Any, where: JsonPath) -> KindMatch:
        entry = self.mapping(item, where, ("apiGroups", "kinds"), "a match.kinds entry")
        missing = [key for key in ("apiGroups", "kinds") if key not in entry]
        if missing:
            raise _Invalid(where, f"a match.kinds entry needs {' and '.join(missing)}")
        groups: tuple[str, ...] = self.attempt(
            lambda: self.strings(entry["apiGroups"], (*where, "apiGroups"), "apiGroups"), ("",)
        )
        names = self.strings(entry["kinds"], (*where, "kinds"), "kinds")
        if not groups or not names:
            raise _Invalid(where, "apiGroups and kinds must not be empty")
        if "*" in names or any(not name for name in names):
            raise _Invalid((*where, "kinds"), "name every kind (no '*' or empty kinds)")
        return KindMatch(groups, names)

    def _operations(self, value: Any, path: JsonPath) -> tuple[str, ...]:
        listed = self.strings(value, path, "operations")
        if not listed:
            raise _Invalid(path, "operations must not be empty")
        for i, operation in enumerate(listed):
            self.attempt(
                lambda i=i, operation=operation: self.choice(  # type: ignore[misc]
                    operation, (*path, i), "an operation", OPERATIONS
                ),
                "",
            )
        return listed

    def match(self, value: Any, path: JsonPath) -> RuleMatch:
        fields = self.mapping(value, path, _MATCH_KEYS, "match")
        kinds: list[KindMatch] = []
        if "kinds" not in fields:
            self.report(_Invalid(path, "match needs kinds (a list of apiGroups + kinds)"))
        elif not isinstance(fields["kinds"], list) or not fields["kinds"]:
            self.report(_Invalid((*path, "kinds"), "match.kinds must be a non-empty list"))
        else:
            for i, item in enumerate(fields["kinds"]):
                try:
                    kinds.append(self._kind_match(item, (*path, "kinds", i)))
                except _Invalid as exc:
                    self.report(exc)
        operations: tuple[str, ...] = DEFAULT_OPERATIONS
        if "operations" in fields:
            operations = self.attempt(
                lambda: self._operations(fields["operations"], (*path, "operations")),
                DEFAULT_OPERATIONS,
            )
        selectors: dict[str, LabelSelector | None] = {}
        for key in ("namespaceSelector", "objectSelector"):
            selectors[key] = (
                self.attempt(
                    lambda key=key: self.selector(fields[key], (*path, key), key),  # type: ignore[misc]
                    None,
                )
                if key in fields
                else None
            )
        namespaces: tuple[str, ...] = ()
        if "namespaces" in fields:
            namespaces = self.attempt(
                lambda: self.strings(fields["namespaces"], (*path, "namespaces"), "namespaces"),
                (),
            )
        return RuleMatch(
            kinds=tuple(kinds),
            operations=operations,
            namespace_selector=selectors["namespaceSelector"],
            object_selector=selectors["objectSelector"],
            namespaces=namespaces,
        )

    def variables(self, value: Any, path: JsonPath, line: _Lines) -> tuple[Variable, ...]:
        if not isinstance(value, list):
            raise _Invalid(path, "variables must be a list")
        out: list[Variable] = []
        for i, item in enumerate(value):
            try:
                out.append(self._variable(item, (*path, i), line, out))
            except _Invalid as exc:
                self.report(exc)
        return tuple(out)

    def _variable(
        self, item: Any, where: JsonPath, line: _Lines, earlier: Sequence[Variable]
    ) -> Variable:
        entry = self.mapping(item, where, ("name", "expression"), "a variable")
        missing = [key for key in ("name", "expression") if key not in entry]
        if missing:
            raise _Invalid(where, f"a variable needs {' and '.join(missing)}")
        name = self.text(entry["name"], (*where, "name"), "a variable name")
        if not _VARIABLE_NAME.match(name):
            raise _Invalid((*where, "name"), f"variable name {name!r} is not an identifier")
        if any(known.name == name for known in earlier):
            raise _Invalid((*where, "name"), f"variable {name!r} is declared twice")
        expression = self.text(entry["expression"], (*where, "expression"), "expression")
        return Variable(name, expression, line((*where, "expression")))

    def validations(self, value: Any, path: JsonPath, line: _Lines) -> tuple[Validation, ...]:
        if not isinstance(value, list) or not value:
            raise _Invalid(path, "validations must be a non-empty list")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self._validation(item, (*path, i), line))
            except _Invalid as exc:
                self.report(exc)
        return tuple(out)

    def _validation(self, item: Any, where: JsonPath, line: _Lines) -> Validation:
        allowed = ("expression", "message", "messageExpression", "path")
        entry = self.mapping(item, where, allowed, "a validation")
        if "expression" not in entry:
            self.report(_Invalid(where, "a validation needs expression"))
        expression = self.attempt(
            lambda: (
                self.text(entry["expression"], (*where, "expression"), "expression")
                if "expression" in entry
                else ""
            ),
            "",
        )
        path_text = self.attempt(
            lambda: self.text(entry["path"], (*where, "path"), "path") if "path" in entry else "",
            "",
        )
        try:
            json_path = parse_json_path(path_text)
        except ValueError as exc:
            self.report(_Invalid((*where, "path"), str(exc)))
            json_path = ()
        message_expression = self.attempt(
            lambda: (
                self.text(
                    entry["messageExpression"], (*where, "messageExpression"), "messageExpression"
                )
                if "messageExpression" in entry
                else ""
            ),
            "",
        )
        message = self.attempt(
            lambda: (
                self.text(entry["message"], (*where, "message"), "message")
                if "message" in entry
                else ""
            ),
            "",
        )
        return Validation(
            expression=expression,
            line=line((*where, "expression")),
            message=message,
            message_expression=message_expression,
            message_expression_line=line((*where, "messageExpression"))
            if message_expression
            else 0,
            path=json_path,
            path_text=path_text,
        )


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
    """The rule of one document, or ``_AllInvalid`` with every problem found in it."""
    reader = _Document(data, collect=True)
    try:
        spec = _read_spec(reader, data, file, line)
    except _Invalid as exc:
        reader.problems.append(exc)
    if reader.problems:
        raise _AllInvalid(reader.problems)
    return spec


def _read_spec(reader: _Document, data: Any, file: str, line: _Lines) -> RuleSpec:
    top = reader.mapping(data, (), _TOP_KEYS, "a rule document")
    for key, expected in (("apiVersion", API_VERSION), ("kind", RULE_KIND)):
        if top.get(key) != expected:
            reader.report(_Invalid((key,), f"{key} must be {expected}, not {top.get(key)!r}"))
    if reader.problems:  # not a rule: what else it holds is no rule's business
        raise _AllInvalid(reader.problems)
    missing_top = [key for key in ("metadata", "spec") if key not in top]
    for key in missing_top:
        reader.report(_Invalid((), f"a rule needs {key}"))
    rule_id = ""
    if "metadata" in top:
        metadata: Mapping[str, Any] = reader.attempt(
            lambda: reader.mapping(top["metadata"], ("metadata",), _METADATA_KEYS, "metadata"), {}
        )
        if "name" not in metadata:
            reader.report(_Invalid(("metadata",), "metadata needs name (the rule id)"))
        else:
            rule_id = reader.attempt(
                lambda: reader.text(metadata["name"], ("metadata", "name"), "metadata.name"), ""
            )
    if "spec" not in top:
        raise _AllInvalid(reader.problems)
    spec = reader.mapping(top["spec"], ("spec",), _SPEC_KEYS, "spec")
    missing = [key for key in _SPEC_REQUIRED if key not in spec]
    if missing:
        reader.report(_Invalid(("spec",), f"spec needs {', '.join(missing)}"))
    params = spec.get("params", {})
    if not isinstance(params, Mapping):
        reader.report(_Invalid(("spec", "params"), "params must be a mapping"))

    def field(key: str, read: Callable[[Any, JsonPath], _T], default: _T) -> _T:
        if key not in spec:
            return default
        return reader.attempt(lambda: read(spec[key], ("spec", key)), default)

    def text(key: str) -> str:
        return field(key, lambda value, path: reader.text(value, path, key), "")

    def enum(key: str, kind: Any) -> Any:
        return field(key, lambda value, path: _enum(value, path, key, kind), None)

    return RuleSpec(
        id=rule_id,
        title=text("title"),
        severity=enum("severity", Severity),
        domain=enum("domain", Domain),
        stage=enum("stage", Stage),
        description=text("description"),
        remediation=text("remediation"),
        references=field("references", reader.references, ()),
        match=field("match", reader.match, RuleMatch(kinds=())),
        validations=field(
            "validations", lambda value, path: reader.validations(value, path, line), ()
        ),
        variables=field("variables", lambda value, path: reader.variables(value, path, line), ()),
        params=params if isinstance(params, Mapping) else {},
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


def _is_detection(data: Any) -> bool:
    """A ``kind: Detection`` document: an audit-log detection of the same file family."""
    return (
        isinstance(data, Mapping)
        and str(data.get("apiVersion", "")).startswith("kposture.io/")
        and data.get("kind") == DETECTION_KIND
    )


def parse_rule_text(
    text: str,
    file: str,
    *,
    skip_others: bool = False,
    warnings: list[RuleFileError] | None = None,
) -> tuple[list[RuleSpec], list[RuleFileError]]:
    """The valid rule documents of one file's text and a ``RuleFileError`` per invalid one
    (metadata checked as the registry checks it; ids not yet checked against other rules).
    ``skip_others``: a file found in a directory may hold fixtures and rule tests, left out.
    ``Detection`` documents are left out, with one warning for the file in ``warnings``."""
    specs: list[RuleSpec] = []
    errors: list[RuleFileError] = []
    detections = 0
    for item in parse_yaml_recovering(text):
        if isinstance(item, DocumentError):
            errors.append(RuleFileError(file, item.line, item.message))
            continue
        if _is_detection(item.data):
            detections += 1
            if detections == 1 and warnings is not None:
                warnings.append(RuleFileError(file, item.start[0], DETECTION_DOCUMENTS))
            continue
        if item.data is None or (skip_others and _not_a_rule(item.data)):
            continue
        line = _Lines(item.positions, item.start[0])
        try:
            spec = _spec(item.data, file, line)
        except _AllInvalid as exc:
            rule_id = _rule_id_of(item.data)
            errors.extend(
                RuleFileError(file, line(problem.path), problem.message, rule_id)
                for problem in exc.problems
            )
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
    warnings: tuple[RuleFileError, ...] = ()
    """Documents left out that are not mistakes (``Detection`` documents), one per file."""

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
    warnings: list[RuleFileError] = []
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
        parsed, problems = parse_rule_text(
            text, name, skip_others=path in in_directories, warnings=warnings
        )
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
        tuple(warnings),
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
