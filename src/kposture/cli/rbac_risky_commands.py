"""``kposture rbac risky``: the explorer view. For each risky capability of the catalogue
(``inventory.rbac_capabilities``, in catalogue order) the subjects that hold it, cluster-wide first,
then per namespace, with a summary (``Summary``: how many subjects, cluster-wide and in how many
namespaces, through full access, and how many of Kubernetes' own were hidden), worded and counted
the same in the table and in JSON/YAML (``summary.text``).

Subjects that hold a capability through a binding of full access (cluster-admin or equal) are one
line of the table under every other capability, ``through full access (see full-access): N
subjects: ...``, instead of a row each under every capability; JSON/YAML list every holding.
Kubernetes' own holdings (a default binding naming a control-plane identity, see
``Holding.default``) are hidden unless ``--include-defaults``, and the count of hidden subjects is
said, so a clean cluster shows nothing to fix. ``-n NS`` keeps the holdings in force in NS
(RoleBindings of NS and every ClusterRoleBinding); ``--capability ID`` (repeatable) picks
capabilities.
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
    capability_dict,
    errors_list,
    holding_dict,
    holding_note,
    print_table,
    print_wrapped,
    subject_text,
    table_widths,
    via_text,
    write_document,
)
from kposture.cli.scanning import UsageError
from kposture.inventory import Inventory
from kposture.inventory.rbac_capabilities import (
    BY_ID,
    CAPABILITIES,
    CLUSTER,
    FULL_ACCESS,
    Capability,
    Holding,
    holders,
)
from kposture.inventory.rbac_permissions import in_force

RISKY_SCHEMA = "kposture.rbac-risky/v1"


FULL_ACCESS_NAMES = 6
"""How many subjects the table's full-access line names before ``and N more``."""


def _subject_key(holding: Holding) -> tuple[str, str, str]:
    return (holding.subject.kind, holding.subject.namespace, holding.subject.name)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Summary:
    """The counts of one capability's section, all of distinct subjects (a subject bound twice
    counts once): shown in all, holding it cluster-wide, holding it through RoleBindings (in how
    many ``namespaces``), through a binding of full access, and hidden as Kubernetes' own."""

    subjects: int
    cluster_wide: int
    namespaced: int
    namespaces: tuple[str, ...]
    full_access: int
    defaults_hidden: int

    def text(self) -> str:
        """``3 subjects: 2 cluster-wide, 1 in 1 namespace; 2 through full access``."""
        hidden = self.defaults_hidden
        if not self.subjects:
            text = "no subject"
            return text + (
                f" but Kubernetes' own ({hidden} hidden: --include-defaults)" if hidden else ""
            )
        parts = [f"{self.cluster_wide} cluster-wide"] if self.cluster_wide else []
        if self.namespaced:
            parts.append(f"{self.namespaced} in {_count(len(self.namespaces), 'namespace')}")
        text = f"{_count(self.subjects, 'subject')}: {', '.join(parts)}"
        if self.full_access:
            text += f"; {self.full_access} through full access"
        if hidden:
            text += f"; {hidden} of Kubernetes' own hidden (--include-defaults)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "subjects": self.subjects,
            "cluster_wide": self.cluster_wide,
            "namespaced": self.namespaced,
            "namespaces": list(self.namespaces),
            "full_access": self.full_access,
            "defaults_hidden": self.defaults_hidden,
            "text": self.text(),
        }


@dataclass(frozen=True, slots=True)
class CapabilityView:
    """The holdings of one capability shown, the Kubernetes defaults hidden, and the bindings
    (by identity) that grant full access, whose holdings the table collapses into one line."""

    capability: Capability
    shown: tuple[Holding, ...]
    hidden: tuple[Holding, ...]
    full_bindings: frozenset[int] = frozenset()

    @property
    def through_full_access(self) -> tuple[Holding, ...]:
        """The holdings shown that come from a binding of full access (none for full-access)."""
        if self.capability is FULL_ACCESS:
            return ()
        return tuple(h for h in self.shown if id(h.binding) in self.full_bindings)

    @property
    def listed(self) -> tuple[Holding, ...]:
        """The holdings the table lists one per row: the others."""
        collapsed = {id(h) for h in self.through_full_access}
        return tuple(h for h in self.shown if id(h) not in collapsed)

    def summary(self) -> Summary:
        shown = {_subject_key(h) for h in self.shown}
        return Summary(
            subjects=len(shown),
            cluster_wide=len({_subject_key(h) for h in self.shown if h.scope == CLUSTER}),
            namespaced=len({_subject_key(h) for h in self.shown if h.scope != CLUSTER}),
            namespaces=tuple(sorted({h.scope for h in self.shown if h.scope != CLUSTER})),
            full_access=len({_subject_key(h) for h in self.through_full_access}),
            defaults_hidden=len({_subject_key(h) for h in self.hidden} - shown),
        )


def capability_views(
    inventory: Inventory,
    capabilities: tuple[Capability, ...],
    namespace: str,
    include_defaults: bool,
) -> tuple[CapabilityView, ...]:
    full = frozenset(id(h.binding) for h in holders(inventory, FULL_ACCESS))
    views = []
    for capability in capabilities:
        found = [h for h in holders(inventory, capability) if in_force(h.scope, namespace)]
        shown = tuple(h for h in found if include_defaults or not h.default)
        hidden = tuple(h for h in found if not include_defaults and h.default)
        views.append(CapabilityView(capability, shown, hidden, full))
    return tuple(views)


def _selected(ids: list[str]) -> tuple[Capability, ...]:
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        known = ", ".join(BY_ID)
        raise UsageError(f"unknown capability {', '.join(unknown)} (one of: {known})")
    return tuple(c for c in CAPABILITIES if c.id in ids) if ids else CAPABILITIES


def risky_document(
    views: tuple[CapabilityView, ...], namespace: str, include_defaults: bool
) -> dict[str, Any]:
    return {
        "schema": RISKY_SCHEMA,
        "namespace": namespace or None,
        "include_defaults": include_defaults,
        "capabilities": [
            {
                **capability_dict(view.capability),
                "impact": view.capability.impact,
                "summary": view.summary().to_dict(),
                # one holding's dict at a time when written as JSON (YAML lists them)
                "holders": (holding_dict(h) for h in view.shown),
            }
            for view in views
        ],
    }


def full_access_line(view: CapabilityView) -> str:
    """``through full access (see full-access): 2 subjects: User a, Group b``, or ""."""
    holdings = view.through_full_access
    if not holdings:
        return ""
    names = []
    for holding in holdings:
        name = subject_text(holding.subject) + (" (Kubernetes default)" if holding.default else "")
        if name not in names:
            names.append(name)
    shown = ", ".join(names[:FULL_ACCESS_NAMES])
    if len(names) > FULL_ACCESS_NAMES:
        shown += f" and {len(names) - FULL_ACCESS_NAMES} more (-o json lists them)"
    return f"through full access (see full-access): {_count(len(names), 'subject')}: {shown}"


ROWS_SHOWN = 25
"""How many rows the table lists per capability unless ``--limit N`` or ``--all``."""


def more_rows_line(hidden: int) -> str:
    """What the table left out of a section, and how to see it."""
    return (
        f"… {_count(hidden, 'more row')} not shown: --all lists every row, --limit N the first N "
        "(-o json lists every holding)"
    )


HEADERS = ("SUBJECT", "SCOPE", "VIA", "GRANTS", "NOTE")


def _row(holding: Holding) -> tuple[str, ...]:
    return (
        subject_text(holding.subject),
        holding.scope,
        via_text(holding),
        holding.describe(),
        holding_note(holding),
    )


def render_table(views: tuple[CapabilityView, ...], limit: int | None = ROWS_SHOWN) -> None:
    """One section per capability: its summary, the subjects holding it through full access in
    one line, then a row for every other holding, the first ``limit`` of them (None: all)."""
    console = report_console()
    sections = [[_row(holding) for holding in view.listed[:limit]] for view in views]
    # Every section's table has the same columns, sized for the rows of all of them.
    widths = table_widths(console, HEADERS, [row for rows in sections for row in rows])
    for view, rows in zip(views, sections, strict=True):
        capability = view.capability
        print_wrapped(
            console,
            f"{capability.id} ({capability.severity.value}): {capability.title} — "
            f"{view.summary().text()}",
        )
        line = full_access_line(view)
        if line:
            print_wrapped(console, line, indent=2)
        listed = view.listed
        if listed:
            print_table(console, HEADERS, rows, widths)
            if len(listed) > len(rows):
                print_wrapped(console, more_rows_line(len(listed) - len(rows)), indent=1)
        else:
            console.file.write("\n")


def risky_graph(views: tuple[CapabilityView, ...]) -> DotGraph:
    """A node per subject → its bindings → their roles → the capability, for every capability
    shown; the role → capability edges say what the rules grant in a few short lines."""
    graph = DotGraph("risky")
    for view in views:
        graph.capability_node(view.capability)
        for holding in view.shown:
            graph.holding(holding)
    return graph


def risky_command(
    paths: Paths = None,
    namespace: Annotated[
        str,
        typer.Option(
            "-n",
            "--namespace",
            help="Only holdings in force in this namespace (cluster-wide ones included).",
        ),
    ] = "",
    all_namespaces: AllNamespaces = False,
    capability: Annotated[
        list[str] | None,
        typer.Option(
            "--capability",
            help=f"Only this capability (repeatable): {', '.join(BY_ID)}.",
            show_default=False,
        ),
    ] = None,
    include_defaults: Annotated[
        bool,
        typer.Option(
            "--include-defaults",
            help="Also list Kubernetes' own holdings (default bindings of control-plane identities).",
        ),
    ] = False,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            min=1,
            help="Table rows per capability (JSON, YAML and dot have every holding).",
        ),
    ] = ROWS_SHOWN,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every row of every capability in the table.")
    ] = False,
    cluster: Cluster = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output_format: Output = RbacFormat.TABLE,
) -> None:
    """Who holds each risky capability — read Secrets, exec into pods, create workloads,
    escalate/bind, impersonate, nodes/proxy, approve CSRs, change webhooks, create tokens, create
    PersistentVolumes, full access — cluster-wide and per namespace, Kubernetes defaults marked.

    Exit codes: 0 answered; 2 usage error, or an input that could not be read.
    """
    where = view_namespace(namespace, all_namespaces)
    chosen: list[tuple[Capability, ...]] = []
    inputs = load_rbac_inputs(
        paths,
        cluster=cluster,
        kubeconfig=kubeconfig,
        context=context,
        namespaces=[where] if where else None,
        check=lambda: chosen.append(_selected(list(capability or []))),
    )
    views = capability_views(inputs.inventory, chosen[0], where, include_defaults)
    # With RBAC unreadable, "no subject" under every capability would be a definite answer.
    answered = any(view.summary().subjects or view.summary().defaults_hidden for view in views)
    blind = bool(inputs.unlisted) and not answered
    if output_format is RbacFormat.TABLE:
        if not blind:
            render_table(views, None if show_all else limit)
    elif output_format is RbacFormat.DOT:
        typer.echo(risky_graph(views).render(), nl=False)
    else:
        doc = risky_document(views, where, include_defaults)
        write_document({**doc, "errors": errors_list(inputs.errors)}, output_format)
    finish(inputs.errors, output_format, answered=answered)
