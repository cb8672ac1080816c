"""``kposture rbac``: questions to the RBAC graph over the same inputs as ``scan``: manifest paths,
``-`` for stdin, snapshots, or ``--cluster``. This module is the sub-app and its ``who-can`` view;
the other views live in their own modules (``rbac_can_commands``, ``rbac_risky_commands``,
``rbac_workloads_commands``) and are registered here. Shared inputs are in ``rbac_inputs``, shared
output (``-o table|json|yaml|dot``) in ``rbac_output``.

``who-can VERB RESOURCE``: every subject a request is allowed for, with the binding and role that
grant it. RESOURCE is kubectl's form, ``resource[.group][/subresource]`` (``pods/exec``,
``deployments.apps/scale``), or a non-resource URL starting with ``/``. Without ``-n`` the request
names no namespace (list every Secret of the cluster: ClusterRoleBindings only); ``-n NS`` asks it
in NS; ``-A`` asks who may do it in at least one namespace (every RoleBinding too). RBAC names
resources in lowercase plural: an uppercase RESOURCE is lowercased with a note, and a singular, a
kind or a resource of another API group gets a hint (``inventory.rbac_resources``) on stderr.
What the answer leaves out gets a note there too: the subjects allowed only in some namespace (a
namespaced request without ``-n`` or ``-A``) and those allowed only for named objects (``resourceNames``,
a request without ``--name``). Kubernetes' own grants are marked as ``rbac can`` marks them.
Exit codes: 0 answered; 2 usage error or an input that could not be read (the answer covers
everything else).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from kposture.cli.consoles import error_console, report_console
from kposture.cli.rbac_can_commands import can_command
from kposture.cli.rbac_discovery import discovered_group
from kposture.cli.rbac_inputs import (
    Cluster,
    Context,
    Kubeconfig,
    Output,
    Paths,
    fail,
    finish,
    load_rbac_inputs,
    view_namespace,
)
from kposture.cli.rbac_output import (
    DotGraph,
    RbacFormat,
    errors_list,
    granted_dict,
    policy_rule_text,
    print_table,
    rule_origin_text,
    via_text,
    write_document,
)
from kposture.cli.rbac_paths_commands import paths_command
from kposture.cli.rbac_risky_commands import risky_command
from kposture.cli.rbac_workloads_commands import workloads_command
from kposture.cli.scanning import UsageError
from kposture.inventory import Inventory
from kposture.inventory.rbac import BUILTIN_PATH, is_default_subject
from kposture.inventory.rbac_graph import Access, Request, who_can
from kposture.inventory.rbac_resources import (
    api_version_form,
    known_resources,
    known_urls,
    known_verbs,
    kubectl_form,
    named_objects,
    suggest_resource,
    suggest_url,
    suggest_verb,
)
from kposture.inventory.rbac_scope import Scope, reachable, request_namespace

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
        meant = api_version_form(resource)
        hint = f" (the API group, not the apiVersion: {meant})" if meant else ""
        raise UsageError(f"RESOURCE {resource!r} is not resource[.group][/subresource]{hint}")
    combined = f"{plural}/{subresource}" if subresource else plural
    if namespace and not reachable(Scope.NAMESPACE, verb, group, combined):
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


def is_default(access: Access) -> bool:
    """Kubernetes' own grant: a default binding naming one of Kubernetes' own subjects, as
    ``rbac can`` and ``rbac risky`` mark it (``Holding.default``)."""
    return is_default_subject(access.binding, access.subject)


def access_to_dict(access: Access) -> dict[str, Any]:
    return {**granted_dict(access), "default": is_default(access)}


def rule_text(access: Access) -> str:
    """Where the allowing rule is written (``Role shop/exec rules[0]``); a built-in rule of a
    default role not in the inputs has no place to point at, so it is spelled out."""
    origin = rule_origin_text(access.rule)
    if access.rule.path == BUILTIN_PATH:
        return f"{origin}: {policy_rule_text(access.rule.rule)}"
    return origin


def render_table(found: list[Access], blind: bool = False) -> None:
    """The subjects found; none is "No subject is allowed" unless RBAC could not be read
    (``blind``: ``finish`` says the request cannot be answered)."""
    console = report_console()
    if not found:
        if not blind:
            console.print("No subject is allowed this request.", highlight=False, markup=False)
        return
    rows = []
    for access in found:
        subject = access.subject
        name = f"{subject.namespace}/{subject.name}" if subject.namespace else subject.name
        if is_default(access):
            name += " (Kubernetes default)"
        rows.append((subject.kind, name, via_text(access), access.scope, rule_text(access)))
    print_table(console, ("KIND", "SUBJECT", "VIA", "SCOPE", "RULE"), rows)


def verb_notes(given: str, request: Request, inventory: Inventory) -> list[str]:
    """What to tell a user whose VERB is not one RBAC rules use: lowercased (answered for the
    lowercase form), or outside the Kubernetes verbs and the inputs' own (still answered as
    written, RBAC allows any verb) with what it probably meant."""
    notes = []
    verb = request.verb
    if given.strip() != verb:
        notes.append(f"RBAC verbs are lowercase: answered for {verb}")
    verbs = known_verbs(inventory)
    if verb not in verbs:
        meant = suggest_verb(
            verb,
            request.group,
            request.resource,
            request.subresource,
            verbs,
            known_resources(inventory),
        )
        text = f"{verb} is not a Kubernetes verb (answered as written: a rule may name any verb)"
        notes.append(text + (f"; did you mean {meant}?" if meant else ""))
    return notes


def resource_notes(given: str, request: Request, inventory: Inventory) -> list[str]:
    """What to tell a user whose RESOURCE is not written as RBAC rules write it: lowercased
    (answered for the lowercase form), written with an apiVersion (``v1/secrets``), a
    non-resource URL without its ``/``, or unknown to every rule and close to one that is (a
    plural, the API group that serves it, a spelling, a subresource's spelling)."""
    if request.path:
        return []
    notes = []
    asked = kubectl_form(request.group, request.resource, request.subresource)
    if given.strip() != given.strip().lower():
        notes.append(f"RBAC rules name resources in lowercase: answered for {asked}")
    known = known_resources(inventory)
    versioned = api_version_form(given)
    if versioned is not None:
        notes.append(
            f"RESOURCE takes the API group, not the apiVersion (resource[.group]): "
            f"did you mean {versioned}?"
        )
        return notes
    if not request.group and (request.group, request.resource) not in known:
        url = suggest_url(given, known_urls(inventory))
        if url is not None:
            notes.append(f"a non-resource URL starts with /: did you mean {url}?")
            return notes
    meant = suggest_resource(request.group, request.resource, request.subresource, known)
    if meant is not None:
        notes.append(
            f"no rule names {asked}; RBAC names resources in lowercase plural with their API "
            f"group (kubectl api-resources): did you mean {meant}?"
        )
    return notes


def _subject_keys(found: list[Access]) -> set[tuple[str, str, str]]:
    return {(a.subject.kind, a.subject.namespace, a.subject.name) for a in found}


def _subjects(count: int, more: str = "") -> str:
    """``1 subject``, ``2 more subjects``."""
    return f"{count} {more}{' ' if more else ''}subject{'s' if count != 1 else ''}"


def scope_notes(
    inventory: Inventory, request: Request, found: list[Access], *, asked_every: bool, every: bool
) -> list[str]:
    """What the answer leaves out: subjects allowed only in some namespace (a namespaced request
    asked without ``-n`` or ``-A``), and subjects allowed only for named objects (rules with
    ``resourceNames``, for a request without ``--name``)."""
    if request.path:
        return []
    notes = []
    shown = _subject_keys(found)
    if (
        not request.namespace
        and not asked_every
        and reachable(Scope.NAMESPACE, request.verb, request.group, request.combined_resource)
    ):
        more = _subject_keys(who_can(inventory, request, any_namespace=True)) - shown
        if more:
            notes.append(f"{_subjects(len(more), 'more')} can in some namespace: use -A")
    if not request.name:
        named: set[tuple[str, str, str]] = set()
        objects = named_objects(inventory, request.verb, request.group, request.combined_resource)
        for name in objects:
            namespace = request_namespace(request.group, request.resource, request.namespace, name)
            one = replace(request, name=name, namespace=namespace)
            named |= _subject_keys(who_can(inventory, one, any_namespace=every))
        if named - shown:
            notes.append(
                f"{_subjects(len(named - shown))} can for specific names only: use --name NAME"
            )
    return notes


def _resolved(
    request: Request,
    verb: str,
    namespace: str,
    name: str,
    kubeconfig: str | None,
    context: str | None,
) -> tuple[Request, str] | None:
    """With a live cluster, a resource named without its group that core does not serve is
    resolved through discovery to the one group serving it (as ``kubectl auth can-i``), with a
    note saying so; None when it stays as given."""
    if request.path or request.group:
        return None
    group = discovered_group(request.resource, kubeconfig, context)
    if group is None:
        return None
    qualified = kubectl_form(group, request.resource, request.subresource)
    try:
        resolved = parse_request(verb, qualified, namespace, name)
    except UsageError as exc:
        fail(str(exc))
    note = (
        f"{request.resource} is served by the API group {group} (the cluster's discovery): "
        f"answered for {qualified}"
    )
    return resolved, note


def request_text(request: Request) -> str:
    if request.path:
        return f"{request.verb} {request.path}"
    resource = request.combined_resource + (f".{request.group}" if request.group else "")
    text = f"{request.verb} {resource}"
    if request.name:
        text += f" {request.name}"
    return text + (f" in {request.namespace}" if request.namespace else "")


def _subject_key(access: Access) -> tuple[str, str, str]:
    subject = access.subject
    return (subject.kind, subject.namespace, subject.name)


def who_can_graph(request: Request, found: list[Access]) -> DotGraph:
    """subjects → bindings → roles → the request, each role edge labelled with its rule."""
    graph = DotGraph("who-can")
    target = graph.node("request", request_text(request), shape="octagon", color="red3")
    # a subject node is marked when any of its grants is Kubernetes' own (the table marks rows)
    defaults = {_subject_key(access) for access in found if is_default(access)}
    for access in found:
        role = graph.chain(access, default=_subject_key(access) in defaults)
        graph.edge(role, target, rule_text(access))
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
        str,
        typer.Option(
            "-n",
            "--namespace",
            help="The request's namespace (without -n or -A the request names none: "
            "ClusterRoleBindings only).",
        ),
    ] = "",
    all_namespaces: Annotated[
        bool,
        typer.Option(
            "-A",
            "--all-namespaces",
            help="Who may do it in at least one namespace: the RoleBindings of every namespace "
            "too, the SCOPE column saying where.",
        ),
    ] = False,
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
    view_namespace(namespace, all_namespaces)
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
    resolved = _resolved(request, verb, namespace, name, kubeconfig, context) if cluster else None
    if resolved is not None:
        request, note = resolved
        error_console().print(f"note: {note}", highlight=False, markup=False)
    # A RoleBinding's rules apply in its namespace only: -A adds them where a request in some
    # namespace could use them (not for nodes, but for bind on clusterroles).
    every = all_namespaces and reachable(
        Scope.NAMESPACE, request.verb, request.group, request.combined_resource
    )
    # The user's own subjects first, then Kubernetes' own, in every format.
    found = sorted(who_can(inputs.inventory, request, any_namespace=every), key=is_default)
    if output_format is RbacFormat.TABLE:
        render_table(found, blind=bool(inputs.unlisted))
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
    hints = verb_notes(verb, request, inputs.inventory)
    for note in hints + resource_notes(resource, request, inputs.inventory):
        error_console().print(f"hint: {note}", highlight=False, markup=False)
    notes = scope_notes(inputs.inventory, request, found, asked_every=all_namespaces, every=every)
    for note in notes:
        error_console().print(f"note: {note}", highlight=False, markup=False)
    finish(inputs.errors, output_format, answered=bool(found))


rbac_app.command("can")(can_command)
rbac_app.command("risky")(risky_command)
rbac_app.command("workloads")(workloads_command)
rbac_app.command("paths")(paths_command)
