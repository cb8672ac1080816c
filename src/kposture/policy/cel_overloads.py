"""Explains the ``cel`` library's error for a call it has no overload for.

cel-rust reports ``string(null)``, ``size(1)`` or ``int([])`` as ``Undefined variable or function:
'string'``, which reads as a misspelt function. Every function an expression calls was checked to
exist when it was compiled (``cel_programs``), so at run time that error means the function does
not take the value it was given. ``overload_problem`` finds the call in the expression's tree and
names the argument that is ``null`` — most often an audit body the audit level did not log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kposture.policy.cel_syntax import Call, Ident, Index, Literal, Node, Select, walk

_UNDEFINED = re.compile(r"Undefined variable or function: '([^']+)'")
BODIES = frozenset({"event.requestObject", "event.responseObject"})
"""Paths that are null when the audit level did not log the body."""


def overload_problem(exc: BaseException, tree: Node, bindings: Mapping[str, Any]) -> str | None:
    """What went wrong when ``exc`` is cel's undefined-function error for a known function, else
    None. ``bindings`` are the expression's roots (``event``, ``variables``...)."""
    found = _UNDEFINED.search(str(exc))
    if found is None:
        return None
    name = found.group(1)
    calls = [
        node
        for node in walk(tree)
        if isinstance(node, Call) and node.function.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]
    ]
    if not calls:
        return None  # a variable, not a function: not this error
    arguments = [arg for call in calls for arg in _arguments(call)]
    for shown, value in _resolved(arguments, bindings):
        if value is None:
            absent = " is absent (the audit level did not log the body)" if shown in BODIES else ""
            return f"{name}() of null: {shown}{absent or ' is null'}"
    return f"{name}() does not take the type of value it was given (no such overload)"


def _arguments(call: Call) -> tuple[Node, ...]:
    return ((call.target,) if call.target is not None else ()) + call.args


def _resolved(nodes: list[Node], bindings: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The arguments that are literals or paths from a binding, with their values."""
    out = []
    for node in nodes:
        if isinstance(node, Literal):
            out.append(("null" if node.kind == "null" else repr(node.value), node.value))
            continue
        path = _path(node)
        if path is None or path[0] not in bindings:
            continue
        value: Any = bindings[path[0]]
        for part in path[1:]:
            if not isinstance(value, Mapping) or part not in value:
                break
            value = value[part]
        else:
            out.append((".".join(path), value))
    return out


def _path(node: Node) -> tuple[str, ...] | None:
    """``event.requestObject.spec`` as its parts; None for anything but a chain of names."""
    if isinstance(node, Ident):
        return (node.name,)
    if isinstance(node, Select):
        head = _path(node.operand)
        return None if head is None else (*head, node.field)
    if isinstance(node, Index) and isinstance(node.index, Literal):
        head = _path(node.operand)
        return None if head is None else (*head, str(node.index.value))
    return None
