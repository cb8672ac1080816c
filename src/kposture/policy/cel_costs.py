"""What a CEL expression does, read from its tokens: the comprehensions it runs (``all``,
``exists``, ``exists_one``, ``map``, ``filter``), how deeply they nest and what each ranges over,
the names it reads, and whether its result is obviously not a bool; and the runtime cost bound.

The ``cel`` library (cel-rust) has no cost limit and no timeout, and its evaluation holds the
interpreter until it returns, so kposture bounds cost itself, as Kubernetes does: at load a rule is
refused when its comprehensions nest deeper than ``MAX_COMPREHENSION_DEPTH`` or an expression is
longer than ``MAX_EXPRESSION_LENGTH``; before each evaluation ``estimate`` sizes the lists each
comprehension ranges over in this object (resolving paths such as
``object.spec.template.spec.containers`` in the bound values, and using the largest collection of
the activation where it cannot) and multiplies along the nesting, and ``cel_rules`` refuses an
evaluation whose estimate is over the budget. ``cel_programs`` compiles; this module only reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_EXPRESSION_LENGTH = 5120
"""Characters per expression (the limit Kubernetes puts on a ValidatingAdmissionPolicy's)."""
MAX_COMPREHENSION_DEPTH = 3
"""Comprehensions nested inside each other in one expression; deeper is refused at load."""
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
ROOTS = frozenset({"object", "oldObject", "request", "namespaceObject", "params", "variables"})
"""The names bound in every evaluation (see ``cel_rules``)."""
TYPE_NAMES = frozenset(
    {"int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type"}
)
_KEYWORDS = frozenset({"true", "false", "null", "in"})
_NOT_BOOL_CALLS = frozenset(
    {"size", "string", "int", "uint", "double", "bytes", "map", "filter", "timestamp", "duration"}
)
_RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "||", "&&"})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})
_OPEN = {"(": ")", "[": "]", "{": "}"}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*)
    | (?P<string>(?:[rR][bB]?|[bB][rR]?)?(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''
        |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
    | (?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
    | (?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)
    | (?P<punct>\|\||&&|==|!=|<=|>=|[<>!+\-*/%?:.,()\[\]{}])
    """,
    re.VERBOSE | re.DOTALL,
)


class ExpressionShapeError(ValueError):
    """The expression cannot be read (a character no CEL token starts with)."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    """``string``, ``number``, ``ident`` or ``punct``."""
    text: str


def tokens(expression: str) -> list[Token]:
    """The expression's tokens, without spaces and comments."""
    out: list[Token] = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise ExpressionShapeError(f"unexpected character {expression[position]!r}")
        kind = match.lastgroup or "space"
        if kind != "space":
            out.append(Token(kind, match.group()))
        position = match.end()
    return out


@dataclass(frozen=True, slots=True)
class Comprehension:
    """One macro call and what it ranges over: a path from a bound name or from an enclosing
    comprehension's variable (``root`` and ``path``), another comprehension's result (``source``),
    or something else (``root`` empty: sized as the activation's largest collection, times
    ``multiplier`` for a parenthesised receiver with ``+`` concatenations)."""

    macro: str
    variable: str
    root: str
    path: tuple[str, ...]
    children: tuple[Comprehension, ...]
    source: Comprehension | None = None
    multiplier: int = 1


@dataclass(frozen=True, slots=True)
class ExpressionShape:
    """What the tokens say about an expression."""

    comprehensions: tuple[Comprehension, ...]
    """Top-level comprehensions (those not inside another one's arguments)."""
    depth: int
    roots: frozenset[str]
    """Free names the expression reads (bound names and any unknown ones)."""
    variables: tuple[str, ...]
    """Names read as ``variables.NAME``."""
    not_bool: str
    """Why the result is obviously not a bool (a literal, arithmetic, a list), else empty."""
    splits: bool
    """The expression splits strings into lists, so strings count as collections when sizing."""
    tree: Any = None
    """The syntax tree (``cel_syntax.Node``) once ``cel_programs`` has parsed the expression:
    ``estimate`` then bounds every subexpression with ``cel_bounds``."""


def _matching(toks: Sequence[Token]) -> dict[int, int]:
    """Index of each bracket to the index of its partner (both ways)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for index, token in enumerate(toks):
        if token.kind != "punct":
            continue
        if token.text in _OPEN:
            stack.append(index)
        elif token.text in (")", "]", "}") and stack:
            start = stack.pop()
            pairs[start] = index
            pairs[index] = start
    return pairs


@dataclass(slots=True)
class _Found:
    macro: str
    variable: str
    dot: int
    open: int
    close: int
    root: str = ""
    path: tuple[str, ...] = ()
    source: int = -1
    multiplier: int = 1


def _literal(token: Token) -> str | None:
    if token.kind != "string" or token.text[:1] in "bB" or token.text[:2] in ("rb", "rB"):
        return None
    body = token.text.lstrip("rR")
    quote = 3 if body[:3] in ('"""', "'''") else 1
    return body[quote:-quote]


def _receiver(toks: Sequence[Token], dot: int, pairs: Mapping[int, int], found: _Found) -> None:
    """Fill in what the macro at ``dot`` ranges over, reading backwards from the dot."""
    path: list[str] = []
    j = dot - 1
    while j >= 0:
        token = toks[j]
        if token.kind == "ident" and token.text not in _KEYWORDS:
            if j > 0 and toks[j - 1].text == "." and toks[j - 1].kind == "punct":
                path.insert(0, token.text)
                j -= 2
                continue
            found.root, found.path = token.text, tuple(path)
            return
        if token.text == "]" and j >= 2 and toks[j - 2].text == "[":
            key = _literal(toks[j - 1])
            if key is not None:
                path.insert(0, key)
                j -= 3
                continue
        if token.text == ")" and not path and j in pairs:
            opening = pairs[j]
            if opening >= 2 and toks[opening - 1].text in MACROS and toks[opening - 2].text == ".":
                found.source = opening
            else:
                inside = toks[opening + 1 : j]
                found.multiplier = 1 + sum(1 for t in inside if t.text == "+")
        return


def analyse(expression: str) -> ExpressionShape:
    """Read an expression's shape; raise ``ExpressionShapeError`` when it cannot be tokenised."""
    toks = tokens(expression)
    pairs = _matching(toks)
    found: list[_Found] = []
    for i, token in enumerate(toks):
        if (
            token.kind == "ident"
            and token.text in MACROS
            and i > 0
            and toks[i - 1].text == "."
            and i + 3 < len(toks)
            and toks[i + 1].text == "("
            and toks[i + 2].kind == "ident"
            and toks[i + 3].text == ","
            and i + 1 in pairs
        ):
            item = _Found(token.text, toks[i + 2].text, i - 1, i + 1, pairs[i + 1])
            _receiver(toks, i - 1, pairs, item)
            found.append(item)
    by_open = {item.open: item for item in found}
    parent: dict[int, int] = {}
    depth = 0
    for item in found:
        enclosing = [o for o in found if o.open < item.open and item.close < o.close]
        if enclosing:
            parent[item.open] = max(enclosing, key=lambda o: o.open).open
        depth = max(depth, len(enclosing) + 1)

    def build(item: _Found) -> Comprehension:
        kids = tuple(build(o) for o in found if parent.get(o.open) == item.open)
        source = build(by_open[item.source]) if item.source in by_open else None
        return Comprehension(
            item.macro, item.variable, item.root, item.path, kids, source, item.multiplier
        )

    sources = {item.source for item in found}
    top = tuple(
        build(item) for item in found if item.open not in parent and item.open not in sources
    )
    roots, variables = _names(toks, found)
    return ExpressionShape(
        top,
        depth,
        roots,
        variables,
        _not_bool(toks, pairs),
        any(t.kind == "ident" and t.text == "split" for t in toks),
    )


def _names(
    toks: Sequence[Token], found: Sequence[_Found]
) -> tuple[frozenset[str], tuple[str, ...]]:
    roots: set[str] = set()
    variables: list[str] = []
    for i, token in enumerate(toks):
        if token.kind != "ident" or token.text in _KEYWORDS or token.text in TYPE_NAMES:
            continue
        if i > 0 and toks[i - 1].text == "." and toks[i - 1].kind == "punct":
            continue
        if i + 1 < len(toks) and toks[i + 1].text == "(":
            continue  # a function (or macro) call
        if any(item.variable == token.text and item.open < i < item.close for item in found):
            continue
        roots.add(token.text)
        if (
            token.text == "variables"
            and i + 2 < len(toks)
            and toks[i + 1].text == "."
            and toks[i + 2].kind == "ident"
        ):
            variables.append(toks[i + 2].text)
    return frozenset(roots), tuple(variables)


def _not_bool(toks: Sequence[Token], pairs: Mapping[int, int]) -> str:
    """Why the expression's result cannot be a bool, judged only where that is certain."""
    if not toks:
        return "the expression is empty"
    top: list[Token] = []
    i = 0
    while i < len(toks):
        top.append(toks[i])
        i = pairs[i] + 1 if toks[i].text in _OPEN and i in pairs else i + 1
    texts = [t.text for t in top if t.kind in ("punct", "ident")]
    if "?" in texts or any(text in _RELATIONS for text in texts):
        return ""
    if toks[0].text == "!":
        return ""
    if any(t.kind == "punct" and t.text in _ARITHMETIC for t in top[1:]):
        return "it computes a number, string or list (arithmetic), not a bool"
    if len(toks) == 1 and toks[0].kind in ("string", "number"):
        return f"it is a {toks[0].kind} literal, not a bool"
    first = toks[0].text
    if first in ("[", "{") and pairs.get(0) == len(toks) - 1:
        return f"it is a {'list' if first == '[' else 'map'} literal, not a bool"
    if toks[-1].text == ")" and len(toks) - 1 in pairs:
        opening = pairs[len(toks) - 1]
        if (
            opening >= 1
            and toks[opening - 1].text in _NOT_BOOL_CALLS
            and (opening == 1 or toks[opening - 2].text == ".")
        ):
            return f"it returns the result of {toks[opening - 1].text}(), not a bool"
    return ""


def collection_size(value: Any, strings: bool) -> int:
    """The largest list or map anywhere in ``value`` (and string, when ``strings``)."""
    largest = 0
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            largest = max(largest, len(node))
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            largest = max(largest, len(node))
            stack.extend(node)
        elif strings and isinstance(node, str | bytes):
            largest = max(largest, len(node))
    return largest


def _resolve(value: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _elements(value: Any) -> list[Any] | None:
    if isinstance(value, Mapping):
        return list(value)
    if isinstance(value, list | tuple):
        return list(value)
    return None


class _Sizer:
    """Estimates one expression against one activation; ``fallback`` sizes what cannot be
    resolved (computed only when something cannot be, as it walks every bound value)."""

    def __init__(self, bindings: Mapping[str, Any], fallback: Callable[[], int]) -> None:
        self.bindings = bindings
        self._fallback = fallback
        self._size: int | None = None

    @property
    def fallback(self) -> int:
        if self._size is None:
            self._size = self._fallback()
        return self._size

    def range_of(
        self, item: Comprehension, scope: Mapping[str, list[Any] | None]
    ) -> tuple[int, list[Any] | None]:
        """(size, elements or None when unknown) of what ``item`` ranges over."""
        if item.source is not None:
            size, elements = self.range_of(item.source, scope)
            return size, elements if item.source.macro == "filter" else None
        if item.root in scope:
            candidates = scope[item.root]
            if candidates is None:
                return self.fallback, None
            values = [_elements(_resolve(c, item.path)) for c in candidates]
            if any(
                v is None and _resolve(c, item.path) is not None
                for v, c in zip(values, candidates, strict=True)
            ):
                return self.fallback, None
            known = [v for v in values if v is not None]
            return max((len(v) for v in known), default=0), [e for v in known for e in v]
        if item.root in self.bindings:
            value = _resolve(self.bindings[item.root], item.path)
            elements = _elements(value)
            if elements is None:
                return (0, []) if value is None else (self.fallback, None)
            return len(elements), elements
        return self.fallback * item.multiplier, None

    def cost(self, item: Comprehension, scope: Mapping[str, list[Any] | None]) -> int:
        size, elements = self.range_of(item, scope)
        inner = dict(scope)
        inner[item.variable] = elements
        per_item = 1 + sum(self.cost(child, inner) for child in item.children)
        source = self.cost(item.source, scope) if item.source is not None else 0
        return source + size * per_item


def estimate(
    shape: ExpressionShape, bindings: Mapping[str, Any], fallback: Callable[[], int]
) -> int:
    """An upper estimate of the steps evaluating the expression takes on these bindings: with a
    syntax tree, ``cel_bounds.estimate`` (every list-valued subexpression sized); without one,
    each comprehension's range size times the cost of one step, summed."""
    if shape.tree is not None:
        from kposture.policy.cel_bounds import estimate as bound  # noqa: PLC0415 (a cycle)

        return int(bound(shape.tree, bindings))
    sizer = _Sizer(bindings, fallback)
    return 1 + sum(sizer.cost(item, {}) for item in shape.comprehensions)
