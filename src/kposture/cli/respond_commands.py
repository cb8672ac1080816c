"""``kposture respond isolate POD``: the deny-all NetworkPolicy that contains a pod, with what the
operator must do around it. Wiring only: sources read the pod and its namespace's NetworkPolicies
(from a cluster, nothing else: ``sources.cluster_pod``), the inventory says which of those select
the pod, reports render the policy and the commands.

Exit codes: 0 the policy (for a hostNetwork pod, only the notes) was printed; 2 the pod was not
found (or is in several namespaces and no ``-n`` says which, or the pods of every namespace may
not be listed), has no labels to select it by, or bad arguments.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from kposture.cli.consoles import error_console
from kposture.cli.scanning import UsageError, combine, load_inputs
from kposture.detections._containment import (
    controller_of,
    host_pod_containment,
    host_pod_order,
    pod_target,
)
from kposture.inventory import containers, pod_spec
from kposture.inventory.network import (
    DEFAULT_NAMESPACE,
    PolicyView,
    effective_namespace,
    policy_view,
)
from kposture.model import K8sObject
from kposture.model.quarantine import label_command
from kposture.reports.isolation import (
    detaching_note,
    exclusion_patch,
    isolation_policy,
    quarantine_selector,
    render_isolation_policy,
    render_notes,
)
from kposture.sinks.summaries import counted
from kposture.sources.cluster_config import ClusterError
from kposture.sources.cluster_pod import read_pod
from kposture.sources.manifests import LoadedManifests

EXIT_USAGE = 2

respond_app = typer.Typer(
    help="Response helpers: render the containment an alert names.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _fail(message: str) -> NoReturn:
    error_console().print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(EXIT_USAGE)


@dataclass(frozen=True, slots=True)
class _Input:
    """What the manifests, snapshot or cluster showed: the pod, its namespace's pods and policies."""

    pod: K8sObject
    namespace: str
    pods: tuple[K8sObject, ...]
    policies: tuple[K8sObject, ...]


@respond_app.command("isolate")
def isolate_command(
    pod: Annotated[str, typer.Argument(help="Name of the pod to isolate.")],
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Manifests or a snapshot holding the pod (- for stdin)."),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "-n",
            "--namespace",
            help="The pod's namespace (default: where the input has it, else default).",
        ),
    ] = None,
    pod_labels: Annotated[
        bool,
        typer.Option(
            "--pod-labels",
            help="Select the pod by its own labels instead of the quarantine label: every pod "
            "with the same labels (a Deployment's replicas) is isolated too.",
        ),
    ] = False,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            help="The pod's labels as KEY=VALUE (repeatable; implies --pod-labels).",
        ),
    ] = None,
    cluster: Annotated[bool, typer.Option("--cluster", help="Read the pod from the cluster.")] = (
        False
    ),
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help="Kubeconfig file.")] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, kept as an annotation.")] = "",
) -> None:
    """Print a deny-all NetworkPolicy (no ingress, no egress) for one pod, to apply with kubectl
    apply -f -, and the kubectl label command to run first: the policy selects the label
    kposture.io/quarantine=POD, which only this pod will carry. (A policy selecting the pod's own
    labels would isolate every replica that shares them; --pod-labels asks for that.)

    Adding the label does not detach the pod from its controller or Services (they select by the
    labels it already has): it keeps running for forensics, is not replaced, and stays a Service
    endpoint whose requests now fail. Removing or changing a label their selectors use detaches it:
    the Service stops sending it traffic and a controller (ReplicaSet, DaemonSet, Job) starts
    another pod; a StatefulSet only once the pod is deleted; a bare pod is replaced by nothing.

    NetworkPolicies add up: another policy that selects the pod and allows traffic keeps allowing
    it. With manifests, a snapshot or --cluster, those are named (stderr and YAML comments) with the
    kubectl patch that makes them skip quarantined pods.

    A hostNetwork, privileged or hostPID pod can act as its node: its node is cordoned and the pod
    inspected first, then stopped, as the alerts say; a hostNetwork pod gets no policy at all (none
    selects it), only those notes.

    Exit codes: 0 printed; 2 the pod was not found (or is in several namespaces), has no labels for
    --pod-labels, or bad arguments.
    """
    given = _parse_labels(label or ())
    by_labels = pod_labels or bool(given)
    found = None
    if paths or cluster:
        peers = given if by_labels else None
        found = _read_input(pod, namespace, paths or [], cluster, kubeconfig, context, peers)
    elif by_labels and not given:
        _fail("--pod-labels needs the labels: -l KEY=VALUE, manifests or a snapshot, or --cluster")
    where = found.namespace if found is not None else namespace or DEFAULT_NAMESPACE
    console = error_console()
    if namespace is None:
        how = f"where the input has pod {pod}" if found is not None else "assumed"
        console.print(f"namespace {escape(where)}: {escape(how)} (no -n given)", highlight=False)
    if by_labels:
        selector = given or {str(k): str(v) for k, v in (found.pod.labels if found else {}).items()}
    else:
        selector = quarantine_selector(pod)
    try:
        policy = isolation_policy(pod, where, selector, reason)
    except ValueError as exc:
        _fail(str(exc))
    notes = _notes(pod, where, by_labels, selector, found)
    for level, note in notes:
        text = f"{level}: {escape(note)}" if level else escape(note)
        console.print(text, highlight=False, soft_wrap=True)  # commands stay on one line
    texts = [note for _, note in notes]
    if found is not None and _host_network(found.pod):
        sys.stdout.write(render_notes(texts))  # no NetworkPolicy selects it: none is printed
        return
    sys.stdout.write(render_isolation_policy(policy, texts))


def _parse_labels(items: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--label {item!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def _read_input(
    pod: str,
    namespace: str | None,
    paths: list[str],
    cluster: bool,
    kubeconfig: str | None,
    context: str | None,
    peers: Mapping[str, str] | None,
) -> _Input:
    """The pod and its namespace's pods and policies, from ``paths`` and, with ``cluster``, from
    the cluster: only the pod, the NetworkPolicies and (for ``peers``, see ``read_pod``) the pods
    sharing its labels are read there. What could not be read is printed as a warning."""
    try:
        loaded = load_inputs(paths, stdin=sys.stdin.buffer) if paths else None
        if cluster:
            read = read_pod(pod, namespace, kubeconfig=kubeconfig, context=context, peers=peers)
            loaded = read if loaded is None else combine(loaded, read)
    except (UsageError, ClusterError) as exc:
        _fail(str(exc))
    if loaded is None:
        _fail("give manifest paths (- for stdin), a snapshot file, or --cluster")
    _print_errors(loaded)
    candidates = [
        obj
        for obj in loaded.objects
        if obj.ref.kind == "Pod"
        and obj.ref.name == pod
        and (namespace is None or effective_namespace(obj.ref.namespace) == namespace)
    ]
    spaces = sorted({effective_namespace(obj.ref.namespace) for obj in candidates})
    if not candidates:
        unlisted = _unlisted_pods(loaded) if namespace is None else None
        if unlisted is not None:
            _fail(
                f"pod {pod} could not be looked for in every namespace ({unlisted}): give -n "
                "NAMESPACE to read it in its own namespace"
            )
        scope = f"namespace {namespace}" if namespace else "any namespace"
        _fail(f"pod {pod} not found in {scope} of the input")
    if len(spaces) > 1:
        _fail(f"pod {pod} is in several namespaces ({', '.join(spaces)}): give -n NAMESPACE")
    where = spaces[0]

    def here(kind: str) -> tuple[K8sObject, ...]:
        return tuple(
            obj
            for obj in loaded.objects
            if obj.ref.kind == kind and effective_namespace(obj.ref.namespace) == where
        )

    return _Input(candidates[0], where, here("Pod"), here("NetworkPolicy"))


def _unlisted_pods(loaded: LoadedManifests) -> str | None:
    """Why the pods of every namespace could not be listed (a responder allowed to list pods in
    one namespace only is forbidden that list), or None when they were."""
    return next(
        (error.message for error in loaded.errors if error.message.startswith("cannot list pods")),
        None,
    )


def _print_errors(loaded: LoadedManifests) -> None:
    """What could not be read (a forbidden request, a bad document), one line each on stderr."""
    console = error_console()
    for error in loaded.errors:
        where = f"{error.file}:{error.line}" if error.line else error.file
        console.print(
            f"{error.level or 'error'}: {escape(where)}: {escape(error.message)}", highlight=False
        )


Note = tuple[str, str]
"""A line for the operator: its level on stderr (``warning`` or empty) and its text."""


def _notes(
    pod: str,
    namespace: str,
    by_labels: bool,
    selector: Mapping[str, str],
    found: _Input | None,
) -> list[Note]:
    """What to do around the policy, in the order to do it. For a pod that can act as its node,
    that containment comes first; the policy follows only when it still cuts some of the pod's
    traffic (not for a hostNetwork pod, which no NetworkPolicy selects)."""
    if found is not None and _host_network(found.pod):
        return [
            *_host_containment(pod, namespace, found),
            (
                "",
                "No NetworkPolicy is printed: NetworkPolicies do not select a pod on its node's "
                "network (hostNetwork), so one would cut none of its traffic.",
            ),
        ]
    steps: list[Note] = []
    if by_labels:
        steps.append(("", f"Deny-all NetworkPolicy for pod {namespace}/{pod}, by its own labels."))
        steps.extend(_sharing_labels(pod, selector, found))
    else:
        steps.append(
            ("", f"Deny-all NetworkPolicy for pod {namespace}/{pod}, by the quarantine label.")
        )
        steps.append(("", f"1. Label the pod first: {label_command(pod, namespace)}"))
        steps.append(("", "2. Then apply this policy (kubectl apply -f -)."))
        controller = controller_of(found.pod.metadata)[0] if found is not None else None
        steps.append(("", detaching_note(controller)))
    host = _host_containment(pod, namespace, found)
    if found is None:
        notes = [*steps, *host]  # the spec was not checked: a warning after the usual steps
    elif host:
        while_inspected = (
            "While you inspect it, the policy below still cuts the pod's own network traffic (not "
            "what it does as root on its node):"
        )
        notes = [*host, ("", while_inspected), *steps]
    else:
        notes = steps
    notes.extend(_other_policies(pod, namespace, by_labels, selector, found))
    return notes


def _host_containment(pod: str, namespace: str, found: _Input | None) -> list[Note]:
    """For a pod that can act as its node (hostNetwork, privileged, hostPID), why network
    isolation will not contain it and what does, in the order of ``privileged-pod-created``'s
    alert: cordon the node, inspect the pod while it runs, then stop it and keep the node."""
    if found is None:
        return [
            (
                "warning",
                "the pod's spec was not checked (no manifests, snapshot or --cluster): if it runs "
                "with hostNetwork, privileged or hostPID, network isolation will not contain it; "
                + host_pod_order(namespace, pod),
            )
        ]
    reasons = _host_reasons(found.pod)
    if not reasons:
        return []
    target = pod_target(namespace, pod, found.pod.raw)
    return [
        (
            "warning",
            f"network isolation will not contain pod {namespace}/{pod}: it "
            + " and ".join(reasons)
            + ".",
        ),
        ("", host_pod_containment(target, explained=True, read_from="the input")),
    ]


def _host_network(pod: K8sObject) -> bool:
    found = pod_spec(pod)
    return found is not None and found.spec.get("hostNetwork") is True


def _host_reasons(pod: K8sObject) -> list[str]:
    found = pod_spec(pod)
    spec = found.spec if found is not None else {}
    reasons = []
    if spec.get("hostNetwork") is True:
        reasons.append("uses the node's network (hostNetwork: NetworkPolicies do not apply)")
    privileged = sorted(
        ref.name
        for ref in containers(pod)
        if isinstance(ref.container.get("securityContext"), Mapping)
        and ref.container["securityContext"].get("privileged") is True
    )
    if privileged:
        reasons.append(f"runs privileged ({', '.join(privileged)}: root on the node)")
    if spec.get("hostPID") is True:
        reasons.append("shares the node's PID namespace (hostPID: root on the node)")
    return reasons


def _sharing_labels(pod: str, selector: Mapping[str, str], found: _Input | None) -> list[Note]:
    if found is None:
        return [
            (
                "warning",
                "every pod with these labels is isolated too (a Deployment's replicas share "
                "them); drop --pod-labels/-l to isolate this pod alone by the quarantine label",
            )
        ]
    others = sorted(
        obj.ref.name
        for obj in found.pods
        if obj is not found.pod and all(obj.labels.get(k) == v for k, v in selector.items())
    )
    if not others:
        return []
    shown = ", ".join(others[:20]) + (f" and {len(others) - 20} more" if len(others) > 20 else "")
    return [
        (
            "warning",
            f"the policy also isolates {counted(len(others), 'other pod')} with the same labels: "
            f"{shown}; drop --pod-labels/-l to isolate {pod} alone by the quarantine label",
        )
    ]


def _other_policies(
    pod: str,
    namespace: str,
    by_labels: bool,
    selector: Mapping[str, str],
    found: _Input | None,
) -> list[Note]:
    if found is None:
        return [
            (
                "warning",
                "other NetworkPolicies were not checked (no manifests, snapshot or --cluster): "
                "policies add up, so any policy that selects this pod and allows traffic keeps "
                f"allowing it; look with kubectl get networkpolicy -n {namespace}",
            )
        ]
    labels = {str(k): str(v) for k, v in found.pod.labels.items()}
    if not by_labels:
        labels.update(selector)  # as the pod will be, once labelled
    views = [view for view in map(policy_view, found.policies) if view.selects(labels)]
    allowing = [(view.obj, _directions(view)) for view in views if _directions(view)]
    if not allowing:
        return []
    names = ", ".join(f"{obj.ref.name} ({directions})" for obj, directions in allowing)
    one = len(allowing) == 1
    select, allow, them = ("selects", "allows", "it") if one else ("select", "allow", "them")
    notes: list[Note] = [
        (
            "warning",
            f"NetworkPolicies add up: {counted(len(allowing), 'other policy', 'other policies')} "
            f"in {namespace} also {select} {pod} and {allow} traffic this one cannot take away: "
            f"{names}. Delete {them}, or make {them} skip quarantined pods"
            + (
                " (isolate by the quarantine label, without --pod-labels, for that)"
                if by_labels
                else ":"
            ),
        )
    ]
    if not by_labels:
        notes.extend(
            ("", "   " + exclusion_patch(obj.ref.name, namespace, _spec(obj).get("podSelector")))
            for obj, _ in allowing
        )
    return notes


def _spec(policy: K8sObject) -> Mapping[str, Any]:
    spec = policy.raw.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _directions(view: PolicyView) -> str:
    """``ingress``, ``egress`` or both: the directions in which a policy allows some traffic (rules
    in a direction it isolates); empty when it allows nothing."""
    spec = _spec(view.obj)
    isolated = (("ingress", view.isolates_ingress), ("egress", view.isolates_egress))
    return ", ".join(
        direction
        for direction, isolates in isolated
        if isolates and isinstance(spec.get(direction), list) and spec[direction]
    )
