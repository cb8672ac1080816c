"""The located loader: positions, merge keys, lazy JSON positions, and the expansion guard."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kposture.sources.json_documents import LazyJsonPositions, parse_json
from kposture.sources.yaml_documents import (
    DocumentError,
    check_expansion,
    parse_yaml,
    parse_yaml_recovering,
)


def test_flow_and_block_positions() -> None:
    (doc,) = parse_yaml("a:\n  b: {c: 1, d: [x, y]}\n")
    assert doc.start == (1, 1)
    assert doc.positions.position(("a", "b", "d", 1)) == (2, 20)
    assert doc.positions.position(("a", "b", "c")) == (2, 7)
    assert doc.positions.position(("a", "zzz", "deeper")) == (1, 1)
    assert doc.positions.position(("a", "b", "d", 9)) == (2, 13)


def test_merge_keys_keep_semantics_and_stay_small(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "base: &b {k: 1, j: 2}\nchild: {<<: *b, j: 3}\n"
    (doc,) = parse_yaml(text)
    assert doc.data["child"] == {"k": 1, "j": 3}
    chain = ["a0: &a0 {k: 1}"]
    chain += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], z{i}: 1}}" for i in range(1, 40)]
    # Each level merges the one before twice: kept whole, the merged pairs would double at each of
    # the 39 levels. Every mapping's merged pair list is measured as it is built.
    merge = yaml.constructor.SafeConstructor.flatten_mapping
    longest = 0

    def measured_merge(loader: Any, node: yaml.MappingNode) -> None:
        nonlocal longest
        merge(loader, node)
        longest = max(longest, len(node.value))
        assert longest <= 2 * 40 + 1, "merged pairs are piling up (a merge-key bomb)"

    monkeypatch.setattr(yaml.constructor.SafeConstructor, "flatten_mapping", measured_merge)
    (doc,) = parse_yaml("\n".join(chain) + "\n")
    assert len(doc.data["a39"]) == 40
    assert longest >= 40  # the largest merge was measured: a39, a38's 39 keys and its own


def test_expansion_guard_counts_shared_subtrees() -> None:
    leaf = list(range(10))
    data: object = leaf
    for _ in range(6):
        data = [data] * 10
    with pytest.raises(DocumentError, match="alias bomb"):
        check_expansion(data, 7)
    check_expansion([[leaf] * 10] * 10, 1)


def test_json_positions_are_lazy_and_exact() -> None:
    text = '{\n  "kind": "Pod",\n  "spec": {\n    "hostPID": true\n  }\n}\n'
    (doc,) = parse_json(text)
    assert isinstance(doc.positions, LazyJsonPositions)
    assert doc.positions.position(("spec", "hostPID")) == (4, 5)
    assert doc.positions.subtree(("spec",)).position(("hostPID",)) == (4, 5)


def test_errors_after_good_documents() -> None:
    documents = parse_yaml("a: 1\n---\nb: [\n")
    assert next(documents).data == {"a": 1}
    with pytest.raises(DocumentError) as caught:
        next(documents)
    assert caught.value.line == 4


def test_packed_positions_duplicates_and_changed_mappings() -> None:
    text = "a: 1\nb:\n  c: [x, y]\na: 2\nlong: " + "z" * 100 + "\n"
    (document,) = parse_yaml(text)
    assert document.data == {"a": 2, "b": {"c": ["x", "y"]}, "long": "z" * 100}
    positions = document.positions
    assert positions.position(("a",)) == (4, 1), "the last duplicate key wins"
    assert positions.position(("b", "c", 1)) == (3, 10)
    assert positions.position(("long",)) == (5, 1)
    assert positions.position(("b", "c", 5)) == (3, 3)
    # Keys are located by their place in key order: a mapping that changed size is not trusted.
    document.data["b"]["new"] = 1
    assert positions.position(("b", "c", 1)) == (2, 1)


def test_equal_strings_are_shared() -> None:
    first, second = parse_yaml("kind: Pod\nimage: nginx\n---\nkind: Pod\nimage: nginx\n")
    assert first.data["image"] is second.data["image"]
    assert next(iter(first.data)) is next(iter(second.data))


def test_recovering_parse_resumes_at_the_next_separator() -> None:
    text = "a: 1\n---\n: : bad\nstill: bad\n---\nb:\n  c: [x, y]\n"
    items = list(parse_yaml_recovering(text))
    assert [type(item).__name__ for item in items] == ["Document", "DocumentError", "Document"]
    error, last = items[1], items[2]
    assert isinstance(error, DocumentError) and error.line == 3
    assert not isinstance(last, DocumentError)
    assert last.start == (6, 1)
    assert last.positions.position(("b", "c", 1)) == (7, 10)
    # Without recovery, the stream stops at the first error as before.
    with pytest.raises(DocumentError):
        list(parse_yaml(text))
    # A separator that itself opens the broken document is not resumed at twice.
    items = list(parse_yaml_recovering("--- {x\n--- [y\n---\nok: 1\n"))
    assert [getattr(item, "line", None) for item in items[:2]] == [2, 3]
    assert not isinstance(items[2], DocumentError) and items[2].data == {"ok": 1}
