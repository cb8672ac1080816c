"""``kposture rbac risky``: the explorer view. For each risky capability of the catalogue
(``inventory.rbac_capabilities``, in catalogue order) the subjects that hold it, cluster-wide first,
then per namespace, with a summary (how many subjects, in how many namespaces).

Kubernetes' own holdings (a default binding naming a control-plane identity, see
``Holding.default``) are hidden unless ``--include-defaults``, and the count of hidden ones is said,
so a clean cluster shows nothing to fix. ``-n NS`` keeps the holdings in force in NS (RoleBindings
of NS and every ClusterRoleBinding); ``--capability ID`` (repeatable) picks capabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.markup import escape

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
    simple_table,
    subject_text,
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


@dataclass(frozen=True, slots=True)
class CapabilityView:
    """The holdings of one capability shown, and how many Kubernetes defaults were hidden."""

    capability: Capability
    shown: tuple[Holding, ...]
    hidden_defaults: int

    @property
    def subjects(self) -> int:
        return len({(h.subject.kind, h.subject.namespace, h.subject.name) for h in self.shown})

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(sorted({h.scope for h in self.shown if h.scope != CLUSTER}))

    @property
    def cluster_wide(self) -> int:
        return sum(1 for h in self.shown if h.scope == CLUSTER)

    def summary(self) -> str:
        subjects = self.subjects
        if not subjects:
            text = "no subject"
            if self.hidden_defaults:
                text += f" but Kubernetes' own ({self.hidden_defaults} hidden: --include-defaults)"
            return text
        text = f"{subjects} subject{'s' if subjects != 1 else ''}"
        text += f", {self.cluster_wide} cluster-wide" if self.cluster_wide else ""
        count = len(self.namespaces)
        text += f", {count} namespace{'s' if count != 1 else ''}"
        if self.hidden_defaults:
            text += f"; {self.hidden_defaults} Kubernetes defaults hidden (--include-defaults)"
        return text


def capability_views(
    inventory: Inventory,
    capabilities: tuple[Capability, ...],
    namespace: str,
    include_defaults: bool,
) -> tuple[CapabilityView, ...]:
    views = []
    for capability in capabilities:
        found = [h for h in holders(inventory, capability) if in_force(h.scope, namespace)]
        shown = tuple(h for h in found if include_defaults or not h.default)
        views.append(CapabilityView(capability, shown, len(found) - len(shown)))
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
                "summary": {
                    "subjects": view.subjects,
                    "cluster_wide": view.cluster_wide,
                    "namespaces": list(view.namespaces),
                    "defaults_hidden": view.hidden_defaults,
                },
                "holders": [holding_dict(h) for h in view.shown],
            }
            for view in views
        ],
    }


def _grants(holding: Holding, full: frozenset[int]) -> str:
    if holding.capability is not FULL_ACCESS and id(holding.binding) in full:
        return "full access (see full-access)"
    return holding.describe()


def render_table(views: tuple[CapabilityView, ...], full: frozenset[int]) -> None:
    """One section per capability; a binding that grants full access is named as such instead of
    spelling out what its wildcard covers, capability after capability."""
    console = report_console()
    for view in views:
        capability = view.capability
        console.print(
            f"{capability.id} ({capability.severity.value}): {capability.title} — {view.summary()}",
            highlight=False,
            markup=False,
        )
        if view.shown:
            table = simple_table("SUBJECT", "SCOPE", "VIA", "GRANTS", "NOTE")
            for holding in view.shown:
                table.add_row(
                    escape(subject_text(holding.subject)),
                    escape(holding.scope),
                    escape(via_text(holding)),
                    escape(_grants(holding, full)),
                    escape(holding_note(holding)),
                )
            console.print(table)
        else:
            console.print()


def risky_graph(views: tuple[CapabilityView, ...]) -> DotGraph:
    """subjects → bindings → roles → capability, for every capability shown."""
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
    if output_format is RbacFormat.TABLE:
        full = frozenset(id(h.binding) for h in holders(inputs.inventory, FULL_ACCESS))
        render_table(views, full)
    elif output_format is RbacFormat.DOT:
        typer.echo(risky_graph(views).render(), nl=False)
    else:
        doc = risky_document(views, where, include_defaults)
        write_document({**doc, "errors": errors_list(inputs.errors)}, output_format)
    finish(inputs.errors)
