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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kposture.engine import Registry, evaluate_one
from kposture.inventory import Inventory
from kposture.model import K8sObject, RunPolicy, ScanResult
from kposture.policy.cel_rules import CelCheck, activation, admission_binding
from kposture.policy.cel_rules import attach_admission_request as attach
from kposture.policy.rule_files import load_rule_files
from kposture.policy.rule_specs import API_VERSION, OPERATIONS, TEST_KIND
from kposture.rules import builtin_rules
from kposture.sources.manifests import load_manifests
from kposture.sources.yaml_documents import DocumentError, parse_yaml

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
    pass


def find_test_files(root: Path) -> list[Path]:
    """Test files under ``root`` (or ``root`` itself when it is one), sorted."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name in TEST_FILE_NAMES)


def _files(spec: Mapping[str, Any], key: str, base: Path) -> list[str]:
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Broken(f"{key} must be a list of file paths")
    paths = []
    for item in value:
        path = base / item
        if not path.exists():
            raise _Broken(f"{key}: {item} does not exist")
        paths.append(path.as_posix())
    return paths


def _objects(paths: Sequence[str], what: str) -> tuple[K8sObject, ...]:
    if not paths:
        return ()
    loaded = load_manifests(paths)
    errors = [e for e in loaded.errors if e.level == "error"]
    if errors:
        raise _Broken(f"{what}: " + "; ".join(f"{e.file}:{e.line}: {e.message}" for e in errors))
    return tuple(loaded.objects)


def _key(kind: str, namespace: str, name: str) -> tuple[str, str, str]:
    return (kind, namespace, name)


def _request(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    value = spec.get("request")
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - set(_REQUEST_KEYS):
        raise _Broken(f"request must be a mapping of {', '.join(_REQUEST_KEYS)}")
    operation = value.get("operation", "CREATE")
    if operation not in OPERATIONS:
        raise _Broken(f"request.operation must be one of {', '.join(OPERATIONS)}")
    return value


def run_test_file(path: Path, today: dt.date) -> TestOutcome:
    """Run one test file."""
    name = path.as_posix()
    try:
        documents = list(parse_yaml(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        return TestOutcome(name, name, problems=(f"cannot read: {exc}",))
    except DocumentError as exc:
        return TestOutcome(name, name, problems=(f"line {exc.line}: {exc.message}",))
    if len(documents) != 1 or not isinstance(documents[0].data, Mapping):
        return TestOutcome(name, name, problems=("a test file holds one RuleTest mapping",))
    spec = documents[0].data
    title = spec.get("metadata", {}).get("name", name) if isinstance(spec, Mapping) else name
    try:
        return TestOutcome(name, str(title), cases=tuple(_run(spec, path.parent, today)))
    except _Broken as exc:
        return TestOutcome(name, str(title), problems=(str(exc),))


def _run(spec: Mapping[str, Any], base: Path, today: dt.date) -> list[CaseResult]:
    unknown = sorted(set(spec) - set(_TOP_KEYS))
    if unknown:
        raise _Broken(f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(_TOP_KEYS)})")
    if spec.get("apiVersion") != API_VERSION or spec.get("kind") != TEST_KIND:
        raise _Broken(f"apiVersion must be {API_VERSION} and kind {TEST_KIND}")
    for key in ("rules", "resources", "results"):
        if not spec.get(key):
            raise _Broken(f"a test needs {key}")
    loaded = load_rule_files(
        _files(spec, "rules", base), taken_ids={rule.id for rule in builtin_rules()}
    )
    if loaded.errors:
        raise _Broken("rules do not load: " + "; ".join(str(e) for e in loaded.errors))
    registry = Registry(loaded.rules)
    resources = _objects(_files(spec, "resources", base), "resources")
    namespaces = _objects(_files(spec, "namespaces", base), "namespaces")
    old = {
        _key(o.ref.kind, o.ref.namespace, o.ref.name): o
        for o in _objects(_files(spec, "oldResources", base), "oldResources")
    }
    request = _request(spec)
    inventory = Inventory((*resources, *namespaces))
    by_key = {_key(o.ref.kind, o.ref.namespace, o.ref.name): o for o in resources}
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
    cases = []
    results = spec["results"]
    if not isinstance(results, list):
        raise _Broken("results must be a list")
    for index, expected in enumerate(results, start=1):
        cases.append(_case(index, expected, registry, inventory, by_key, judged, today))
    return cases


def _case(
    index: int,
    expected: Any,
    registry: Registry,
    inventory: Inventory,
    by_key: Mapping[tuple[str, str, str], K8sObject],
    judged: dict[tuple[str, str, str], ScanResult],
    today: dt.date,
) -> CaseResult:
    if not isinstance(expected, Mapping) or set(expected) - {
        "rule",
        "resource",
        "result",
        "message",
    }:
        raise _Broken(f"results[{index}] must have rule, resource, result and optional message")
    rule_id, outcome = expected.get("rule"), expected.get("result")
    resource = expected.get("resource")
    if not isinstance(resource, Mapping) or outcome not in RESULTS:
        raise _Broken(
            f"results[{index}] needs resource {{kind, namespace, name}} and result "
            f"({', '.join(RESULTS)})"
        )
    rule = registry.get(str(rule_id))
    if rule is None:
        raise _Broken(f"results[{index}]: rule {rule_id!r} is not in the test's rules")
    key = _key(
        str(resource.get("kind", "")),
        str(resource.get("namespace", "")),
        str(resource.get("name", "")),
    )
    obj = by_key.get(key)
    shown = "/".join(part for part in key if part)
    if obj is None:
        raise _Broken(f"results[{index}]: no resource {shown} in the test's resources")
    if key not in judged:
        judged[key] = evaluate_one(obj, inventory, registry, RunPolicy(), today)
    result = judged[key]
    actual, detail = _actual(rule.id, obj, inventory, result, rule.check)
    want = str(expected.get("message", ""))
    ok = actual == outcome and (not want or want in detail)
    if actual == outcome and want and want not in detail:
        detail = f"message {detail!r} does not contain {want!r}"
    return CaseResult(rule.id, shown, str(outcome), actual, ok, detail)


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
