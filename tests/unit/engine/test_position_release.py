"""The engine lets an object's position index drop what it read once the object's findings are
located: a scan of a large JSON ``List`` does not keep a located copy of every item with a
finding, and the findings point at the same lines."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from kposture.engine import Registry, evaluate
from kposture.inventory import Inventory
from kposture.model import (
    Domain,
    Framework,
    JsonPath,
    K8sObject,
    Reference,
    ResourceRef,
    RuleMeta,
    RunPolicy,
    Severity,
    SourceLocation,
    Stage,
    Violation,
)
from kposture.rules.base import Rule
from kposture.sources.json_documents import JsonItemPositions, LazyJsonPositions, parse_json

TODAY = dt.date(2026, 11, 27)


def _rule(rule_id: str, path: JsonPath) -> Rule:
    meta = RuleMeta(
        id=rule_id,
        title="Demo rule",
        severity=Severity.HIGH,
        domain=Domain.RBAC,
        stage=Stage.CRAWL,
        kinds=("ClusterRole",),
        remediation="Fix it.",
        description="Why it matters.",
        references=(Reference(Framework.CIS, "5.1.3"),),
    )

    def check(_obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
        yield Violation(rule_id, path)

    return Rule(meta, check)


RULES = (_rule("second-verb", ("rules", 0, "verbs", 1)), _rule("role-name", ("metadata", "name")))


def _role(name: str) -> dict[str, object]:
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }


def _listed(count: int) -> tuple[str, list[K8sObject]]:
    """A ``List`` of ClusterRoles written one item per line, and its items as objects."""
    items = [_role(f"r{n}") for n in range(count)]
    text = '{"kind": "List", "items": [\n' + ",\n".join(map(json.dumps, items)) + "\n]}\n"
    (document,) = parse_json(text)
    assert isinstance(document.positions, LazyJsonPositions)
    objects = []
    for index, item in enumerate(items):
        ref = ResourceRef(str(item["apiVersion"]), "ClusterRole", "", f"r{index}")
        where = SourceLocation("roles.json", index + 2, 1)
        objects.append(K8sObject(ref, item, where, document.positions.subtree(("items", index))))
    return text, objects


def test_items_are_located_then_released() -> None:
    text, objects = _listed(3)
    result = evaluate(Inventory(objects), Registry(RULES), RunPolicy(), TODAY)
    lines = text.splitlines()
    found = {
        (f.rule_id, f.resource.name): (f.location.line, f.location.column)
        for f in result.findings
        if f.location is not None
    }
    for index in range(3):
        line = lines[index + 1]
        assert found["second-verb", f"r{index}"] == (index + 2, line.index('"list"') + 1)
        assert found["role-name", f"r{index}"] == (index + 2, line.index('"name"') + 1)
    for obj in objects:
        assert isinstance(obj.positions, JsonItemPositions)
        assert obj.positions._resolved is None  # no located copy of the item is kept


class _Recording:
    """A position index that records what the engine asks of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def position(self, path: JsonPath) -> tuple[int, int] | None:
        self.calls.append("position")
        return (len(path), 1)

    def release(self) -> None:
        self.calls.append("release")


def test_release_comes_after_every_finding_of_the_object_is_located() -> None:
    positions = _Recording()
    ref = ResourceRef("rbac.authorization.k8s.io/v1", "ClusterRole", "", "r")
    obj = K8sObject(ref, _role("r"), SourceLocation("r.json", 1, 1), positions)
    result = evaluate(Inventory([obj]), Registry(RULES), RunPolicy(), TODAY)
    assert len(result.findings) == 2
    assert positions.calls == ["position", "position", "release"]
