"""``kposture rules test``: running custom rules on fixture objects and comparing the outcome per
rule and resource with what a test file expects (like ``kyverno test``).

A test file is ``kposture-test.yaml`` (or ``.yml``) anywhere under the directory given, of
``apiVersion: kposture.io/v1``, ``kind: RuleTest``: ``rules`` and ``resources`` (files relative to
the test file), optional ``namespaces`` (Namespace objects, for ``namespaceObject`` and
``namespaceSelector``), ``oldResources`` (the same objects before an UPDATE: bound as
``oldObject``, the operation becomes UPDATE) and ``request`` (``operation``, ``userInfo``,
``dryRun``: judged as an admission request instead of a scan), and ``results``: ``rule``,
``resource`` (``kind``, ``namespace``, ``name``), ``result`` (``pass``, ``fail``, ``error`` or
``skip`` — the rule does not select the resource) and optionally ``message``, which a finding's
message (or the error) must contain. Each test ends ``passed``, ``failed`` (an outcome differs) or
``broken`` (the file, a rule or a resource could not be read).

A broken test file lists every problem at once, each as ``file:line: message`` with the line of
the key or value at fault; list entries are named by 0-based index (``results[0]``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kposture.engine import Registry, evaluate_one
from kposture.inventory import Inventory
from kposture.model import JsonPath, K8sObject, RunPolicy, ScanResult
from kposture.policy.cel_rules import CelCheck, activation, admission_binding
from kposture.policy.cel_rules import attach_admission_request as attach
from kposture.policy.rule_files import load_rule_files
from kposture.policy.rule_specs import API_VERSION, OPERATIONS, TEST_KIND
from kposture.rules import builtin_rules
from kposture.sources.manifests import load_manifests
from kposture.sources.yaml_documents import Document, DocumentError, parse_yaml

TEST_FILE_NAMES = ("kposture-test.yaml", "kposture-test.yml")
RESULTS = ("pass", "fail", "error", "skip")
_TOP_KEYS = (
    "apiVersion",
    "kind",
    "metadata",
    "rules",
    "resources",
    "namespaces",
    "oldResources",
    "request",
    "results",
)
_REQUEST_KEYS = ("operation", "userInfo", "dryRun")
_RESULT_KEYS = ("rule", "resource", "result", "message")
_RESOURCE_KEYS = ("kind", "namespace", "name")
_FILE_LISTS = ("rules", "resources", "namespaces", "oldResources")


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One expected result and what happened."""

    rule: str
    resource: str
    expected: str
    actual: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """One test file: its cases, or the problems that broke it."""

    file: str
    name: str
    cases: tuple[CaseResult, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.problems:
            return "broken"
        return "passed" if all(case.ok for case in self.cases) else "failed"


class _Broken(Exception):
    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class _Problems:
    """Every problem of one test file, each as ``file:line: message``."""

    def __init__(self, name: str, document: Document) -> None:
        self.name = name
        self.document = document
        self.found: list[str] = []

    def add(self, path: JsonPath, message: str) -> None:
        found = self.document.positions.position(path)
        line = int(found[0]) if found else int(self.document.start[0])
        self.found.append(f"{self.name}:{line}: {message}")

    def unknown_keys(
        self, value: Mapping[str, Any], path: JsonPath, allowed: Sequence[str], where: str
    ) -> None:
        for key in value:
            if key not in allowed:
                self.add(
                    (*path, key),
                    f"{where}unknown key {str(key)!r} (expected {', '.join(allowed)})",
                )

    def stop_if_any(self) -> None:
        if self.found:
            raise _Broken(self.found)


def _label(path: JsonPath) -> str:
    """``results[0].resource`` for ``("results", 0, "resource")``."""
    out = ""
    for segment in path:
        out += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if out else segment)
    return out


def find_test_files(root: Path) -> list[Path]:
    """Test files under ``root`` (or ``root`` itself when it is one), sorted."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name in TEST_FILE_NAMES)


def _check_files(spec: Mapping[str, Any], key: str, base: Path, problems: _Problems) -> None:
    value = spec.get(key, [])
    if not isinstance(value, list):
        problems.add((key,), f"{key} must be a list of file paths, not {value!r}")
        return
    for index, item in enumerate(value):
        if not isinstance(item, str):
            problems.add((key, index), f"{key}[{index}] must be a file path, not {item!r}")
        elif not (base / item).exists():
            problems.add((key, index), f"{key}[{index}]: {item} does not exist")


def _files(spec: Mapping[str, Any], key: str, base: Path) -> list[str]:
    return [(base / item).as_posix() for item in spec.get(key, [])]


def _objects(paths: Sequence[str], what: str) -> tuple[K8sObject, ...]:
    if not paths:
        return ()
    loaded = load_manifests(paths)
    errors = [e for e in loaded.errors if e.level == "error"]
    if errors:
        raise _Broken([f"{e.file}:{e.line}: {what}: {e.message}" for e in errors])
    return tuple(loaded.objects)


def _key(kind: str, namespace: str, name: str) -> tuple[str, str, str]:
    return (kind, namespace, name)


def _check_request(spec: Mapping[str, Any], problems: _Problems) -> None:
    value = spec.get("request")
    if value is None:
        return
    if not isinstance(value, Mapping):
        problems.add(("request",), f"request must be a mapping of {', '.join(_REQUEST_KEYS)}")
        return
    problems.unknown_keys(value, ("request",), _REQUEST_KEYS, "request: ")
    operation = value.get("operation", "CREATE")
    if operation not in OPERATIONS:
        problems.add(
            ("request", "operation"),
            f"request.operation must be one of {', '.join(OPERATIONS)}, not {operation!r}",
        )


def _check_result(expected: Any, index: int, problems: _Problems) -> None:
    path: JsonPath = ("results", index)
    where = f"{_label(path)}: "
    if not isinstance(expected, Mapping):
        problems.add(path, f"{where}must be a mapping of {', '.join(_RESULT_KEYS)}")
        return
    problems.unknown_keys(expected, path, _RESULT_KEYS, where)
    missing = [key for key in ("rule", "resource", "result") if key not in expected]
    if missing:
        problems.add(path, f"{where}needs {', '.join(missing)}")
    if "rule" in expected and not isinstance(expected["rule"], str):
        problems.add((*path, "rule"), f"{where}rule must be a rule id, not {expected['rule']!r}")
    outcome = expected.get("result")
    if "result" in expected and outcome not in RESULTS:
        problems.add(
            (*path, "result"),
            f"{where}result must be {', '.join(RESULTS[:-1])} or {RESULTS[-1]}, not {outcome!r}",
        )
    resource = expected.get("resource")
    if "resource" in expected:
        if not isinstance(resource, Mapping):
            problems.add(
                (*path, "resource"),
                f"{where}resource must be a mapping of {', '.join(_RESOURCE_KEYS)}",
            )
        else:
            problems.unknown_keys(
                resource, (*path, "resource"), _RESOURCE_KEYS, f"{where}resource: "
            )
            if not resource.get("kind") or not resource.get("name"):
                problems.add((*path, "resource"), f"{where}resource needs kind and name")


def run_test_file(path: Path, today: dt.date) -> TestOutcome:
    """Run one test file."""
    name = path.as_posix()
    try:
        documents = list(parse_yaml(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        return TestOutcome(name, name, problems=(f"{name}:0: cannot read: {exc}",))
    except DocumentError as exc:
        return TestOutcome(name, name, problems=(f"{name}:{exc.line}: {exc.message}",))
    if len(documents) != 1 or not isinstance(documents[0].data, Mapping):
        return TestOutcome(
            name, name, problems=(f"{name}:1: a test file holds one RuleTest mapping",)
        )
    spec = documents[0].data
    metadata = spec.get("metadata")
    title = metadata.get("name", name) if isinstance(metadata, Mapping) else name
    try:
        problems = _Problems(name, documents[0])
        return TestOutcome(name, str(title), cases=tuple(_run(spec, path.parent, today, problems)))
    except _Broken as exc:
        return TestOutcome(name, str(title), problems=exc.problems)


def _check(spec: Mapping[str, Any], base: Path, problems: _Problems) -> None:
    """Every problem of the test file itself, before anything is loaded."""
    problems.unknown_keys(spec, (), _TOP_KEYS, "")
    for key, expected in (("apiVersion", API_VERSION), ("kind", TEST_KIND)):
        if spec.get(key) != expected:
            problems.add((key,), f"{key} must be {expected}, not {spec.get(key)!r}")
    missing = [key for key in ("rules", "resources", "results") if not spec.get(key)]
    if missing:
        problems.add((), f"a test needs {', '.join(missing)}")
    for key in _FILE_LISTS:
        _check_files(spec, key, base, problems)
    _check_request(spec, problems)
    results = spec.get("results")
    if results is not None and not isinstance(results, list):
        problems.add(("results",), "results must be a list")
    elif results:
        for index, expected in enumerate(results):
            _check_result(expected, index, problems)


def _run(
    spec: Mapping[str, Any], base: Path, today: dt.date, problems: _Problems
) -> list[CaseResult]:
    _check(spec, base, problems)
    problems.stop_if_any()
    loaded = load_rule_files(
        _files(spec, "rules", base), taken_ids={rule.id for rule in builtin_rules()}
    )
    if loaded.errors:
        raise _Broken([f"rules do not load: {error}" for error in loaded.errors])
    registry = Registry(loaded.rules)
    resources = _objects(_files(spec, "resources", base), "resources")
    namespaces = _objects(_files(spec, "namespaces", base), "namespaces")
    old = {
        _key(o.ref.kind, o.ref.namespace, o.ref.name): o
        for o in _objects(_files(spec, "oldResources", base), "oldResources")
    }
    request: Mapping[str, Any] | None = spec.get("request")
    inventory = Inventory((*resources, *namespaces))
    by_key = {_key(o.ref.kind, o.ref.namespace, o.ref.name): o for o in resources}
    results = spec["results"]
    for index, expected in enumerate(results):
        if expected["rule"] not in registry.ids:
            problems.add(
                ("results", index, "rule"),
                f"results[{index}]: rule {expected['rule']!r} is not in the test's rules",
            )
        if _resource_key(expected) not in by_key:
            problems.add(
                ("results", index, "resource"),
                f"results[{index}]: no resource {_shown(_resource_key(expected))} in the "
                "test's resources",
            )
    problems.stop_if_any()
    for ref_key, obj in by_key.items():
        previous = old.get(ref_key)
        if previous is None and request is None:
            continue
        user = (request or {}).get("userInfo") or {}
        operation = "UPDATE" if previous is not None else (request or {}).get("operation", "CREATE")
        attach(
            obj,
            admission_binding(
                operation=str(operation),
                group=obj.ref.group,
                version=obj.ref.api_version.rpartition("/")[2],
                kind=obj.ref.kind,
                namespace=obj.ref.namespace,
                name=obj.ref.name,
                user=str(user.get("username", "kposture:test")),
                groups=[str(g) for g in user.get("groups", [])],
                dry_run=bool((request or {}).get("dryRun", False)),
                old_object=previous.raw if previous is not None else None,
            ),
        )
    judged: dict[tuple[str, str, str], ScanResult] = {}
    return [_case(expected, registry, inventory, by_key, judged, today) for expected in results]


def _resource_key(expected: Mapping[str, Any]) -> tuple[str, str, str]:
    resource = expected["resource"]
    return _key(
        str(resource.get("kind", "")),
        str(resource.get("namespace", "")),
        str(resource.get("name", "")),
    )


def _shown(key: tuple[str, str, str]) -> str:
    return "/".join(part for part in key if part)


def _case(
    expected: Mapping[str, Any],
    registry: Registry,
    inventory: Inventory,
    by_key: Mapping[tuple[str, str, str], K8sObject],
    judged: dict[tuple[str, str, str], ScanResult],
    today: dt.date,
) -> CaseResult:
    """One checked ``results`` entry (its rule and resource known to exist)."""
    rule = registry.get(str(expected["rule"]))
    assert rule is not None
    key = _resource_key(expected)
    obj = by_key[key]
    if key not in judged:
        judged[key] = evaluate_one(obj, inventory, registry, RunPolicy(), today)
    result = judged[key]
    actual, detail = _actual(rule.id, obj, inventory, result, rule.check)
    outcome = str(expected["result"])
    want = str(expected.get("message", ""))
    ok = actual == outcome and (not want or want in detail)
    if actual == outcome and want and want not in detail:
        detail = f"message {detail!r} does not contain {want!r}"
    return CaseResult(rule.id, _shown(key), outcome, actual, ok, detail)


def _actual(
    rule_id: str, obj: K8sObject, inventory: Inventory, result: ScanResult, check: Any
) -> tuple[str, str]:
    prefix = f"rule {rule_id} failed on "
    for error in result.errors:
        if error.level == "error" and error.message.startswith(prefix):
            return "error", error.message
    messages = [f.message for f in result.findings if f.rule_id == rule_id]
    if messages:
        return "fail", "; ".join(messages)
    if isinstance(check, CelCheck):
        state = activation(obj, inventory)
        if not check.applies(obj, inventory, state.operation):
            return "skip", "the rule does not select this resource"
    return "pass", ""


@dataclass(frozen=True, slots=True)
class TestRun:
    """Every test under a directory."""

    outcomes: tuple[TestOutcome, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        """0 every test passed; 1 an outcome differs; 2 a test is broken (or none was found)."""
        if not self.outcomes or any(o.status == "broken" for o in self.outcomes):
            return 2
        return 1 if any(o.status == "failed" for o in self.outcomes) else 0


def run_tests(root: Path, today: dt.date) -> TestRun:
    """Run every test file under ``root``."""
    return TestRun(tuple(run_test_file(path, today) for path in find_test_files(root)))
