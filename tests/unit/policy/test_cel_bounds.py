"""The cost bound: every list-valued subexpression sized (flatten, concatenation, split, literals,
lists.range), nested comprehensions charged by the product, functions without a cost model
refused at load; the reviewer's flatten bypass refused before it runs whatever the object's size."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.policy.test_cel_rules import config_map, judge, rules_from

from kposture.policy.cel_bounds import MODELLED, estimate
from kposture.policy.cel_functions import FUNCTIONS, OPERATORS
from kposture.policy.cel_programs import CompileProblem, compile_expression
from kposture.policy.cel_rules import COST_BUDGET

REVIEWER = (
    "object.data.map(a, object.data.map(b, a + b)).flatten().all(x, "
    "object.data.map(a, object.data.map(b, a + b)).flatten().exists(y, x == y + 'nope') || true)"
)


def _cost(source: str, obj: object) -> int:
    expression = compile_expression(source, want_bool=False, variables=())
    return estimate(expression.tree, {"object": obj})


@pytest.mark.parametrize("keys", [20, 60, 1000])
def test_the_flatten_bypass_is_refused_before_it_runs(tmp_path: Path, keys: int) -> None:
    rules = rules_from(tmp_path, f"  validations:\n    - expression: >-\n        {REVIEWER}\n")
    result = judge(rules, config_map({f"key{i}": f"v{i}" for i in range(keys)}))
    [error] = result.errors
    assert "expression not evaluated" in error.message  # refused from its estimate, never run
    assert f"over the budget of {COST_BUDGET:,}" in error.message


def test_a_flattened_range_counts_its_items_not_the_largest_collection() -> None:
    data = {f"k{i}": "v" for i in range(30)}
    flat = _cost(
        "object.data.map(a, object.data.map(b, a + b)).flatten().all(x, true)", {"data": data}
    )
    plain = _cost("object.data.map(a, a).all(x, true)", {"data": data})
    assert flat > 30 * 30 * 2 > plain


def test_nested_comprehensions_multiply() -> None:
    obj = {"items": list(range(50))}
    one = _cost("object.items.all(x, true)", obj)
    three = _cost("object.items.all(x, object.items.all(y, object.items.all(z, true)))", obj)
    assert one >= 50
    assert three >= 50**3


@pytest.mark.parametrize(
    ("source", "at_least"),
    [
        ("(object.items + object.items).all(x, true)", 200),
        ("object.text.split(',').all(x, true)", 500),
        ("[1, 2, 3].all(x, object.items.all(y, true))", 300),
        ("lists.range(1000).all(x, true)", 1000),
        ("object.items.sort().all(x, true)", 100),
        ("object.items.distinct().all(x, true)", 100 * 100),
        ("object.items.filter(x, true).map(x, x).all(x, true)", 100),
    ],
)
def test_every_list_valued_subexpression_is_sized(source: str, at_least: int) -> None:
    obj = {"items": list(range(100)), "text": "a," * 250}
    assert _cost(source, obj) >= at_least


def test_a_bound_is_not_below_the_real_list_size() -> None:
    data = {f"k{i}": "v" for i in range(10)}
    # 100 items, each comparison at least a step, built 100 times
    assert _cost(REVIEWER, {"data": data}) >= 100 * 100


def test_lists_range_needs_a_literal() -> None:
    with pytest.raises(CompileProblem, match=r"lists\.range needs a number literal"):
        compile_expression("lists.range(size(object.a)).size() > 0", want_bool=True, variables=())


def test_every_function_kposture_runs_has_a_cost_model() -> None:
    runs = {name for name, row in FUNCTIONS.items() if row.kposture and row.library != "macros"}
    assert runs == set(MODELLED) - OPERATORS


@pytest.mark.parametrize(
    "source",
    [
        "math.abs(-1) == 1",
        "sets.contains([1, 2], [1])",
        "base64.encode(b'a') == 'YQ=='",
        "strings.quote('a') != ''",
        "object.a.all(math, math > 0)",
    ],
)
def test_namespaced_functions_are_not_unknown_names(source: str) -> None:
    compile_expression(source, want_bool=True, variables=())


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("quantity(object.a) != null", "quantity()"),
        ("'%s'.format([object.a]) != ''", "format()"),
        ("object.a.isSorted()", "isSorted()"),
        ("object.a.frobnicate() == 1", "frobnicate()"),
    ],
)
def test_functions_the_engine_lacks_are_refused_at_load(source: str, named: str) -> None:
    with pytest.raises(CompileProblem) as caught:
        compile_expression(source, want_bool=True, variables=())
    assert named in str(caught.value)
    assert "does not provide" in str(caught.value)


@pytest.mark.parametrize("pattern", ["(?=a)b", "(?!a)", "(?<=a)b", "(?<!a)b", "(a)\\\\1"])
def test_regex_literals_re2_refuses_are_refused_at_load(pattern: str) -> None:
    with pytest.raises(CompileProblem, match="not RE2 syntax"):
        compile_expression(f"object.a.matches('{pattern}')", want_bool=True, variables=())


def test_a_valid_regex_literal_loads() -> None:
    compile_expression("object.a.matches('^[a-z]+(-[a-z0-9]+)*$')", want_bool=True, variables=())


def test_runtime_errors_are_in_cel_words(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, "  validations:\n    - expression: object.spec.replicas > 1\n")
    [error] = judge(rules, config_map({})).errors
    assert "no such key: spec" in error.message
    assert "KeyError" not in error.message
