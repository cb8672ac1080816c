"""``kposture rbac workloads``: workloads whose ServiceAccount holds risky capabilities (the pod is
the foothold, its token the prize), with whether the token is mounted and what exposes the pods,
ranked as ``inventory.rbac_workloads.risky_workloads`` ranks them (mounted tokens first, then
severity × exposure). Capabilities a binding grants as full access are shown as that one line.
"""

from __future__ import annotations

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
    errors_list,
    holding_dict,
    ref_dict,
    simple_table,
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


def render_table(found: tuple[RiskyWorkload, ...]) -> None:
    console = report_console()
    if not found:
        console.print(
            "No workload runs as a ServiceAccount with risky capabilities.",
            highlight=False,
            markup=False,
        )
        return
    table = simple_table("WORKLOAD", "SERVICEACCOUNT", "TOKEN", "CAPABILITIES", "EXPOSURE", "SCORE")
    for w in found:
        ref = w.workload.ref
        token = "mounted" if w.token_mounted else f"not mounted (ranked lower): {w.token_reason}"
        exposure = "\n".join(exposure_text(e) for e in w.exposures) or "not exposed"
        table.add_row(
            escape(f"{ref.kind} {w.namespace}/{ref.name}"),
            escape(w.service_account),
            escape(token),
            escape("\n".join(_capability_line(h) for h in _held(w))),
            escape(exposure),
            str(w.score),
        )
    console.print(table)


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
    inputs = load_rbac_inputs(paths, cluster=cluster, kubeconfig=kubeconfig, context=context)
    found = risky_workloads(inputs.inventory, where)
    if output_format is RbacFormat.TABLE:
        render_table(found)
    elif output_format is RbacFormat.DOT:
        typer.echo(workloads_graph(found).render(), nl=False)
    else:
        doc = workloads_document(found, where)
        write_document({**doc, "errors": errors_list(inputs.errors)}, output_format)
    finish(inputs.errors)
