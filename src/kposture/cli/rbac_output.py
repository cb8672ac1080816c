"""Output of the ``kposture rbac`` views: the ``-o table|json|yaml|dot`` choice, the JSON/YAML and
Graphviz writers, and the pieces every view shares (how a subject, binding, role and rule are named
in a table and in a document).

JSON and YAML carry the same document (a versioned ``schema`` string first); YAML is written with the
keys in document order. ``DotGraph`` collects nodes and edges in the order the view adds them (views
add them in their sorted order, so the text is deterministic), drops duplicates and quotes every id
and label (backslashes, double quotes and newlines escaped), so any name Kubernetes allows is safe.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import typer
import yaml
from rich.console import Console

from kposture.cli.plain_tables import render_table, shared_widths, wrap_cell
from kposture.inventory.rbac import BUILTIN_PATH, BoundRole, EffectiveRule, Subject
from kposture.inventory.rbac_capabilities import FULL_ACCESS, Capability, Holding
from kposture.inventory.rbac_rules import PolicyRule
from kposture.model import InputError, K8sObject
from kposture.reports.terminal_text import visible


class RbacFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"
    DOT = "dot"


class Granted(Protocol):
    """What every RBAC answer names: a subject of a binding, the role bound, one of its rules."""

    @property
    def subject(self) -> Subject: ...
    @property
    def binding(self) -> K8sObject: ...
    @property
    def role(self) -> BoundRole: ...
    @property
    def rule(self) -> EffectiveRule: ...
    @property
    def scope(self) -> str: ...


# --- names ------------------------------------------------------------------------------------------


def ref_dict(kind: str, namespace: str, name: str) -> dict[str, str]:
    return {"kind": kind, "namespace": namespace, "name": name}


def subject_text(subject: Subject) -> str:
    """``ServiceAccount shop/ci``, ``User alice``, ``Group system:masters``."""
    return subject.display()


def binding_text(binding: K8sObject) -> str:
    ref = binding.ref
    return f"{ref.kind} {ref.namespace + '/' if ref.namespace else ''}{ref.name}"


def via_text(granted: Granted) -> str:
    """``RoleBinding shop/exec → Role shop/exec``."""
    return f"{binding_text(granted.binding)} → {granted.role.display()}"


def rule_origin_text(rule: EffectiveRule) -> str:
    """Where a rule is written: ``Role shop/exec rules[0]``, or ``built-in cluster-admin``."""
    origin = rule.origin
    if rule.path == BUILTIN_PATH:
        return f"built-in {origin.name}"
    where = f"{origin.namespace}/" if origin.namespace else ""
    return f"{origin.kind} {where}{origin.name} rules[{rule.index}]"


def _list(values: Sequence[str]) -> str:
    return "[" + " ".join(f'"{v}"' if v == "" else v for v in values) + "]"


def policy_rule_text(rule: PolicyRule) -> str:
    """One rule in a line: ``verbs [get list] on [secrets] in apiGroups [""]``, resourceNames and
    non-resource URLs included."""
    if rule.non_resource_urls:
        return f"verbs {_list(rule.verbs)} on nonResourceURLs {_list(rule.non_resource_urls)}"
    text = f"verbs {_list(rule.verbs)} on {_list(rule.resources)} in apiGroups {_list(rule.api_groups)}"
    if rule.resource_names:
        text += f" only resourceNames {_list(rule.resource_names)}"
    return text


def subject_dict(subject: Subject) -> dict[str, str]:
    return ref_dict(subject.kind, subject.namespace, subject.name)


def rule_dict(rule: EffectiveRule) -> dict[str, Any]:
    """Where the rule is written (``origin``, ``index``; ``builtin`` for the built-in rules of a
    default ClusterRole that is not in the inputs) and what it says."""
    policy = rule.rule
    return {
        "origin": ref_dict(rule.origin.kind, rule.origin.namespace, rule.origin.name),
        "index": rule.index,
        "builtin": rule.path == BUILTIN_PATH,
        "verbs": list(policy.verbs),
        "apiGroups": list(policy.api_groups),
        "resources": list(policy.resources),
        "resourceNames": list(policy.resource_names),
        "nonResourceURLs": list(policy.non_resource_urls),
    }


def granted_dict(granted: Granted) -> dict[str, Any]:
    """subject, binding, role, rule and scope of one answer."""
    binding = granted.binding.ref
    role = granted.role
    return {
        "subject": subject_dict(granted.subject),
        "binding": ref_dict(binding.kind, binding.namespace, binding.name),
        "role": ref_dict(role.kind, role.namespace, role.name),
        "rule": rule_dict(granted.rule),
        "scope": granted.scope,
    }


def capability_dict(capability: Capability) -> dict[str, str]:
    return {
        "id": capability.id,
        "title": capability.title,
        "severity": capability.severity.value,
        "rule_id": capability.rule_id,
    }


def holding_dict(holding: Holding) -> dict[str, Any]:
    """A holding: the capability, who holds it where and through what, what the rule grants;
    ``rule`` is the strongest rule granting it, ``other_rules`` the role's other rules that do."""
    return {
        "capability": capability_dict(holding.capability),
        **granted_dict(holding),
        "grants": holding.describe(),
        "default": holding.default,
        "names_only": holding.names_only,
        "other_rules": [rule_dict(rule) for rule, _ in holding.others],
    }


def holding_note(holding: Holding) -> str:
    notes = []
    if holding.capability.id == FULL_ACCESS.id:
        notes.append("implies every other capability")
    if holding.default:
        notes.append("Kubernetes default")
    if holding.names_only:
        notes.append("named objects only")
    return ", ".join(notes)


def errors_list(errors: Sequence[InputError]) -> list[dict[str, Any]]:
    return [{"file": e.file, "line": e.line, "message": e.message} for e in errors]


# --- writers ----------------------------------------------------------------------------------------


def write_document(doc: Mapping[str, Any], output_format: RbacFormat) -> None:
    """The document as JSON (indented) or YAML (keys in document order) on stdout."""
    if output_format is RbacFormat.YAML:
        whole = _materialised(doc)
        typer.echo(yaml.safe_dump(whole, sort_keys=False, allow_unicode=True), nl=False)
    else:
        stream_json(doc, sys.stdout.write)


def stream_json(doc: Mapping[str, Any], write: Callable[[str], object]) -> None:
    """``doc`` written piece by piece as ``json.dumps(doc, indent=2, ensure_ascii=False)`` writes it
    whole, where any list may be an iterator (a view's holdings made one at a time): the text is
    never in memory at once, nor every dict of a large view."""
    _stream(doc, write, "")
    write("\n")


def _materialised(value: Any) -> Any:
    """``value`` with every iterator in it made a list (YAML is written whole)."""
    if isinstance(value, Mapping):
        return {key: _materialised(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, Iterator)):
        return [_materialised(item) for item in value]
    return value


def _stream(value: Any, write: Callable[[str], object], indent: str) -> None:
    """Dicts and lists are opened here; an iterator's items are each dumped whole (re-indented)."""
    inner = indent + "  "
    if isinstance(value, Mapping):
        items: Iterator[Any] = iter(value.items())
        opening, closing = "{", "}"
    elif isinstance(value, (list, tuple, Iterator)):
        items = iter(value)
        opening, closing = "[", "]"
    else:
        write(json.dumps(value, ensure_ascii=False))
        return
    first = True
    for item in items:
        write(f"{opening}\n{inner}" if first else f",\n{inner}")
        first = False
        if isinstance(value, Mapping):
            key, element = item
            write(json.dumps(key, ensure_ascii=False) + ": ")
            _stream(element, write, inner)
        elif isinstance(value, Iterator):
            # JSON escapes a newline in a string, so every newline here is the layout's
            write(json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n" + inner))
        else:
            _stream(item, write, inner)
    write(f"{opening}{closing}" if first else f"\n{indent}{closing}")


def print_table(
    console: Console,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[int] | None = None,
) -> None:
    """A plain table (``plain_tables``) as wide as ``console``: no markup, no trailing blanks;
    one line per cell, with any control character (a subject's name is whatever the binding says,
    newlines included) written out by ``visible``. ``widths`` (``table_widths``) when several
    tables of one view are sized alike."""
    shown = [[visible(cell) for cell in row] for row in rows]
    console.file.write(render_table(headers, shown, console.width, widths))


def table_widths(
    console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]]
) -> list[int] | None:
    """Column widths for ``print_table`` fitted to the rows of every section of a view, so each
    section's table has the same columns; None when that would fold a word some section alone
    would keep whole (``plain_tables.shared_widths``)."""
    shown = [[visible(cell) for cell in row] for row in rows]
    return shared_widths(headers, shown, console.width)


def print_wrapped(console: Console, text: str, indent: int = 0, hanging: int = 0) -> None:
    """``text`` wrapped at spaces (then after ``/``, ``:``, ``-``) to ``console``'s width, indented
    by ``indent`` spaces and the lines after the first by ``hanging`` more, so a wrapped item
    reads as one block."""
    text = visible(text)
    first = wrap_cell(text, max(console.width - indent, 1))[0] if text else ""
    lines = [first]
    rest = text[len(first) :].strip() if text else ""
    if rest:
        lines += [
            " " * hanging + line for line in wrap_cell(rest, console.width - indent - hanging)
        ]
    console.file.write("".join(f"{' ' * indent}{line}".rstrip() + "\n" for line in lines))


def dot_quote(text: str) -> str:
    """A Graphviz quoted string: backslashes and double quotes escaped, newlines as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'


SEVERITY_COLOURS = {
    "critical": "red3",
    "high": "orangered",
    "medium": "orange",
    "low": "gold",
    "info": "grey60",
}


@dataclass
class DotGraph:
    """A directed graph built node by node; ``render`` writes it as Graphviz ``dot`` text."""

    name: str
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], None] = field(default_factory=dict)

    def node(self, node_id: str, label: str, **attributes: str) -> str:
        """A node labelled ``label`` (as ``short_label`` shortens it), once per ``node_id``."""
        if node_id not in self.nodes:
            self.nodes[node_id] = {"label": short_label(label), **attributes}
        return node_id

    def edge(self, tail: str, head: str, label: str = "") -> None:
        """An edge labelled ``label`` (as ``short_label`` shortens it), once per the three."""
        self.edges.setdefault((tail, head, short_label(label) if label else ""), None)

    def render(self) -> str:
        lines = [
            f"digraph {dot_quote(self.name)} {{",
            "  rankdir=LR;",
            '  node [fontname="Helvetica", fontsize=10];',
            '  edge [fontname="Helvetica", fontsize=9];',
        ]
        for node_id, attributes in self.nodes.items():
            attrs = ", ".join(f"{key}={dot_quote(value)}" for key, value in attributes.items())
            lines.append(f"  {dot_quote(node_id)} [{attrs}];")
        for tail, head, label in self.edges:
            suffix = f" [label={dot_quote(label)}]" if label else ""
            lines.append(f"  {dot_quote(tail)} -> {dot_quote(head)}{suffix};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    # --- the nodes every view draws ---------------------------------------------------------------

    def subject_node(self, subject: Subject, default: bool = False) -> str:
        """A subject, ``(Kubernetes default)`` under its name when ``default``, as tables mark it."""
        return self.node(
            f"subject:{subject.kind}:{subject.namespace}:{subject.name}",
            subject_text(subject) + ("\n(Kubernetes default)" if default else ""),
            shape="box",
            style="rounded",
        )

    def binding_node(self, binding: K8sObject) -> str:
        ref = binding.ref
        return self.node(
            f"binding:{ref.kind}:{ref.namespace}:{ref.name}", binding_text(binding), shape="ellipse"
        )

    def role_node(self, role: BoundRole) -> str:
        return self.node(
            f"role:{role.kind}:{role.namespace}:{role.name}",
            role.display(),
            shape="box",
            style="filled",
            fillcolor="lightgrey",
        )

    def capability_node(self, capability: Capability) -> str:
        severity = capability.severity.value
        return self.node(
            f"capability:{capability.id}",
            f"{capability.id} ({severity})\n{capability.title}",
            shape="octagon",
            color=SEVERITY_COLOURS[severity],
        )

    def chain(self, granted: Granted, tail: str | None = None, default: bool = False) -> str:
        """subject → binding → role (or ``tail`` → binding → role); the role node's id. The
        subject is marked ``(Kubernetes default)`` when ``default``."""
        start = tail if tail is not None else self.subject_node(granted.subject, default)
        binding = self.binding_node(granted.binding)
        role = self.role_node(granted.role)
        self.edge(start, binding)
        self.edge(binding, role, "" if granted.scope == "cluster" else f"in {granted.scope}")
        return role

    def holding(self, holding: Holding, tail: str | None = None) -> None:
        """subject → binding → role → capability, the edge labelled with what the rule grants."""
        role = self.chain(holding, tail)
        label = holding.describe()
        if holding.default:
            label += "\n(Kubernetes default)"
        self.edge(role, self.capability_node(holding.capability), label)


LABEL_WIDTH = 40
LABEL_LINES = 3


LABEL_CUT = "… (-o json: in full)"


def short_label(text: str) -> str:
    """How every RBAC graph label reads: ``text``'s first line (a name, a rule, what a rule
    grants, a hop) wrapped in lines of ``LABEL_WIDTH``, past ``LABEL_LINES`` lines cut with where
    to read the rest (``LABEL_CUT``); the lines after it (a title, ``(Kubernetes default)``)
    wrapped and kept. Shortening a short label changes nothing."""
    first, *notes = text.splitlines() or [""]
    lines = wrap_cell(first, LABEL_WIDTH)
    if len(lines) > LABEL_LINES:
        lines = [*lines[:LABEL_LINES], LABEL_CUT]
    for note in notes:
        lines.extend(wrap_cell(note, LABEL_WIDTH))
    return "\n".join(lines)
