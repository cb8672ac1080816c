"""``kposture rbac``: questions to the RBAC graph over the same inputs as ``scan``: manifest paths,
``-`` for stdin, snapshots, or ``--cluster``. This module is the sub-app and its ``who-can`` view;
the other views live in their own modules (``rbac_can_commands``, ``rbac_risky_commands``,
``rbac_workloads_commands``) and are registered here. Shared inputs are in ``rbac_inputs``, shared
output (``-o table|json|yaml|dot``) in ``rbac_output``.

``who-can VERB RESOURCE``: every subject a request is allowed for, with the binding and role that
grant it. RESOURCE is kubectl's form, ``resource[.group][/subresource]`` (``pods/exec``,
``deployments.apps/scale``), or a non-resource URL starting with ``/``. Exit codes: 0 answered;
2 usage error or an input that could not be read (the answer covers everything else).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from kposture.cli.consoles import report_console
from kposture.cli.rbac_can_commands import can_command
from kposture.cli.rbac_inputs import (
    Cluster,
    Context,
    Kubeconfig,
    Output,
    Paths,
    finish,
    load_rbac_inputs,
)
from kposture.cli.rbac_output import (
    DotGraph,
    RbacFormat,
    errors_list,
    granted_dict,
    rule_origin_text,
    simple_table,
    via_text,
    write_document,
)
from kposture.cli.rbac_paths_commands import paths_command
from kposture.cli.rbac_risky_commands import risky_command
from kposture.cli.rbac_workloads_commands import workloads_command
from kposture.cli.scanning import UsageError
from kposture.inventory.rbac_graph import Access, Request, who_can
from kposture.inventory.rbac_scope import is_cluster_scoped, request_namespace

rbac_app = typer.Typer(
    help="Explore RBAC: who can do what.", no_args_is_help=True, rich_markup_mode=None
)

WHO_CAN_SCHEMA = "kposture.who-can/v1"


def parse_request(verb: str, resource: str, namespace: str, name: str) -> Request:
    """A ``Request`` from kubectl-style arguments; ``UsageError`` when they cannot be one."""
    verb = verb.strip().lower()
    if not verb:
        raise UsageError("VERB must not be empty")
    if resource.startswith("/"):
        if namespace or name:
            raise UsageError("a non-resource URL takes no -n/--namespace or --name")
        return Request(verb=verb, path=resource)
    base, _, subresource = resource.strip().lower().partition("/")
    plural, _, group = base.partition(".")
    if not plural or "/" in subresource:
        raise UsageError(f"RESOURCE {resource!r} is not resource[.group][/subresource]")
    if namespace and plural != "namespaces" and is_cluster_scoped(group, plural):
        raise UsageError(f"{plural} is cluster-scoped: drop -n/--namespace")
    carried = request_namespace(group, plural, namespace, name)
    if namespace and carried != namespace:
        raise UsageError(f"a request on the Namespace {name} is in namespace {name}: drop -n")
    namespace = carried
    return Request(
        verb=verb,
        resource=plural,
        group=group,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def request_to_dict(request: Request) -> dict[str, str]:
    if request.path:
        return {"verb": request.verb, "nonResourceURL": request.path}
    return {
        "verb": request.verb,
        "group": request.group,
        "resource": request.resource,
        "subresource": request.subresource,
        "namespace": request.namespace,
        "name": request.name,
    }


def access_to_dict(access: Access) -> dict[str, Any]:
    return granted_dict(access)


def render_table(found: list[Access]) -> None:
    console = report_console()
    if not found:
        console.print("No subject is allowed this request.", highlight=False, markup=False)
        return
    table = simple_table("KIND", "SUBJECT", "VIA", "SCOPE", "RULE")
    for access in found:
        subject = access.subject
        name = f"{subject.namespace}/{subject.name}" if subject.namespace else subject.name
        table.add_row(
            subject.kind,
            escape(name),
            escape(via_text(access)),
            escape(access.scope),
            escape(rule_origin_text(access.rule)),
        )
    console.print(table)


def request_text(request: Request) -> str:
    if request.path:
        return f"{request.verb} {request.path}"
    resource = request.combined_resource + (f".{request.group}" if request.group else "")
    text = f"{request.verb} {resource}"
    if request.name:
        text += f" {request.name}"
    return text + (f" in {request.namespace}" if request.namespace else "")


def who_can_graph(request: Request, found: list[Access]) -> DotGraph:
    """subjects → bindings → roles → the request, each role edge labelled with its rule."""
    graph = DotGraph("who-can")
    target = graph.node("request", request_text(request), shape="octagon", color="red3")
    for access in found:
        role = graph.chain(access)
        graph.edge(role, target, rule_origin_text(access.rule))
    return graph


@rbac_app.command("who-can")
def who_can_command(
    verb: Annotated[str, typer.Argument(help="The verb: get, list, create, delete, bind...")],
    resource: Annotated[
        str,
        typer.Argument(
            help="resource[.group][/subresource] (pods, pods/exec, deployments.apps/scale), or a "
            "non-resource URL such as /metrics."
        ),
    ],
    paths: Paths = None,
    namespace: Annotated[
        str, typer.Option("-n", "--namespace", help="The request's namespace.")
    ] = "",
    name: Annotated[str, typer.Option("--name", help="The object the request names.")] = "",
    cluster: Cluster = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output_format: Output = RbacFormat.TABLE,
) -> None:
    """Every subject (user, group, ServiceAccount) allowed VERB on RESOURCE, and the binding and
    role that allow it, decided as the Kubernetes RBAC authorizer decides.

    Exit codes: 0 answered; 2 usage error, or an input that could not be read.
    """
    requests: list[Request] = []
    inputs = load_rbac_inputs(
        paths,
        cluster=cluster,
        kubeconfig=kubeconfig,
        context=context,
        namespaces=[namespace] if namespace else None,
        check=lambda: requests.append(parse_request(verb, resource, namespace, name)),
    )
    request = requests[0]
    found = who_can(inputs.inventory, request)
    if output_format is RbacFormat.TABLE:
        render_table(found)
    elif output_format is RbacFormat.DOT:
        typer.echo(who_can_graph(request, found).render(), nl=False)
    else:
        doc = {
            "schema": WHO_CAN_SCHEMA,
            "request": request_to_dict(request),
            "subjects": [access_to_dict(access) for access in found],
            "errors": errors_list(inputs.errors),
        }
        write_document(doc, output_format)
    finish(inputs.errors)


rbac_app.command("can")(can_command)
rbac_app.command("risky")(risky_command)
rbac_app.command("workloads")(workloads_command)
rbac_app.command("paths")(paths_command)
