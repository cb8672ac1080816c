"""``kposture rbac workloads``: workloads whose ServiceAccount holds risky capabilities (the pod is
the foothold, its token the prize), with whether the token is mounted and what exposes the pods,
ranked as ``inventory.rbac_workloads.risky_workloads`` ranks them (mounted tokens first, then
severity × exposure). Capabilities a binding grants as full access are shown as that one line.

The table is printed only when the terminal is wide enough for every column to hold its longest
word, a workload, Service or binding name (``column_widths``): an 80- or 100-column terminal would
fold those names mid-word, so it gets one block per workload instead, a heading line and labelled
lines that wrap under their label.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from kposture.cli.consoles import report_console
from kposture.cli.plain_tables import render_table as render_plain_table
from kposture.cli.plain_tables import shared_out, wrap_cell
from kposture.cli.rbac_coverage import EXPOSURE_READS
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
    holding_dict,
    print_wrapped,
    ref_dict,
    subject_text,
    write_document,
)
from kposture.inventory.rbac_capabilities import Holding
from kposture.inventory.rbac_permissions import collapse_full_access
from kposture.inventory.rbac_workloads import Exposure, RiskyWorkload, risky_workloads

WORKLOADS_SCHEMA = "kposture.rbac-workloads/v1"


def exposure_text(exposure: Exposure) -> str:
    if exposure.kind == "Ingress":
        return f"Ingress {exposure.name} ({exposure.route})"
    mark = " (external)" if exposure.external else ""
    return f"Service {exposure.name} {exposure.type}{mark}"


def _exposure_dict(exposure: Exposure) -> dict[str, Any]:
    return {
        **ref_dict(exposure.kind, exposure.namespace, exposure.name),
        "type": exposure.type,
        "external": exposure.external,
        "route": exposure.route or None,
    }


def _held(found: RiskyWorkload) -> tuple[Holding, ...]:
    return collapse_full_access(found.holdings)


def workloads_document(found: tuple[RiskyWorkload, ...], namespace: str) -> dict[str, Any]:
    return {
        "schema": WORKLOADS_SCHEMA,
        "namespace": namespace or None,
        "workloads": [
            {
                "workload": ref_dict(
                    w.workload.ref.kind, w.workload.ref.namespace, w.workload.ref.name
                ),
                "namespace": w.namespace,
                "service_account": {"namespace": w.namespace, "name": w.service_account},
                "token": {"mounted": w.token_mounted, "reason": w.token_reason},
                "severity": w.severity.value,
                "score": w.score,
                "exposure": [_exposure_dict(e) for e in w.exposures],
                "capabilities": [holding_dict(h) for h in _held(w)],
            }
            for w in found
        ],
    }


COLUMNS = ("WORKLOAD", "SERVICEACCOUNT", "TOKEN", "CAPABILITIES", "EXPOSURE", "SCORE")


def _capability_line(holding: Holding) -> str:
    """``read-secrets (high) in shop via RoleBinding readers``: the namespace of a RoleBinding is its
    scope, and ``rbac can`` or JSON give the role and rule."""
    scope = "cluster-wide" if holding.scope == "cluster" else f"in {holding.scope}"
    binding = holding.binding.ref
    text = f"{holding.capability.id} ({holding.capability.severity.value}) {scope}"
    text += f" via {binding.kind} {binding.name}"
    if holding.subject.kind == "Group":
        text += f" (as {subject_text(holding.subject)})"
    return text + (", Kubernetes default" if holding.default else "")


def _token_text(w: RiskyWorkload) -> str:
    return "mounted" if w.token_mounted else f"not mounted (ranked lower): {w.token_reason}"


def _exposure_lines(w: RiskyWorkload) -> list[str]:
    return [exposure_text(e) for e in w.exposures] or ["not exposed"]


def _rows(found: tuple[RiskyWorkload, ...]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for w in found:
        ref = w.workload.ref
        rows.append(
            (
                f"{ref.kind} {w.namespace}/{ref.name}",
                w.service_account,
                _token_text(w),
                "\n".join(_capability_line(h) for h in _held(w)),
                "\n".join(_exposure_lines(w)),
                str(w.score),
            )
        )
    return rows


def column_widths(rows: list[tuple[str, ...]], headers: tuple[str, ...], width: int) -> list[int]:
    """The width of each column in a table ``width`` wide, or [] when some column cannot hold its
    longest word (a name would be folded mid-word). Columns get their longest line when all fit;
    else their longest word plus shares of what is left, in proportion to what they lack."""
    columns = [(header, *(row[i] for row in rows)) for i, header in enumerate(headers)]
    lines = [[line for text in cells for line in text.splitlines()] for cells in columns]
    longest = [max(len(line) for line in found) for found in lines]
    words = [max(len(word) for line in found for word in line.split()) for found in lines]
    # box.SIMPLE without edges: a space of padding each side of a column, one between columns.
    room = width - 3 * len(headers) + 1
    if sum(words) > room:
        return []
    if sum(longest) <= room:
        return longest
    return shared_out(words, longest, room)


def render_table(found: tuple[RiskyWorkload, ...], blind: bool = False) -> None:
    """A table of the workloads found (blocks on a narrow terminal); none found is said unless
    RBAC could not be read (``blind``: ``finish`` says it cannot be answered)."""
    console = report_console()
    if not found:
        if blind:
            return
        console.print(
            "No workload runs as a ServiceAccount with risky capabilities.",
            highlight=False,
            markup=False,
        )
        return
    rows = _rows(found)
    widths = column_widths(rows, COLUMNS, console.width)
    if not widths:
        render_blocks(found, console)
        return
    # At least as wide as its longest word, a column wraps between words, never inside one.
    console.file.write(render_plain_table(COLUMNS, rows, console.width, widths))


LABEL_WIDTH = len("ServiceAccount")


def render_blocks(found: tuple[RiskyWorkload, ...], console: Console) -> None:
    """One block per workload, for a narrow terminal: ``Deployment shop/web (score 15)``, then
    its ServiceAccount and token, capabilities and exposure, each wrapping under its label."""
    indent = 3 + LABEL_WIDTH + 1
    for w in found:
        ref = w.workload.ref
        print_wrapped(console, f"{ref.kind} {w.namespace}/{ref.name} (score {w.score})")
        for label, lines in (
            ("ServiceAccount", [w.service_account]),
            ("Token", [_token_text(w)]),
            ("Capabilities", [_capability_line(h) for h in _held(w)]),
            ("Exposure", _exposure_lines(w)),
        ):
            for number, line in enumerate(lines):
                wrapped = wrap_cell(line, max(console.width - indent, 1))
                shown = label if number == 0 else ""
                console.file.write(f"   {shown:<{LABEL_WIDTH}} {wrapped[0]}".rstrip() + "\n")
                console.file.write("".join(f"{' ' * indent}{more}\n" for more in wrapped[1:]))


def workloads_graph(found: tuple[RiskyWorkload, ...]) -> DotGraph:
    """Service/Ingress → workload → ServiceAccount → binding → role → capability."""
    graph = DotGraph("workloads")
    for w in found:
        ref = w.workload.ref
        workload = graph.node(
            f"workload:{ref.kind}:{w.namespace}:{ref.name}",
            f"{ref.kind} {w.namespace}/{ref.name}",
            shape="component",
        )
        for exposure in w.exposures:
            if exposure.kind == "Ingress":
                continue
            service = graph.node(
                f"service:{exposure.namespace}:{exposure.name}",
                exposure_text(exposure),
                shape="cds",
                color="red3" if exposure.external else "black",
            )
            graph.edge(service, workload)
        for exposure in w.exposures:
            if exposure.kind != "Ingress":
                continue
            ingress = graph.node(
                f"ingress:{exposure.namespace}:{exposure.name}",
                f"Ingress {exposure.namespace}/{exposure.name}",
                shape="cds",
                color="red3",
            )
            service_name = exposure.route.rpartition(" -> ")[2]
            graph.edge(ingress, f"service:{exposure.namespace}:{service_name}", exposure.route)
        account = graph.node(
            f"subject:ServiceAccount:{w.namespace}:{w.service_account}",
            f"ServiceAccount {w.namespace}/{w.service_account}",
            shape="box",
            style="rounded",
        )
        graph.edge(workload, account, "token mounted" if w.token_mounted else "token not mounted")
        for holding in _held(w):
            tail = account
            if holding.subject.kind == "Group":
                tail = graph.subject_node(holding.subject)
                graph.edge(account, tail, "member of")
            graph.holding(holding, tail)
    return graph


def workloads_command(
    paths: Paths = None,
    namespace: Annotated[
        str, typer.Option("-n", "--namespace", help="Only the workloads of this namespace.")
    ] = "",
    all_namespaces: AllNamespaces = False,
    cluster: Cluster = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output_format: Output = RbacFormat.TABLE,
) -> None:
    """Workloads whose ServiceAccount holds risky capabilities (directly or through its groups),
    whether the token is mounted, and the Services and Ingresses that reach them, ranked by
    severity and exposure.

    Exit codes: 0 answered; 2 usage error, or an input that could not be read.
    """
    where = view_namespace(namespace, all_namespaces)
    # Every namespace is read: a RoleBinding elsewhere may name the workload's ServiceAccount.
    inputs = load_rbac_inputs(
        paths,
        cluster=cluster,
        kubeconfig=kubeconfig,
        context=context,
        reads=EXPOSURE_READS,
        namespace=where,
    )
    found = risky_workloads(inputs.inventory, where)
    if output_format is RbacFormat.TABLE:
        render_table(found, blind=bool(inputs.unlisted))
    elif output_format is RbacFormat.DOT:
        typer.echo(workloads_graph(found).render(), nl=False)
    else:
        doc = workloads_document(found, where)
        write_document({**doc, "errors": errors_list(inputs.errors)}, output_format)
    finish(inputs.errors, output_format, answered=bool(found))
