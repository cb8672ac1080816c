"""Compiling and running the CEL expressions of custom rules with ``common-expression-language``
(module ``cel``, the Rust cel-rust interpreter).

Owns everything kposture checks about an expression at load — it parses (the error with its
column), it is not longer than ``MAX_EXPRESSION_LENGTH``, its comprehensions do not nest deeper
than ``MAX_COMPREHENSION_DEPTH``, it reads only bound names and declared ``variables.NAME``, a
validation is not obviously something other than a bool (a literal, arithmetic, ``size()``), and
an expression that reads nothing evaluates without error (to a bool for a validation) — and the
functions every evaluation may call: cel-rust's standard library plus the cel-go extension
libraries of ``cel.stdlib`` (strings, math, sets, base64, lists). Every function an expression
calls must be one the engine provides (``cel_functions``) and one whose cost ``cel_bounds`` can
bound (``lists.range`` only with a number literal); regex literals must be valid RE2 (the syntax
Kubernetes uses). ``cel`` has no type checker, so a non-bool result of a validation is an error
found when it is evaluated (``cel_rules``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

import cel
from cel import stdlib

from kposture.policy.cel_bounds import called, lists_range_problem, unsupported
from kposture.policy.cel_costs import (
    MAX_COMPREHENSION_DEPTH,
    MAX_EXPRESSION_LENGTH,
    ROOTS,
    TYPE_NAMES,
    ExpressionShape,
    ExpressionShapeError,
    analyse,
)
from kposture.policy.cel_functions import not_in_kposture
from kposture.policy.cel_regex import regex_literal_problems
from kposture.policy.cel_syntax import Node, SyntaxProblem, free_names, parse

_POSITION = re.compile(r"<input>:(\d+):(\d+):([^\n]*)")


def _functions() -> dict[str, Callable[..., Any]]:
    functions: dict[str, Callable[..., Any]] = {}
    for library in stdlib.EXTENSIONS.values():
        for name, function in library.items():
            functions[name] = function
    return functions


FUNCTIONS: Mapping[str, Callable[..., Any]] = _functions()
"""The extension functions registered in every evaluation context."""


class CompileProblem(ValueError):
    """An expression kposture refuses at load; the message says why (never with a file name)."""


@dataclass(frozen=True, slots=True)
class CelExpression:
    """A compiled expression with its shape (for the runtime cost estimate) and source line."""

    source: str
    program: cel.Program
    shape: ExpressionShape
    line: int = 0

    @property
    def tree(self) -> Node:
        """The expression's syntax tree."""
        tree = self.shape.tree
        assert isinstance(tree, Node)
        return tree


def new_context(variables: dict[str, Any]) -> cel.Context:
    """An evaluation context holding ``variables`` and the extension functions."""
    return cel.Context(variables, dict(FUNCTIONS))


def _parse_message(message: str) -> str:
    """cel's parse error, first problem only, with the column instead of ``<input>:1:4``."""
    match = _POSITION.search(message)
    if match is None:
        return (
            f"does not compile: {message.strip().splitlines()[0] if message.strip() else 'error'}"
        )
    line, column, problem = match.groups()
    where = f"column {column}" if line == "1" else f"line {line} column {column}"
    return f"does not compile at {where}: {problem.strip()}"


def compile_expression(
    source: str,
    *,
    want_bool: bool,
    variables: Collection[str],
    line: int = 0,
    roots: Collection[str] = ROOTS,
) -> CelExpression:
    """Compile ``source``; raise ``CompileProblem`` for anything kposture refuses at load.

    ``variables`` are the rule's variable names declared before this expression; ``want_bool``
    is set for validations (and not for variables and message expressions); ``roots`` are the
    names bound (a rule's by default; a custom detection binds ``event`` and ``variables``).
    """
    if not source.strip():
        raise CompileProblem("is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise CompileProblem(
            f"is {len(source)} characters long; the limit is {MAX_EXPRESSION_LENGTH}"
        )
    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        raise CompileProblem(_parse_message(str(exc))) from None
    try:
        shape = analyse(source)
        tree = parse(source)
    except (ExpressionShapeError, SyntaxProblem) as exc:
        raise CompileProblem(f"cannot be read: {exc}") from None
    shape = replace(shape, roots=free_names(tree, TYPE_NAMES), tree=tree)
    _check_functions(tree)
    if shape.depth > MAX_COMPREHENSION_DEPTH:
        raise CompileProblem(
            f"nests comprehensions (all, exists, exists_one, map, filter) {shape.depth} deep; "
            f"the limit is {MAX_COMPREHENSION_DEPTH}, so a rule's cost stays bounded"
        )
    unknown = sorted(shape.roots - set(roots))
    if unknown:
        raise CompileProblem(
            f"reads unknown name(s) {', '.join(unknown)} (bound: {', '.join(sorted(roots))})"
        )
    undeclared = sorted(set(shape.variables) - set(variables))
    if undeclared:
        raise CompileProblem(
            f"reads variables.{undeclared[0]}, which is not a variable declared before it"
        )
    if want_bool and shape.not_bool:
        raise CompileProblem(f"must return a bool: {shape.not_bool}")
    if not program.variables():
        _check_constant(program, want_bool)
    return CelExpression(source, program, shape, line)


def _check_functions(tree: Node) -> None:
    """Refuse calls the engine does not provide or whose cost cannot be bounded."""
    missing = not_in_kposture(called(tree))
    if missing:
        listed = ", ".join(f"{name}()" for name in missing)
        raise CompileProblem(
            f"calls {listed}, which kposture's CEL engine does not provide "
            "(see the function table in docs/custom-rules.md)"
        )
    unbounded = unsupported(tree)
    if unbounded:
        raise CompileProblem(
            f"function {unbounded[0]} is not supported in custom rules (its cost cannot be bounded)"
        )
    problem = lists_range_problem(tree)
    if problem:
        raise CompileProblem(problem)
    regex = regex_literal_problems(tree)
    if regex:
        raise CompileProblem(regex[0])


def _check_constant(program: cel.Program, want_bool: bool) -> None:
    """An expression that reads nothing has the same result on every object: know it now."""
    try:
        result = program.execute(new_context({}))
    except Exception as exc:  # cel raises ValueError, TypeError, KeyError, ZeroDivisionError...
        raise CompileProblem(f"fails on every object: {type(exc).__name__}: {exc}") from None
    if want_bool and not isinstance(result, bool):
        raise CompileProblem(f"must return a bool, not {type(result).__name__} ({result!r})")


def run(expression: CelExpression, context: cel.Context) -> Any:
    """Evaluate a compiled expression; cel's exceptions pass through to the caller."""
    return expression.program.execute(context)
