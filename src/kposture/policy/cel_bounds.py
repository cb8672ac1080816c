"""An upper bound on the work one evaluation of a CEL expression does on one object, computed
from its syntax tree (``cel_syntax``) and the values it is bound to, before it runs.

Every subexpression gets an abstract value: the concrete values it may be (a path read from the
bindings, ``object.spec.containers``, or an element of such a list), or a bound — at most ``n``
items (list items, map entries, string characters) whose own items are bounded in turn. A list a
function or a macro builds is bounded from its inputs: ``map``/``filter`` at most the range's
size, ``flatten`` the size times the largest inner list, ``+`` the sum, ``sort``/``distinct``/
``slice``/``reverse`` the input, ``split`` the string's length (plus one), list and map literals
their length, ``lists.range(N)`` N. The cost in steps is one per node evaluated plus each
function's work on its inputs (linear for comparisons, ``in``, concatenation and string
functions, n·log n for ``sort``, n² for ``distinct``), and a comprehension costs its range plus
the range's size times its body, so nested comprehensions multiply; ``map`` and ``filter`` also
cost n²/2, as cel-rust copies the result list at each append (measured: 29 ms for 1,000 items,
2.8 s for 10,000). ``cel_rules`` refuses an
evaluation whose bound is over the budget. ``unsupported`` names, at load, the functions this
module has no model for: a rule calling one is refused, since its cost could not be bounded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cel import stdlib

from kposture.policy.cel_functions import OPERATORS
from kposture.policy.cel_syntax import (
    Call,
    Comprehension,
    Ident,
    Index,
    ListLiteral,
    Literal,
    MapLiteral,
    Node,
    Select,
    walk,
)

_SCALAR_FUNCTIONS = frozenset(
    {
        "size",
        "int",
        "uint",
        "double",
        "bool",
        "type",
        "timestamp",
        "duration",
        "getFullYear",
        "getMonth",
        "getDayOfYear",
        "getDayOfMonth",
        "getDate",
        "getDayOfWeek",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
        "hasValue",
        "optional.none",
        "math.abs",
        "math.bitAnd",
        "math.bitNot",
        "math.bitOr",
        "math.bitShiftLeft",
        "math.bitShiftRight",
        "math.bitXor",
        "math.ceil",
        "math.floor",
        "math.isFinite",
        "math.isInf",
        "math.isNaN",
        "math.round",
        "math.sign",
        "math.sqrt",
        "math.trunc",
    }
)
"""Functions of constant work whose result is not a collection."""
_LINEAR_SCALAR = frozenset(
    {"contains", "startsWith", "endsWith", "sum", "min", "max", "math.greatest", "math.least"}
)
"""Functions whose work is linear in their inputs and whose result is not a collection."""
_PASS_THROUGH = frozenset(
    {"dyn", "optional.of", "optional.ofNonZeroValue", "value", "orValue", "or"}
)
_SAME_SIZE = frozenset({"lowerAscii", "upperAscii", "trim", "substring", "base64.decode"})
_LIST_SHAPED = frozenset({"sort", "distinct", "slice", "reverse"})
MODELLED = (
    _SCALAR_FUNCTIONS
    | _LINEAR_SCALAR
    | _PASS_THROUGH
    | _SAME_SIZE
    | _LIST_SHAPED
    | {
        "string",
        "bytes",
        "matches",
        "indexOf",
        "lastIndexOf",
        "charAt",
        "strings.quote",
        "replace",
        "split",
        "join",
        "flatten",
        "first",
        "last",
        "lists.range",
        "base64.encode",
        "sets.contains",
        "sets.equivalent",
        "sets.intersects",
    }
)
"""Every function this module bounds (besides operators and macros)."""


PYTHON_CALL = 20
"""Steps charged for each call of an extension function: cel calls back into Python for them
(``cel.stdlib``), a fixed cost of a few microseconds."""
_PYTHON_FUNCTIONS = frozenset(name for library in stdlib.EXTENSIONS.values() for name in library)


class UnboundedCost(ValueError):
    """The expression's cost cannot be bounded (a message for the rule's author)."""


@dataclass(frozen=True, slots=True)
class Value:
    """An abstract value: one of ``known`` (when not None), else at most ``n`` items bounded by
    ``item`` (None: scalars)."""

    known: tuple[Any, ...] | None
    n: int = 0
    item: Value | None = None


SCALAR = Value(None)


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        return list(value)
    return []


def _length(value: Any) -> int:
    if isinstance(value, Mapping | list | tuple | str | bytes):
        return len(value)
    return 0


def size(value: Value) -> int:
    """The most items (or characters) the value may have."""
    if value.known is not None:
        return max((_length(v) for v in value.known), default=0)
    return value.n


def _items(value: Value) -> Value:
    """What an element, key or map value may be."""
    if value.known is not None:
        return Value(tuple(c for v in value.known for c in _children(v)))
    return value.item if value.item is not None else SCALAR


def _iterated(value: Value) -> Value:
    """What a comprehension variable over the value may be (list items, map keys)."""
    if value.known is not None:
        out: list[Any] = []
        for v in value.known:
            if isinstance(v, Mapping | list | tuple):
                out.extend(v)
        return Value(tuple(out))
    return _items(value)


def _field(value: Value, name: str) -> Value:
    if value.known is not None:
        return Value(tuple(v[name] for v in value.known if isinstance(v, Mapping) and name in v))
    return _items(value)


def _member(value: Value) -> Value:
    if value.known is not None:
        out: list[Any] = []
        for v in value.known:
            if isinstance(v, Mapping):
                out.extend(v.values())
            elif isinstance(v, list | tuple):
                out.extend(v)
        return Value(tuple(out))
    return _items(value)


def join(*values: Value) -> Value:
    """A value that may be any of ``values``."""
    if all(v.known is not None for v in values):
        return Value(tuple(x for v in values for x in v.known or ()))
    deeper = [
        v
        for v in values
        if (v.known is None and v.item is not None)
        or (v.known is not None and any(_children(x) for x in v.known))
    ]
    return Value(
        None,
        max((size(v) for v in values), default=0),
        join(*(_items(v) for v in deeper)) if deeper else None,
    )


def _bounded(n: int, item: Value | None = None) -> Value:
    return Value(None, n, item)


def _concrete_weight(value: Any) -> int:
    total = 0
    stack = [value]
    while stack:
        node = stack.pop()
        total += 1
        if isinstance(node, str | bytes):
            total += len(node)
        else:
            stack.extend(_children(node))
    return total


def weight(value: Value) -> int:
    """The most nodes (and characters) the value may hold: the work of comparing or copying it."""
    if value.known is not None:
        return max((_concrete_weight(v) for v in value.known), default=1)
    inner = weight(value.item) if value.item is not None else 0
    return 1 + value.n * (1 + inner)


class _Estimator:
    def __init__(self, bindings: Mapping[str, Any]) -> None:
        self.bindings = bindings

    def run(self, node: Node, scope: Mapping[str, Value]) -> tuple[int, Value]:
        """(steps, abstract value) of evaluating ``node`` once."""
        if isinstance(node, Literal):
            return 1, Value((node.value,))
        if isinstance(node, Ident):
            if node.name in scope:
                return 1, scope[node.name]
            if node.name in self.bindings:
                return 1, Value((self.bindings[node.name],))
            return 1, SCALAR
        if isinstance(node, Select):
            cost, value = self.run(node.operand, scope)
            return cost + 1, _field(value, node.field)
        if isinstance(node, Index):
            cost, value = self.run(node.operand, scope)
            index_cost, index = self.run(node.index, scope)
            if (
                index.known is not None
                and len(index.known) == 1
                and isinstance(index.known[0], str)
            ):
                return cost + index_cost + 1, _field(value, index.known[0])
            return cost + index_cost + 1, _member(value)
        if isinstance(node, ListLiteral):
            results = [self.run(item, scope) for item in node.items]
            cost = 1 + sum(c for c, _ in results)
            return cost, _bounded(len(results), join(*(v for _, v in results)) if results else None)
        if isinstance(node, MapLiteral):
            results = [self.run(part, scope) for entry in node.entries for part in entry]
            cost = 1 + sum(c for c, _ in results)
            return cost, _bounded(
                len(node.entries), join(*(v for _, v in results)) if results else None
            )
        if isinstance(node, Comprehension):
            return self.comprehension(node, scope)
        if isinstance(node, Call):
            return self.call(node, scope)
        raise UnboundedCost(f"cannot bound {type(node).__name__}")

    def comprehension(self, node: Comprehension, scope: Mapping[str, Value]) -> tuple[int, Value]:
        range_cost, range_value = self.run(node.range, scope)
        inner = dict(scope)
        inner[node.variable] = _iterated(range_value)
        results = [self.run(arg, inner) for arg in node.args]
        n = size(range_value)
        cost = range_cost + n * (1 + sum(c for c, _ in results)) + 1
        # cel-rust builds a map or filter result by copying the list at each append: n²/2.
        if node.macro == "map":
            return cost + n * (n + 1) // 2, _bounded(n, results[-1][1])
        if node.macro == "filter":
            return cost + n * (n + 1) // 2, _bounded(n, _iterated(range_value))
        return cost, SCALAR

    def call(self, node: Call, scope: Mapping[str, Value]) -> tuple[int, Value]:
        name = node.function
        parts = ([node.target] if node.target is not None else []) + list(node.args)
        results = [self.run(part, scope) for part in parts]
        cost = 1 + sum(c for c, _ in results)
        values = [v for _, v in results]
        work, value = self.work(name, values)
        if name in _PYTHON_FUNCTIONS:
            work += PYTHON_CALL
        return cost + work, value

    def work(self, name: str, args: list[Value]) -> tuple[int, Value]:
        """(work beyond evaluating the arguments, result) of one call."""
        first = args[0] if args else SCALAR
        n = size(first)
        if name in ("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_"):
            return min(weight(args[0]), weight(args[1])), SCALAR
        if name == "_in_":
            return size(args[1]) * (1 + min(weight(args[0]), weight(_items(args[1])))), SCALAR
        if name == "_+_":
            total = size(args[0]) + size(args[1])
            items = [_items(a) for a in args if size(a)]
            return total, _bounded(total, join(*items) if items else None)
        if name == "_?_:_":
            return 0, join(args[1], args[2])
        if name in OPERATORS:  # && || ! - * / % and has()
            return 0, SCALAR
        if name in _SCALAR_FUNCTIONS:
            return 1, SCALAR
        if name in _LINEAR_SCALAR:
            return sum(weight(a) for a in args), SCALAR
        if name in _PASS_THROUGH:
            return 1, join(*args) if args else SCALAR
        if name in _SAME_SIZE:
            return n, _bounded(n)
        if name in ("string", "bytes"):
            w = weight(first)
            return w, _bounded(w)
        if name == "matches":
            return n * (1 + size(args[1])), SCALAR
        if name in ("indexOf", "lastIndexOf"):
            return n * (1 + (weight(args[1]) if len(args) > 1 else 1)), SCALAR
        if name == "charAt":
            return n, _bounded(1)
        if name == "strings.quote":
            return n, _bounded(2 * n + 2)
        if name == "base64.encode":
            return n, _bounded(4 * n // 3 + 4)
        if name == "replace":
            out = (n + 1) * (size(args[2]) + 1)
            return out, _bounded(out)
        if name == "split":
            return n, _bounded(n + 1, _bounded(n))
        if name == "join":
            separator = size(args[1]) if len(args) > 1 else 0
            out = n * (size(_items(first)) + separator)
            return out + n, _bounded(out)
        if name == "flatten":
            return self.flatten(first, args[1] if len(args) > 1 else None)
        if name in _LIST_SHAPED:
            item = _items(first)
            if name == "sort":
                work = n * (1 + math.ceil(math.log2(n + 1))) * (1 + weight(item))
            elif name == "distinct":
                work = n * n * (1 + weight(item))
            else:
                work = n
            return work, _bounded(n, item)
        if name in ("first", "last"):
            return 1, _items(first)
        if name == "lists.range":
            count = first.known[0] if first.known is not None and len(first.known) == 1 else None
            if not isinstance(count, int) or isinstance(count, bool):
                raise UnboundedCost("lists.range needs a number literal")
            return max(count, 0), _bounded(max(count, 0))
        if name.startswith("sets."):
            return (1 + size(args[0])) * (1 + size(args[1])) * (1 + weight(_items(args[0]))), SCALAR
        raise UnboundedCost(f"function {name} is not supported in custom rules")

    def flatten(self, value: Value, depth: Value | None) -> tuple[int, Value]:
        levels = 1
        if depth is not None:
            known = depth.known
            if known is None or len(known) != 1 or not isinstance(known[0], int):
                raise UnboundedCost("flatten needs a number literal as its depth")
            levels = max(int(known[0]), 0)
        n, item = size(value), _items(value)
        work = n
        for _ in range(min(levels, 64)):
            inner = size(item)
            n = n * max(1, inner)
            item = join(item, _items(item)) if inner else item
            work += n
            if not inner:
                break
        return work, _bounded(n, item)


def estimate(tree: Node, bindings: Mapping[str, Any]) -> int:
    """An upper bound on the steps evaluating ``tree`` takes with these bindings."""
    cost, _ = _Estimator(bindings).run(tree, {})
    return cost


def unsupported(tree: Node) -> list[str]:
    """The functions called in ``tree`` whose cost this module cannot bound."""
    names: set[str] = set()
    for node in walk(tree):
        if isinstance(node, Call) and node.function not in OPERATORS | MODELLED:
            names.add(node.function)
    return sorted(names)


def lists_range_problem(tree: Node) -> str:
    """Why a ``lists.range`` call cannot be bounded (its size is not a literal), else empty."""
    for node in walk(tree):
        if isinstance(node, Call) and node.function == "lists.range":
            arg = node.args[0] if node.args else None
            if not (isinstance(arg, Literal) and arg.kind in ("int", "uint")):
                return "lists.range needs a number literal (its size must be known)"
    return ""


def called(tree: Node) -> Iterable[str]:
    """The names of the functions and macros ``tree`` calls (operators included)."""
    for node in walk(tree):
        if isinstance(node, Call):
            yield node.function
        elif isinstance(node, Comprehension):
            yield node.macro
