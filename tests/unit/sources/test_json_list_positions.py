"""Positions inside the items of a JSON ``List`` are read from the item's own text, shifted to
where it starts in the file: the same answers as reading the whole document, without parsing
the whole file with the located loader."""

from __future__ import annotations

import json

import pytest

from kposture.sources.json_documents import JsonItemPositions, LazyJsonPositions, parse_json
from kposture.sources.yaml_documents import parse_yaml

ITEMS = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"r{n}", "labels": {"a": "b"}},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "list"]},
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        ],
    }
    for n in range(3)
]
PATHS = [
    (),
    ("metadata", "name"),
    ("metadata", "labels", "a"),
    ("rules", 0, "resources", 1),
    ("rules", 1, "verbs", 0),
    ("rules", 5),
    ("missing", "field"),
]


def _one_item_per_line() -> str:
    """As ``kubectl get -o json`` lists are written by the benchmark: one item per line."""
    lines = ",\n    ".join(json.dumps(item) for item in ITEMS)
    return '{"apiVersion": "v1", "kind": "List", "items": [\n    ' + lines + "\n]}\n"


@pytest.mark.parametrize(
    "text",
    [
        _one_item_per_line(),
        json.dumps({"apiVersion": "v1", "kind": "List", "items": ITEMS}, indent=2),
        json.dumps({"apiVersion": "v1", "kind": "List", "items": ITEMS}),
    ],
    ids=["item-per-line", "indented", "one-line"],
)
def test_item_positions_equal_the_whole_documents(text: str) -> None:
    (whole,) = parse_yaml(text)
    (document,) = parse_json(text)
    assert isinstance(document.positions, LazyJsonPositions)
    for index in range(len(ITEMS)):
        item = document.positions.subtree(("items", index))
        assert isinstance(item, JsonItemPositions)
        expected = whole.positions.subtree(("items", index))
        for path in PATHS:
            assert item.position(path) == expected.position(path), (index, path)
        nested = item.subtree(("rules", 0))
        assert nested.position(("verbs", 1)) == expected.position(("rules", 0, "verbs", 1))


def test_an_items_position_does_not_read_the_whole_document() -> None:
    (document,) = parse_json(_one_item_per_line())
    assert isinstance(document.positions, LazyJsonPositions)
    item = document.positions.subtree(("items", 2))
    line = _one_item_per_line().splitlines()[3]
    assert item.position(("metadata", "name")) == (4, line.index('"name"') + 1)
    assert document.positions._resolved is None  # no whole-document position table was built


def test_a_released_item_answers_the_same_from_its_text_again() -> None:
    (document,) = parse_json(_one_item_per_line())
    assert isinstance(document.positions, LazyJsonPositions)
    item = document.positions.subtree(("items", 1))
    assert isinstance(item, JsonItemPositions)
    before = [item.position(path) for path in PATHS]
    assert item._resolved is not None
    item.release()
    assert item._resolved is None  # the located copy of the item is no longer held
    assert [item.position(path) for path in PATHS] == before
