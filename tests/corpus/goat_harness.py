"""The harness the Kubernetes Goat recall tests share (``test_goat_*.py``, ``test_polaris_secrets.py``).

``goat/expected.json`` ``manifest_findings`` names labelled resources (``Kind.namespace.name`` in a
file) with the tags of what is wrong with them. Each family decides which tags are its own and how
kposture must report them; the loading, the matching of a labelled resource to its one object and
the recall assertion are here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kposture.inventory import Inventory
from kposture.model import K8sObject, Violation
from support import RULES_BY_ID, load_objects

Found = dict[str, list[Violation]]
"""Rule id -> what the rule reports on one object."""
TagCheck = Callable[[Found], bool]
"""Whether kposture found one tag, given everything reported on the tagged object."""
TagResult = tuple[str, str, bool]
"""(labelled resource, tag, kposture found it)."""
Matcher = Callable[[K8sObject, dict[str, Any]], bool]


def goat_root(corpus: Path) -> Path:
    """The Kubernetes Goat corpus folder; skips the calling test (or fixture) when it is absent."""
    root = corpus / "goat"
    if not (root / "expected.json").is_file():
        pytest.skip(f"Kubernetes Goat corpus not found under {root}")
    return root


def goat_entries(root: Path) -> list[dict[str, Any]]:
    """The labelled resources: ``file``, ``resource`` and ``tags`` each."""
    entries: list[dict[str, Any]] = json.loads(
        (root / "expected.json").read_text(encoding="utf-8")
    )["manifest_findings"]
    return entries


def goat_objects(root: Path) -> list[K8sObject]:
    """Every object of the Goat tree (both Helm charts rendered by the sources loader)."""
    return load_objects([root / "scenarios", root / "infrastructure"])


def matches(obj: K8sObject, entry: dict[str, Any]) -> bool:
    """``obj`` is the labelled resource: same file and kind (the first word of the label's kind, as
    in ``Deployment (helm: metadata-db)``) and, when the label names one, the same name."""
    file = obj.location.file if obj.location else ""
    if not file.endswith(entry["file"]):
        return False
    kind, _, rest = entry["resource"].partition(".")
    kind = kind.split(" ")[0]
    name = rest.rpartition(".")[2] if rest else ""
    return obj.ref.kind == kind and (not name or obj.ref.name == name)


def matches_exactly(obj: K8sObject, entry: dict[str, Any]) -> bool:
    """``obj`` is the labelled resource: same file, exactly the label's kind and name."""
    file = obj.location.file if obj.location else ""
    kind, _, rest = entry["resource"].partition(".")
    name = rest.rpartition(".")[2] if rest else ""
    return file.endswith(entry["file"]) and obj.ref.kind == kind and obj.ref.name == name


def labelled_object(
    objects: list[K8sObject], entry: dict[str, Any], match: Matcher = matches
) -> K8sObject:
    """The one object the label names (asserting there is exactly one)."""
    matching = [obj for obj in objects if match(obj, entry)]
    assert len(matching) == 1, f"{entry['resource']} in {entry['file']}: {len(matching)} objects"
    return matching[0]


def all_violations(obj: K8sObject, inventory: Inventory) -> Found:
    """What every built-in rule reports on ``obj`` (nothing from rules not for its kind)."""
    return {
        rule_id: list(rule.check(obj, inventory)) if obj.ref.kind in rule.meta.kinds else []
        for rule_id, rule in RULES_BY_ID.items()
    }


def tag_results(
    root: Path,
    tag_check: Callable[[str, list[str]], TagCheck | None],
    match: Matcher = matches,
) -> list[TagResult]:
    """A result for every tag ``tag_check`` knows how to verify (given the tag and all the tags of
    its resource; None for a tag of another family), judged on the labelled object."""
    entries = goat_entries(root)
    objects = goat_objects(root)
    inventory = Inventory(objects)
    results: list[TagResult] = []
    for entry in entries:
        maybe = {tag: tag_check(tag, entry["tags"]) for tag in entry["tags"]}
        checks = {tag: check for tag, check in maybe.items() if check is not None}
        if not checks:
            continue
        found = all_violations(labelled_object(objects, entry, match), inventory)
        results.extend((entry["resource"], tag, check(found)) for tag, check in checks.items())
    return results


def assert_recall_complete(results: list[TagResult], tags: str) -> None:
    """kposture found every tag (``tags`` names them in the failure message)."""
    missed = [(resource, tag) for resource, tag, hit in results if not hit]
    assert not missed, f"{tags} kposture missed: {missed}"
