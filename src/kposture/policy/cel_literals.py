"""CEL literals for plain data, and inlining a rule's ``params`` into its expressions.

A kposture rule binds its inline ``params`` map as ``params``; a ValidatingAdmissionPolicy can only
bind params from a separate API object (``paramKind``), and a ConfigMap would hold every value as a
string. The export therefore writes the values into the expressions: ``params.maxReplicas`` becomes
``10``, so the policy judges exactly what the rule judges with no parameter object to install.

Kubernetes compiles policies with homogeneous aggregate literals, so a list or map whose elements
differ in type has every element wrapped in ``dyn()``, which CEL accepts everywhere. Used by
``vap_export``; pure functions over strings and JSON-like data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

PARAMS = "params"
_QUOTES = ("'''", '"""', "'", '"')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class LiteralError(ValueError):
    """A value that has no CEL literal (a NaN, an infinity, an object of another type)."""


def _signature(value: object) -> str:
    """The CEL type a literal of ``value`` has, for the homogeneity test."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        keys = {_signature(k) for k in value}
        values = {_signature(v) for v in value.values()}
        key = keys.pop() if len(keys) == 1 else "dyn"
        item = values.pop() if len(values) == 1 else "dyn"
        return f"map({key},{item})"
    if isinstance(value, Sequence):
        items = {_signature(v) for v in value}
        return f"list({items.pop() if len(items) == 1 else 'dyn'})"
    raise LiteralError(f"no CEL literal for a {type(value).__name__}")


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _items(values: Sequence[object]) -> list[str]:
    """Literals of ``values``, each wrapped in ``dyn()`` when their types differ."""
    literals = [cel_literal(v) for v in values]
    if len({_signature(v) for v in values}) > 1:
        return [f"dyn({text})" for text in literals]
    return literals


def cel_literal(value: object) -> str:
    """The CEL literal of a JSON-like value (what YAML params parse to)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LiteralError(f"no CEL literal for {value}")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        keys = _items(list(value))
        values = _items(list(value.values()))
        return "{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, values, strict=True)) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_items(list(value))) + "]"
    raise LiteralError(f"no CEL literal for a {type(value).__name__}")


def _string_end(text: str, start: int) -> int:
    """The index after the string literal whose prefix or quote starts at ``start``."""
    index = start
    raw = False
    while text[index] in "rRbB":
        raw = raw or text[index] in "rR"
        index += 1
    quote = next(q for q in _QUOTES if text.startswith(q, index))
    index += len(quote)
    while index < len(text):
        if not raw and text[index] == "\\":
            index += 2
            continue
        if text.startswith(quote, index):
            return index + len(quote)
        index += 1
    return len(text)


def _is_string_start(text: str, index: int) -> bool:
    end = index
    while end < len(text) and end - index < 2 and text[end] in "rRbB":
        end += 1
    return end < len(text) and text[end] in "'\""


def _previous(text: str, index: int) -> str:
    """The text before ``index`` with trailing blanks removed."""
    return text[:index].rstrip()


def _is_identifier(char: str) -> bool:
    return char.isalnum() or char == "_"


def _inside_has(before: str) -> bool:
    if not before.endswith("("):
        return False
    head = before[:-1].rstrip()
    return head.endswith("has") and (len(head) == 3 or not _is_identifier(head[-4]))


def _replacement(
    text: str, end: int, params: Mapping[str, object], whole: str, in_has: bool
) -> tuple[str, int]:
    """What replaces ``params`` (ending at ``end``) and where the replaced text ends."""
    rest = text[end:]
    stripped = rest.lstrip()
    if stripped.startswith(".") and not in_has:
        after = stripped[1:].lstrip()
        length = 0
        while length < len(after) and _is_identifier(after[length]):
            length += 1
        key = after[:length]
        if key and key in params:
            literal = cel_literal(params[key])
            if literal.startswith("-"):
                literal = f"({literal})"
            consumed = len(rest) - len(after) + length
            return literal, end + consumed
    return f"({whole})", end


def inline_params(expression: str, params: Mapping[str, object] | None) -> str:
    """``expression`` with every free ``params`` identifier replaced by the params' values.

    ``params.key`` becomes the literal of that value; anything else (``params[k]``, a key the map
    lacks, the argument of ``has()``) becomes the literal of the whole map, so the result — a
    value, an error, ``has()`` false — is the one the rule itself gets. String literals and field
    selections (``object.params``) are left alone. Without params the expression is unchanged.
    """
    if params is None:
        return expression
    whole = cel_literal(params)
    out: list[str] = []
    index = 0
    while index < len(expression):
        char = expression[index]
        if _is_string_start(expression, index) and (
            index == 0 or not _is_identifier(expression[index - 1])
        ):
            end = _string_end(expression, index)
            out.append(expression[index:end])
            index = end
            continue
        if char.isalpha() or char == "_":
            end = index
            while end < len(expression) and _is_identifier(expression[end]):
                end += 1
            word = expression[index:end]
            before = _previous(expression, index)
            if word == PARAMS and not before.endswith("."):
                text, end = _replacement(expression, end, params, whole, _inside_has(before))
                out.append(text)
            else:
                out.append(word)
            index = end
            continue
        out.append(char)
        index += 1
    return "".join(out)


__all__ = ["LiteralError", "cel_literal", "inline_params"]
