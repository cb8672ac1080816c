"""``kposture rbac can SUBJECT``: what one user, group or ServiceAccount can do, grouped by risk —
first the risky capabilities it holds (``inventory.rbac_permissions.capabilities_of``), then every
rule in force for it (``permissions``), cluster-wide first, then per namespace.

SUBJECT: ``alice`` or ``user:alice`` (a user, with ``--group`` groups and the implicit
``system:authenticated``, or ``system:unauthenticated`` for ``system:anonymous``), ``group:devs`` (what
members get through that group alone), ``system:serviceaccount:NS:NAME``, ``sa:NS/NAME``, or
``serviceaccount/NAME`` (``sa/NAME``) in the namespace of ``-n`` (else ``default``) — a
ServiceAccount with its implicit groups. ``-n NS`` also limits the answer to what is in force in NS
(cluster-wide grants included), as ``kubectl auth can-i --list -n NS`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from kposture.cli.consoles import report_console
from kposture.cli.rbac_inputs import (
    AllNamespaces,
    Cluster,
    Context,
    Kubeconfig,
    Output,
    Paths,
    finish,
    load_rbac_inputs,
    view_namespace,
)
from kposture.cli.rbac_output import (
    DotGraph,
    RbacFormat,
    errors_list,
    granted_dict,
    holding_dict,
    holding_note,
    policy_rule_text,
    print_table,
    print_wrapped,
    rule_origin_text,
    subject_text,
    via_text,
    write_document,
)
from kposture.cli.rbac_subject_notes import print_subject_notes
from kposture.cli.scanning import UsageError
from kposture.inventory.rbac import BUILTIN_PATH
from kposture.inventory.rbac_capabilities import Holding
from kposture.inventory.rbac_graph import Principal, service_account_user
from kposture.inventory.rbac_permissions import (
    Permission,
    capabilities_of,
    collapse_full_access,
    permissions,
)

CAN_SCHEMA = "kposture.rbac-can/v1"
_SA_PREFIX = "system:serviceaccount:"
_SA_KINDS = ("serviceaccount", "serviceaccounts", "sa")


@dataclass(frozen=True, slots=True)
class Asked:
    """The requester a SUBJECT argument names: its kind (User, Group, ServiceAccount), a display
    name, and the principal the authorizer would see."""

    kind: str
    name: str
    principal: Principal


def _service_account(namespace: str, name: str, given: str) -> Asked:
    if not namespace or not name or "/" in name or ":" in namespace:
        raise UsageError(f"SUBJECT {given!r}: a ServiceAccount needs a namespace and a name")
    return Asked(
        "ServiceAccount", f"{namespace}/{name}", Principal.of_service_account(namespace, name)
    )


def parse_subject(given: str, groups: list[str], namespace: str) -> Asked:
    """The requester SUBJECT names (see the module docstring); ``UsageError`` when it names none."""
    text = given.strip()
    if not text:
        raise UsageError("SUBJECT must not be empty")
    kind, sep, rest = text.partition("/")
    if sep and kind.lower() in _SA_KINDS:
        asked = _service_account(namespace or "default", rest, given)
    elif text.startswith("sa:"):
        ns, sep, name = text[3:].partition("/")
        asked = _service_account(ns if sep else namespace, name if sep else ns, given)
    elif text.startswith(_SA_PREFIX):
        ns, _, name = text[len(_SA_PREFIX) :].partition(":")
        asked = _service_account(ns, name, given)
    elif text.startswith("group:"):
        name = text[len("group:") :]
        if not name:
            raise UsageError(f"SUBJECT {given!r}: name the group")
        asked = Asked("Group", name, Principal("", frozenset({name})))
    else:
        name = text[len("user:") :] if text.startswith("user:") else text
        if not name:
            raise UsageError(f"SUBJECT {given!r}: name the user")
        return Asked("User", name, Principal.of_user(name, groups))
    if groups:
        raise UsageError("--group adds groups to a user only")
    return asked


def _principal_dict(asked: Asked, given: str) -> dict[str, Any]:
    principal = asked.principal
    return {
        "input": given,
        "kind": asked.kind,
        "name": asked.name,
        "user": principal.user,
        "groups": sorted(principal.groups),
    }


def can_document(
    asked: Asked,
    given: str,
    namespace: str,
    held: tuple[Holding, ...],
    rules: tuple[Permission, ...],
) -> dict[str, Any]:
    return {
        "schema": CAN_SCHEMA,
        "subject": _principal_dict(asked, given),
        "namespace": namespace or None,
        "capabilities": [holding_dict(h) for h in held],
        "permissions": [{**granted_dict(p), "text": policy_rule_text(p.rule.rule)} for p in rules],
    }


def _heading(asked: Asked, namespace: str) -> str:
    principal = asked.principal
    text = f"{asked.kind} {asked.name}"
    if asked.kind != "Group":
        text += f" (user {principal.user}; groups {', '.join(sorted(principal.groups))})"
    if namespace:
        text += f", in namespace {namespace} (cluster-wide grants included)"
    return text


def render_table(
    asked: Asked,
    namespace: str,
    held: tuple[Holding, ...],
    rules: tuple[Permission, ...],
    blind: bool = False,
) -> None:
    """The heading, then what the subject holds; nothing held is "No binding grants it anything"
    unless RBAC could not be read (``blind``: ``finish`` says it cannot be answered)."""
    console = report_console()
    print_wrapped(console, _heading(asked, namespace))
    if not rules:
        if not blind:
            print_wrapped(console, "No binding grants it anything.")
        return
    console.file.write("\n")
    if held:
        print_wrapped(console, f"Risky capabilities ({len(held)}):")
        rows = [
            (
                holding.capability.id,
                holding.capability.severity.value,
                holding.scope,
                _via(holding, asked),
                holding.describe(),
                holding_note(holding),
            )
            for holding in held
        ]
        print_table(console, ("CAPABILITY", "SEVERITY", "SCOPE", "VIA", "GRANTS", "NOTE"), rows)
    else:
        print_wrapped(console, "Risky capabilities: none.")
    count = f"{len(rules)} rule{'s' if len(rules) != 1 else ''} in force"
    print_wrapped(console, f"Permissions ({count}):")
    permission_rows = [
        (
            permission.scope,
            _via(permission, asked),
            policy_rule_text(permission.rule.rule),
            rule_origin_text(permission.rule),
        )
        for permission in rules
    ]
    print_table(console, ("SCOPE", "VIA", "RULE", "ORIGIN"), permission_rows)


def _is_requester(granted: Holding | Permission, asked: Asked) -> bool:
    subject = granted.subject
    if subject.kind == "ServiceAccount":
        return service_account_user(subject.namespace, subject.name) == asked.principal.user
    return subject.kind == asked.kind and subject.name == asked.name


def _via(granted: Holding | Permission, asked: Asked) -> str:
    """The binding and role, and the subject the requester matched when it is not itself (a group
    it belongs to)."""
    via = via_text(granted)
    return via if _is_requester(granted, asked) else f"{via} (as {subject_text(granted.subject)})"


def can_graph(asked: Asked, held: tuple[Holding, ...], rules: tuple[Permission, ...]) -> DotGraph:
    """The requester → (a group it is in) → binding → role → its rules and capabilities."""
    graph = DotGraph("can")
    start = graph.node("requester", f"{asked.kind} {asked.name}", shape="box", style="rounded,bold")

    def tail(granted: Holding | Permission) -> str:
        if _is_requester(granted, asked):
            return start
        group = graph.subject_node(granted.subject)
        graph.edge(start, group, "member of")
        return group

    for permission in rules:
        role = graph.chain(permission, tail(permission))
        rule = permission.rule
        builtin = "builtin" if rule.path == BUILTIN_PATH else "written"
        origin = rule.origin
        rule_id = f"rule:{builtin}:{origin.kind}:{origin.namespace}:{origin.name}:{rule.index}"
        graph.edge(role, graph.node(rule_id, policy_rule_text(rule.rule), shape="note"))
    for holding in held:
        graph.holding(holding, tail(holding))
    return graph


Subject = Annotated[
    str,
    typer.Argument(
        help="alice | user:NAME | group:NAME | system:serviceaccount:NS:NAME | sa:NS/NAME | "
        "serviceaccount/NAME (namespace from -n)."
    ),
]


def can_command(
    subject: Subject,
    paths: Paths = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", help="A group the user is in (repeatable).", show_default=False),
    ] = None,
    namespace: Annotated[
        str,
        typer.Option(
            "-n",
            "--namespace",
            help="Only what is in force in this namespace (cluster-wide grants included); the "
            "namespace of serviceaccount/NAME.",
        ),
    ] = "",
    all_namespaces: AllNamespaces = False,
    cluster: Cluster = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output_format: Output = RbacFormat.TABLE,
) -> None:
    """What a user, group or ServiceAccount can do, grouped by risk: the risky capabilities it
    holds (read Secrets, exec, create workloads, escalate/bind/impersonate...), then every rule in
    force for it, cluster-wide first, then per namespace.

    Exit codes: 0 answered; 2 usage error, or an input that could not be read.
    """
    where = view_namespace(namespace, all_namespaces)
    parsed: list[Asked] = []
    inputs = load_rbac_inputs(
        paths,
        cluster=cluster,
        kubeconfig=kubeconfig,
        context=context,
        namespaces=[where] if where else None,
        check=lambda: parsed.append(parse_subject(subject, list(group or []), where)),
    )
    asked = parsed[0]
    held = collapse_full_access(capabilities_of(inputs.inventory, asked.principal, where))
    rules = permissions(inputs.inventory, asked.principal, where)
    if output_format is RbacFormat.TABLE:
        render_table(asked, where, held, rules, blind=bool(inputs.unlisted))
    elif output_format is RbacFormat.DOT:
        typer.echo(can_graph(asked, held, rules).render(), nl=False)
    else:
        doc = can_document(asked, subject, where, held, rules)
        write_document({**doc, "errors": errors_list(inputs.errors)}, output_format)
    print_subject_notes(
        inputs.inventory, asked.kind, asked.name, "can", bindings_read=inputs.bindings_read
    )
    finish(inputs.errors, output_format, answered=bool(rules))
