"""``kposture rbac paths [SUBJECT]``: escalation paths (``inventory.rbac_paths``), every hop with what
allows it — from one subject, or from every subject when none is named.

SUBJECT takes the forms of ``rbac can`` (``alice``, ``group:devs``, ``sa:NS/NAME``...). It may come
first among the positional arguments: a first argument that is neither ``-`` nor an existing file
or directory is the subject (``--subject`` says so explicitly). For a user or ServiceAccount the
paths of the groups it is in (``--group``, and the implicit ``system:authenticated`` and
ServiceAccount groups) are shown too: a member can walk them. Kubernetes' own identities have
paths by design; they are hidden unless ``--include-defaults``, and their number is said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from kposture.cli.consoles import error_console, report_console
from kposture.cli.rbac_can_commands import Asked, parse_subject
from kposture.cli.rbac_coverage import PATHS_READS
from kposture.cli.rbac_inputs import (
    Cluster,
    Context,
    Kubeconfig,
    Output,
    Paths,
    fail,
    finish,
    load_rbac_inputs,
)
from kposture.cli.rbac_output import (
    DotGraph,
    RbacFormat,
    capability_dict,
    errors_list,
    granted_dict,
    holding_dict,
    print_wrapped,
    ref_dict,
    write_document,
)
from kposture.cli.rbac_subject_notes import print_subject_notes
from kposture.cli.scanning import UsageError
from kposture.inventory.rbac_moves import Move, Node
from kposture.inventory.rbac_paths import (
    GOALS,
    EscalationPath,
    GoalHold,
    escalation_paths,
    held_goals,
)

PATHS_SCHEMA = "kposture.rbac-paths/v1"
GOAL_IDS = tuple(goal.id for goal in GOALS)


@dataclass(frozen=True, slots=True)
class Selection:
    """The paths shown, how many of Kubernetes' own were hidden, and (for a SUBJECT) the goals it
    already holds, whose paths are not shown: goal id -> how it holds it. ``own`` is the
    SUBJECT's own identity: a path from one of its groups is walked as a member."""

    shown: tuple[EscalationPath, ...]
    hidden_defaults: int
    held: dict[str, GoalHold] = field(default_factory=dict)
    own: Node | None = None


FILE_SUFFIXES = (".yaml", ".yml", ".json")
_SUBJECT_PREFIXES = ("sa:", "sa/", "serviceaccount/", "serviceaccounts/", "user:", "group:")


def looks_like_file(text: str) -> bool:
    """A name with a manifest suffix or a path separator (other than a SUBJECT form's slash,
    ``sa:NS/NAME``, ``serviceaccount/NAME``)."""
    lowered = text.lower()
    if lowered.endswith(FILE_SUFFIXES) or text.startswith(("./", "../", "/", "~")):
        return True
    return "/" in text and not lowered.startswith(_SUBJECT_PREFIXES)


def split_subject(args: list[str], subject: str | None) -> tuple[str | None, list[str]]:
    """The SUBJECT and the input paths among the positional arguments; a first argument that
    looks like a file name but does not exist is a usage error, not a subject."""
    if subject is not None or not args:
        return subject, args
    first = args[0]
    if first == "-" or Path(first).exists():
        return None, args
    if looks_like_file(first):
        raise UsageError(f"no such file: {first}")
    return first, args[1:]


def start_nodes(asked: Asked) -> tuple[Node, ...]:
    """The identity SUBJECT names and the groups it is in, whose paths it can walk."""
    if asked.kind == "ServiceAccount":
        namespace, _, name = asked.name.partition("/")
        own = Node("ServiceAccount", namespace, name)
    else:
        own = Node(asked.kind, "", asked.name)
    groups = sorted(Node("Group", "", g) for g in asked.principal.groups if g != asked.name)
    return (own, *groups)


def select(
    paths: tuple[EscalationPath, ...],
    starts: tuple[Node, ...] | None,
    goals: tuple[str, ...],
    include_defaults: bool,
    held: dict[str, GoalHold] | None = None,
) -> Selection:
    """The paths from ``starts`` (every start when None) to ``goals`` (every goal when empty),
    without those to a goal the subject already holds (``held``)."""
    held = {g: h for g, h in (held or {}).items() if not goals or g in goals}
    found = [
        p
        for p in paths
        if (starts is None or p.start in starts)
        and (not goals or p.goal.id in goals)
        and p.goal.id not in held
    ]
    if starts is not None:
        found.sort(key=lambda p: (starts.index(p.start), GOALS.index(p.goal)))
    shown = tuple(p for p in found if include_defaults or not p.default)
    own = starts[0] if starts else None
    return Selection(shown, len(found) - len(shown), held, own)


def _node_dict(node: Node) -> dict[str, str] | None:
    return ref_dict(node.kind, node.namespace, node.name) if node.is_identity else None


def _move_dict(move: Move) -> dict[str, Any]:
    return {
        "action": move.action,
        "target": _node_dict(move.target),
        "target_text": move.target.display(),
        "via": holding_dict(move.holding) if move.holding is not None else None,
        "needs": [
            {"request": need.what(), **granted_dict(need.access), "text": need.describe()}
            for need in move.needs
        ],
        "evidence": [ref_dict(ref.kind, ref.namespace, ref.name) for ref in move.evidence],
    }


def path_dict(path: EscalationPath, full: bool = False) -> dict[str, Any]:
    """One path; a long one's hops capped to the first and last ones (``hops_omitted`` says how
    many are left out) unless ``full``."""
    held = path.held.holding
    head, omitted, tail = path.shown_moves(full)
    return {
        "start": ref_dict(path.start.kind, path.start.namespace, path.start.name),
        "goal": capability_dict(path.goal),
        "default": path.default,
        "hop_count": path.hop_count,
        "hops_omitted": omitted,
        "hops": [_move_dict(move) for move in (*head, *tail) if move.action != "includes"],
        "reached": ref_dict(path.end.kind, path.end.namespace, path.end.name),
        "held": {"text": path.held.text, "via": holding_dict(held) if held else None},
        "summary": path.describe(full),
    }


def paths_document(selection: Selection, subject: str | None, full: bool = False) -> dict[str, Any]:
    return {
        "schema": PATHS_SCHEMA,
        "subject": subject,
        "defaults_hidden": selection.hidden_defaults,
        "already_held": [
            {
                "goal": capability_dict(goal),
                "text": hold.text,
                "via": holding_dict(hold.holding) if hold.holding else None,
            }
            for goal in GOALS
            if (hold := selection.held.get(goal.id)) is not None
        ],
        "paths": [path_dict(path, full) for path in selection.shown],
    }


def _start_text(path: EscalationPath, own: Node | None) -> str:
    """The path's start; for a SUBJECT walking one of its groups' paths, the SUBJECT as a member."""
    if own is None or path.start == own:
        return path.start.display()
    return f"{own.display()} (as a member of group {path.start.name})"


def _held_lines(selection: Selection) -> list[str]:
    if selection.own is None or not selection.held:
        return []
    full = selection.held.get("full-access")
    if full is not None:
        return [f"{selection.own.display()} already holds {full.text}."]
    return [
        f"{selection.own.display()} already holds {hold.text}."
        for goal in GOALS
        if (hold := selection.held.get(goal.id)) is not None
    ]


def render_table(
    selection: Selection, subject: str | None, full: bool = False, blind: bool = False
) -> None:
    """The goals held, each path with its hops, then their count; no path found is not said when
    RBAC could not be read (``blind``: ``finish`` says it cannot be answered)."""
    console = report_console()
    for line in _held_lines(selection):
        print_wrapped(console, line)
    if blind and not selection.shown and not selection.held:
        return
    if not selection.shown:
        text = f"No escalation path from {subject}." if subject else "No escalation path."
        if selection.held:
            text = f"No escalation path from {subject} to a goal it does not hold."
    else:
        count = len(selection.shown)
        text = f"{count} escalation path{'s' if count != 1 else ''}."
    if selection.hidden_defaults:
        text += (
            f" {selection.hidden_defaults} of Kubernetes' own identities hidden "
            "(--include-defaults)."
        )
    for number, path in enumerate(selection.shown, 1):
        severity = "critical" if path.goal.id == "full-access" else "high"
        hops = path.hop_count
        heading = (
            f"{number}. {_start_text(path, selection.own)} → {path.goal.title} ({severity}, "
            f"{hops} hop{'s' if hops != 1 else ''})"
            + (" (Kubernetes default)" if path.default else "")
        )
        # Wrapped lines of the heading and of each hop are indented under their text.
        print_wrapped(console, heading, hanging=len(f"{number}. "))
        for hop in path.hops(full):
            print_wrapped(console, f"- {hop}", indent=3, hanging=2)
        console.file.write("\n")
    print_wrapped(console, text)


def _dot_node(graph: DotGraph, node: Node) -> str:
    shape = "box" if node.is_identity else "note"
    return graph.node(f"node:{node.kind}:{node.namespace}:{node.name}", node.display(), shape=shape)


def paths_graph(selection: Selection, full: bool = False) -> DotGraph:
    """start → ... → the identity holding the goal → the goal, edges labelled with the action; a
    long path's middle hops (unless ``full``) as one "N more hops" node."""
    graph = DotGraph("escalation-paths")
    for path in selection.shown:
        first, omitted, last = path.shown_moves(full)
        tail = _dot_node(graph, path.start)
        for move in first:
            head = _dot_node(graph, move.target)
            graph.edge(tail, head, move.action)
            tail = head
        if omitted:
            gap = graph.node(
                f"gap:{path.start.kind}:{path.start.namespace}:{path.start.name}:{path.goal.id}",
                f"… {omitted} more hops …",
                shape="plaintext",
            )
            graph.edge(tail, gap, "")
            tail = gap
            for move in last:
                head = _dot_node(graph, move.target)
                graph.edge(tail, head, move.action)
                tail = head
        graph.edge(tail, graph.capability_node(path.goal), path.held.text)
    return graph


def paths_command(
    args: Paths = None,
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            help="Only paths from this subject (and its groups); as the first argument it may "
            "be given without the option.",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", help="A group the user is in (repeatable).", show_default=False),
    ] = None,
    namespace: Annotated[
        str,
        typer.Option("-n", "--namespace", help="The namespace of serviceaccount/NAME."),
    ] = "",
    goal: Annotated[
        list[str] | None,
        typer.Option(
            "--goal",
            help=f"Only this goal (repeatable): {', '.join(GOAL_IDS)}.",
            show_default=False,
        ),
    ] = None,
    include_defaults: Annotated[
        bool,
        typer.Option(
            "--include-defaults", help="Also list the paths of Kubernetes' own identities."
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Every hop of a long path (by default the first 4 and the last 2 are shown).",
        ),
    ] = False,
    cluster: Cluster = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output_format: Output = RbacFormat.TABLE,
) -> None:
    """Escalation paths: how a subject that does not hold full access (cluster-admin), admission
    webhook changes or every Secret gets there anyway — creating pods as a more powerful
    ServiceAccount, creating its token, reading its token Secret, exec into its pods, impersonation,
    binding roles, approving CSRs — with every hop and the binding and rule behind it. Usage:
    `kposture rbac paths [SUBJECT] [PATHS... | - | --cluster]`.

    Exit codes: 0 answered; 2 usage error, or an input that could not be read.
    """
    try:
        named, inputs_given = split_subject(list(args or []), subject)
    except UsageError as exc:
        fail(str(exc))
    asked: list[Asked] = []

    def check() -> None:
        unknown = [g for g in goal or [] if g not in GOAL_IDS]
        if unknown:
            raise UsageError(f"unknown goal {', '.join(unknown)} (one of: {', '.join(GOAL_IDS)})")
        if named is not None:
            if subject is None and not inputs_given and not cluster:
                raise UsageError(
                    "give manifest paths (- for stdin), a snapshot file, or --cluster "
                    f"({named} was read as the SUBJECT)"
                )
            asked.append(parse_subject(named, list(group or []), namespace))
        elif group:
            raise UsageError("--group needs a SUBJECT")

    def namespace_used() -> str:
        """-n only names the namespace of a ServiceAccount SUBJECT given without one."""
        sa = asked and asked[0].kind == "ServiceAccount"
        return namespace if sa and asked[0].name.startswith(f"{namespace}/") else ""

    inputs = load_rbac_inputs(
        inputs_given,
        cluster=cluster,
        kubeconfig=kubeconfig,
        context=context,
        check=check,
        reads=PATHS_READS,
        namespace=namespace_used,
    )
    if namespace and not (asked and asked[0].kind == "ServiceAccount"):
        ignored_for = f"{asked[0].kind} {asked[0].name}" if asked else "no SUBJECT"
        error_console().print(
            f"note: -n only applies to a ServiceAccount SUBJECT (sa:NAME, serviceaccount/NAME): "
            f"ignored for {ignored_for}",
            highlight=False,
            markup=False,
        )
    starts = start_nodes(asked[0]) if asked else None
    held = held_goals(inputs.inventory, asked[0].principal) if asked else {}
    selection = select(
        escalation_paths(inputs.inventory), starts, tuple(goal or ()), include_defaults, held
    )
    if output_format is RbacFormat.TABLE:
        shown = f"{asked[0].kind} {asked[0].name}" if asked else None
        render_table(selection, shown, full, blind=bool(inputs.unlisted))
    elif output_format is RbacFormat.DOT:
        typer.echo(paths_graph(selection, full).render(), nl=False)
    else:
        doc = paths_document(selection, named, full)
        write_document({**doc, "errors": errors_list(inputs.errors)}, output_format)
    if asked:
        print_subject_notes(
            inputs.inventory,
            asked[0].kind,
            asked[0].name,
            "paths",
            bindings_read=inputs.bindings_read,
        )
    finish(inputs.errors, output_format, answered=bool(selection.shown or selection.held))
