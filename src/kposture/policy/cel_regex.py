"""Regex literals in CEL expressions, checked against RE2's syntax (what Kubernetes and cel-rust
use) rather than Python's: the pattern of ``s.matches('...')``, ``s.find('...')`` and
``s.findAll('...')`` when it is a string literal. RE2 refuses look-around (``(?=``, ``(?!``,
``(?<=``, ``(?<!``), backreferences (``\\1``), atomic groups and possessive quantifiers, and
``\\Z``; anything Python's ``re`` cannot compile either is refused too. Used at load
(``cel_programs``) and at export (``vap_export``).
"""

from __future__ import annotations

import re

from kposture.policy.cel_syntax import Call, Literal, Node, walk

REGEX_FUNCTIONS = frozenset({"matches", "find", "findAll"})
_RE2_REFUSES = (
    (re.compile(r"\(\?[=!]"), "look-ahead"),
    (re.compile(r"\(\?<[=!]"), "look-behind"),
    (re.compile(r"\(\?>"), "atomic groups"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]"), "backreferences"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\Z"), "\\Z (use \\z)"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers"),
)


def re2_problem(pattern: str) -> str:
    """Why RE2 would refuse ``pattern``, else empty."""
    for found, what in _RE2_REFUSES:
        if found.search(pattern):
            return f"regex {pattern!r} is not RE2 syntax: {what} are not supported"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"regex {pattern!r} does not compile: {exc}"
    return ""


def regex_literal_problems(tree: Node) -> list[str]:
    """A problem per regex literal of ``tree`` that RE2 would refuse."""
    problems: list[str] = []
    for node in walk(tree):
        if not isinstance(node, Call) or node.function not in REGEX_FUNCTIONS:
            continue
        pattern = node.args[0] if node.target is not None and node.args else None
        if isinstance(pattern, Literal) and isinstance(pattern.value, str):
            problem = re2_problem(pattern.value)
            if problem:
                problems.append(problem)
    return problems
