"""A CEL expression's syntax tree, read by a small recursive-descent parser over the tokens of
``cel_costs.tokens``.

The ``cel`` library compiles and runs expressions but exposes no syntax tree, and kposture needs
one to bound what an expression may cost (``cel_costs.estimate`` sizes every list-valued
subexpression) and to know which functions it calls (``cel_functions``). The parser follows the
CEL grammar (conditional, ``||``, ``&&``, relations, ``+ -``, ``* / %``, unary ``! -``, member
selection, calls, indexing, list, map and message literals); it runs only on expressions that
``cel.compile`` accepted, so its own errors are a safety net. Namespaced functions
(``math.abs(x)``, ``sets.contains(a, b)``) become global calls named ``math.abs``.
"""

from __future__ import annotations

import ast as _python_ast
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from kposture.policy.cel_costs import Token, tokens

NAMESPACES = frozenset({"math", "sets", "base64", "strings", "lists", "optional"})
"""Prefixes of namespaced functions (``math.abs``): never variables."""
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_RELATIONS = ("<=", ">=", "<", ">", "==", "!=", "in")


class SyntaxProblem(ValueError):
    """The expression does not parse (a safety net: ``cel.compile`` refuses it first)."""


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every node."""


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: object
    kind: str
    """``string``, ``bytes``, ``int``, ``uint``, ``double``, ``bool`` or ``null``."""


@dataclass(frozen=True, slots=True)
class Ident(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Select(Node):
    operand: Node
    field: str


@dataclass(frozen=True, slots=True)
class Index(Node):
    operand: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A function or operator (``_+_``, ``_?_:_``, ``!_``, ``-_``, ``_in_``) call; ``target`` is
    the receiver of a method call (``s.split(',')``)."""

    function: str
    target: Node | None
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Comprehension(Node):
    """A macro: ``range.macro(variable, args...)``."""

    macro: str
    range: Node
    variable: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ListLiteral(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MapLiteral(Node):
    entries: tuple[tuple[Node, Node], ...]
    message: str = ""
    """The type name of a message literal (``Foo{a: 1}``), else empty."""


def _string_value(text: str) -> tuple[object, str]:
    body = text.lstrip("rRbB")
    prefix = text[: len(text) - len(body)].lower()
    is_bytes = "b" in prefix
    raw = "r" in prefix
    quote = 3 if body[:3] in ('"""', "'''") else 1
    inner = body[quote:-quote]
    if not raw:
        # an escape Python does not know: the raw text is good enough for sizing
        with contextlib.suppress(ValueError, SyntaxError):
            inner = _python_ast.literal_eval('"""' + inner.replace('"', '\\"') + '"""')
    if is_bytes:
        return inner.encode("utf-8", "surrogateescape"), "bytes"
    return inner, "string"


def _number_value(text: str) -> tuple[object, str]:
    unsigned = text[-1:] in "uU"
    body = text[:-1] if unsigned else text
    if body[:2].lower() == "0x":
        return int(body, 16), "uint" if unsigned else "int"
    if any(c in body for c in ".eE"):
        return float(body), "double"
    return int(body), "uint" if unsigned else "int"


class _Parser:
    def __init__(self, toks: Sequence[Token]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        if j >= len(self.toks):
            return ""
        token = self.toks[j]
        return token.text if token.kind in ("punct", "ident") else ""

    def take(self, text: str) -> None:
        if self.peek() != text:
            found = self.toks[self.i].text if self.i < len(self.toks) else "the end"
            raise SyntaxProblem(f"expected {text!r}, found {found!r}")
        self.i += 1

    def expr(self) -> Node:
        condition = self.or_()
        if self.peek() == "?":
            self.i += 1
            then = self.or_()
            self.take(":")
            other = self.expr()
            return Call("_?_:_", None, (condition, then, other))
        return condition

    def or_(self) -> Node:
        left = self.and_()
        while self.peek() == "||":
            self.i += 1
            left = Call("_||_", None, (left, self.and_()))
        return left

    def and_(self) -> Node:
        left = self.relation()
        while self.peek() == "&&":
            self.i += 1
            left = Call("_&&_", None, (left, self.relation()))
        return left

    def relation(self) -> Node:
        left = self.addition()
        while self.peek() in _RELATIONS:
            op = self.peek()
            self.i += 1
            left = Call(f"_{op}_", None, (left, self.addition()))
        return left

    def addition(self) -> Node:
        left = self.multiplication()
        while self.peek() in ("+", "-"):
            op = self.peek()
            self.i += 1
            left = Call(f"_{op}_", None, (left, self.multiplication()))
        return left

    def multiplication(self) -> Node:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.peek()
            self.i += 1
            left = Call(f"_{op}_", None, (left, self.unary()))
        return left

    def unary(self) -> Node:
        if self.peek() in ("!", "-"):
            op = self.peek()
            self.i += 1
            return Call(f"{op}_", None, (self.unary(),))
        return self.member()

    def arguments(self, close: str) -> list[Node]:
        out: list[Node] = []
        while self.peek() != close:
            out.append(self.expr())
            if self.peek() != ",":
                break
            self.i += 1
        self.take(close)
        return out

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.peek() == ".":
                self.i += 1
                if self.peek() == "?":
                    raise SyntaxProblem("the optional selection .? is not supported")
                name = self.ident()
                if self.peek() == "(":
                    self.i += 1
                    args = self.arguments(")")
                    node = self.call(name, node, args)
                else:
                    node = Select(node, name)
            elif self.peek() == "[":
                self.i += 1
                index = self.expr()
                self.take("]")
                node = Index(node, index)
            else:
                return node

    def call(self, name: str, target: Node | None, args: list[Node]) -> Node:
        if target is not None and name in MACROS and len(args) >= 2:
            variable = args[0]
            if isinstance(variable, Ident):
                return Comprehension(name, target, variable.name, tuple(args[1:]))
        if isinstance(target, Ident) and target.name in NAMESPACES:
            return Call(f"{target.name}.{name}", None, tuple(args))
        return Call(name, target, tuple(args))

    def ident(self) -> str:
        if self.i >= len(self.toks) or self.toks[self.i].kind != "ident":
            raise SyntaxProblem("expected a name")
        self.i += 1
        return self.toks[self.i - 1].text

    def primary(self) -> Node:
        if self.i >= len(self.toks):
            raise SyntaxProblem("unexpected end of expression")
        token = self.toks[self.i]
        if token.kind == "string":
            self.i += 1
            value, kind = _string_value(token.text)
            return Literal(value, kind)
        if token.kind == "number":
            self.i += 1
            value, kind = _number_value(token.text)
            return Literal(value, kind)
        text = token.text
        if text == ".":  # a leading dot: a fully qualified name
            self.i += 1
            return self.primary()
        if token.kind == "ident":
            self.i += 1
            if text in ("true", "false"):
                return Literal(text == "true", "bool")
            if text == "null":
                return Literal(None, "null")
            if self.peek() == "(":
                self.i += 1
                args = self.arguments(")")
                if text == "has" and len(args) == 1:
                    return Call("has", None, tuple(args))
                return Call(text, None, tuple(args))
            if self.peek() == "{":  # a message literal Foo{field: value}
                self.i += 1
                return self.map_literal(text)
            return Ident(text)
        if text == "(":
            self.i += 1
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            self.i += 1
            return ListLiteral(tuple(self.arguments("]")))
        if text == "{":
            self.i += 1
            return self.map_literal("")
        raise SyntaxProblem(f"unexpected {text!r}")

    def map_literal(self, message: str) -> Node:
        entries: list[tuple[Node, Node]] = []
        while self.peek() != "}":
            if message:
                key: Node = Literal(self.ident(), "string")
            else:
                key = self.expr()
            self.take(":")
            entries.append((key, self.expr()))
            if self.peek() != ",":
                break
            self.i += 1
        self.take("}")
        return MapLiteral(tuple(entries), message)


def parse(expression: str) -> Node:
    """The syntax tree of ``expression``; ``SyntaxProblem`` when it does not parse."""
    parser = _Parser(tokens(expression))
    node = parser.expr()
    if parser.i != len(parser.toks):
        raise SyntaxProblem(f"unexpected {parser.toks[parser.i].text!r}")
    return node


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children(current)))
    return out


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node``."""
    if isinstance(node, Select):
        return (node.operand,)
    if isinstance(node, Index):
        return (node.operand, node.index)
    if isinstance(node, Call):
        return ((node.target,) if node.target is not None else ()) + node.args
    if isinstance(node, Comprehension):
        return (node.range, *node.args)
    if isinstance(node, ListLiteral):
        return node.items
    if isinstance(node, MapLiteral):
        return tuple(part for entry in node.entries for part in entry)
    return ()


def free_names(tree: Node, types: frozenset[str] = frozenset()) -> frozenset[str]:
    """The names ``tree`` reads that no comprehension binds (namespaces and ``types`` left out)."""
    found: set[str] = set()
    stack: list[tuple[Node, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        node, bound = stack.pop()
        if isinstance(node, Ident):
            if node.name not in bound and node.name not in types:
                found.add(node.name)
            continue
        if isinstance(node, Comprehension):
            stack.append((node.range, bound))
            inner = bound | {node.variable}
            stack.extend((arg, inner) for arg in node.args)
            continue
        stack.extend((child, bound) for child in children(node))
    return frozenset(found)
