"""``kposture rbac``: questions to the RBAC graph (``inventory.rbac_graph``) over the same inputs as
``scan``: manifest paths, ``-`` for stdin, snapshots, or ``--cluster``.

``who-can VERB RESOURCE``: every subject a request is allowed for, with the binding and role that
grant it. RESOURCE is kubectl's form, ``resource[.group][/subresource]`` (``pods/exec``,
``deployments.apps/scale``), or a non-resource URL starting with ``/``. Exit codes: 0 answered;
2 usage error or an input that could not be read (the answer covers everything else).
"""

from __future__ import annotations

import enum
import json
import sys
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from kposture.cli.consoles import error_console, report_console
from kposture.cli.progress import listing_progress
from kposture.cli.scanning import EXIT_USAGE, UsageError, has_input_errors, load_inputs
from kposture.inventory import Inventory
from kposture.inventory.rbac_graph import Access, Request, who_can
from kposture.inventory.rbac_scope import is_cluster_scoped

rbac_app = typer.Typer(
    help="Explore RBAC: who can do what.", no_args_is_help=True, rich_markup_mode=None
)

WHO_CAN_SCHEMA = "kposture.who-can/v1"


class WhoCanFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


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
    return Request(
        verb=verb,
        resource=plural,
        group=group,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def _ref(kind: str, namespace: str, name: str) -> dict[str, str]:
    return {"kind": kind, "namespace": namespace, "name": name}


def access_to_dict(access: Access) -> dict[str, Any]:
    subject = access.subject
    binding = access.binding.ref
    role = access.role
    return {
        "subject": _ref(subject.kind, subject.namespace, subject.name),
        "binding": _ref(binding.kind, binding.namespace, binding.name),
        "role": _ref(role.kind, role.namespace, role.name),
        "rule": {
            "origin": _ref(
                access.rule.origin.kind, access.rule.origin.namespace, access.rule.origin.name
            ),
            "index": access.rule.index,
            "builtin": access.rule.path == ("roleRef", "name"),
        },
        "scope": access.scope,
    }


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


def _rule_text(access: Access) -> str:
    origin = access.rule.origin
    if access.rule.path == ("roleRef", "name"):
        return f"built-in {origin.name}"
    where = f"{origin.namespace}/" if origin.namespace else ""
    return f"{origin.kind} {where}{origin.name} rules[{access.rule.index}]"


def render_table(request: Request, found: list[Access]) -> None:
    console = report_console()
    if not found:
        console.print("No subject is allowed this request.", highlight=False, markup=False)
        return
    table = Table(box=box.SIMPLE, show_edge=False)
    for column in ("KIND", "SUBJECT", "VIA", "SCOPE", "RULE"):
        table.add_column(column, overflow="fold")
    for access in found:
        subject = access.subject
        name = f"{subject.namespace}/{subject.name}" if subject.namespace else subject.name
        binding = access.binding.ref
        via = f"{binding.kind} {binding.namespace + '/' if binding.namespace else ''}{binding.name}"
        table.add_row(
            subject.kind,
            escape(name),
            escape(f"{via} → {access.role.display()}"),
            escape(access.scope),
            escape(_rule_text(access)),
        )
    console.print(table)


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
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Manifest files or directories, snapshots, or - for stdin (as for `scan`).",
            show_default=False,
        ),
    ] = None,
    namespace: Annotated[
        str, typer.Option("-n", "--namespace", help="The request's namespace.")
    ] = "",
    name: Annotated[str, typer.Option("--name", help="The object the request names.")] = "",
    cluster: Annotated[
        bool, typer.Option("--cluster", help="Read RBAC from the live cluster (and PATHS too).")
    ] = False,
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Kubeconfig file (with --cluster).")
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="Kubeconfig context (with --cluster).")
    ] = None,
    output_format: Annotated[
        WhoCanFormat, typer.Option("-o", "--output", help="Output format.")
    ] = WhoCanFormat.TABLE,
) -> None:
    """Every subject (user, group, ServiceAccount) allowed VERB on RESOURCE, and the binding and
    role that allow it, decided as the Kubernetes RBAC authorizer decides.

    Exit codes: 0 answered; 2 usage error, or an input that could not be read.
    """
    err = error_console()
    given = paths or []
    try:
        request = parse_request(verb, resource, namespace, name)
        if not cluster and (kubeconfig or context):
            raise UsageError("--kubeconfig and --context need --cluster")
        with listing_progress(enabled=False if not cluster else None) as progress:
            loaded = load_inputs(
                given,
                cluster=cluster,
                kubeconfig=kubeconfig,
                context=context,
                namespaces=[namespace] if namespace else None,
                progress=progress,
                stdin=sys.stdin.buffer if "-" in given else None,
            )
    except UsageError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    found = who_can(Inventory(loaded.objects), request)
    if output_format is WhoCanFormat.JSON:
        doc = {
            "schema": WHO_CAN_SCHEMA,
            "request": request_to_dict(request),
            "subjects": [access_to_dict(access) for access in found],
            "errors": [
                {"file": e.file, "line": e.line, "message": e.message} for e in loaded.errors
            ],
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        render_table(request, found)
    for error in loaded.errors:
        err.print(f"{error.level}: {error.message}", highlight=False, markup=False)
    raise typer.Exit(EXIT_USAGE if has_input_errors(loaded.errors) else 0)
