"""Test helpers shared by rule tests: load manifests into ``K8sObject``s and run rules over them.

Objects come from ``kposture.sources.load_manifests`` (the real loader, with file:line positions).
When the sources package cannot be imported the helper falls back to ``yaml.safe_load_all`` with
every object located at ``SourceLocation(file, 1)``, so rule tests never depend on loader work in
progress.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kposture.inventory import Inventory
from kposture.model import K8sObject, ResourceRef, RunPolicy, SourceLocation, Violation
from kposture.rules import Rule, builtin_rules


def object_from_mapping(raw: Mapping[str, Any], file: str = "test.yaml") -> K8sObject:
    """A ``K8sObject`` for one parsed document, located at line 1 of ``file``."""
    meta = raw.get("metadata") or {}
    ref = ResourceRef(
        str(raw.get("apiVersion", "")),
        str(raw.get("kind", "")),
        str(meta.get("namespace", "") or ""),
        str(meta.get("name", "") or ""),
    )
    return K8sObject(ref, raw, SourceLocation(file, 1))


def _load_with_yaml(path: Path) -> list[K8sObject]:
    with path.open(encoding="utf-8") as handle:
        docs = list(yaml.safe_load_all(handle))
    return [object_from_mapping(doc, str(path)) for doc in docs if isinstance(doc, Mapping)]


def load_objects(paths: Sequence[Path]) -> list[K8sObject]:
    """Every Kubernetes object in ``paths`` (files or directories; Helm charts rendered)."""
    try:
        from kposture.sources import load_manifests
    except ImportError:  # pragma: no cover - only while the sources package is absent
        objects: list[K8sObject] = []
        for path in paths:
            files = sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
            for file in files:
                objects.extend(_load_with_yaml(file))
        return objects
    loaded = load_manifests([str(path) for path in paths])
    errors = [error for error in loaded.errors if error.level == "error"]
    assert not errors, f"could not load {paths}: {errors}"
    return list(loaded.objects)


def objects_from_text(text: str, file: str = "inline.yaml") -> list[K8sObject]:
    """Objects from YAML text written in a test."""
    return [object_from_mapping(doc, file) for doc in yaml.safe_load_all(text) if doc]


RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in builtin_rules()}


def violations(
    rule_id: str, objects: Iterable[K8sObject], policy: RunPolicy | None = None
) -> list[Violation]:
    """What one built-in rule reports on ``objects`` (each judged against all of them), configured
    by ``policy`` as the engine would, implied namespaces included."""
    inventory = Inventory(objects)
    rule = RULES_BY_ID[rule_id]
    check = rule.configured(policy or RunPolicy()).check
    assert check is not None, f"{rule_id} is off under this policy"
    found: list[Violation] = []
    for obj in inventory.evaluation_order():
        if obj.ref.kind in rule.meta.kinds:
            found.extend(check(obj, inventory))
    return found


def fired_rules(obj: K8sObject, inventory: Inventory, rules: Iterable[Rule]) -> set[str]:
    """The ids of the rules that report at least one violation on ``obj``."""
    return {
        rule.id
        for rule in rules
        if obj.ref.kind in rule.meta.kinds and any(rule.check(obj, inventory))
    }
