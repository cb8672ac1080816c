"""Containment steps the detection families name in their alerts, as commands that work for the
case at hand: take a right away from the requester, isolate a pod, stop a workload's pods while
keeping the object for forensics."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kposture.detections._events import mapping, scoped
from kposture.model.audit import AuditEvent
from kposture.model.quarantine import label_command


def revoke_step(event: AuditEvent, what: str | None) -> str:
    """A containment step taking ``what`` away from the requester, or (``None``: the request was
    denied, there is nothing to take away) its credentials only. The rights listed are those in
    the namespace the request addressed (``kubectl auth can-i`` would otherwise ask the
    kubeconfig's namespace), or the cluster-wide ones for a request outside any namespace."""
    user = event.impersonated_user or event.user
    account = user.service_account
    if account is not None:
        where = f" -n {shlex.quote(event.ref.namespace)}" if event.ref.namespace else ""
        rights = f"(kubectl auth can-i --list --as {shlex.quote(user.username)}{where})"
        if what is None:
            return (
                f"Rotate the tokens of ServiceAccount {account[0]}/{account[1]} if it was not "
                f"expected to act, and check what it can still do {rights}."
            )
        return (
            f"Remove {what} from ServiceAccount {account[0]}/{account[1]} {rights} and rotate "
            "its tokens if it was not expected to act."
        )
    removal = "" if what is None else f"remove {what} from them and "
    return (
        f"Confirm with {user.username or 'the requester'} that this was intended; if not, "
        f"{removal}revoke their credentials."
    )


SECRET_KEYS_TEMPLATE = "{{.type}}{{range $key, $value := .metadata.annotations}} {{$key}}{{end}}"
"""A go-template printing a Secret's type and the keys of its annotations, never a value: the
annotations of a Secret written with ``kubectl apply`` hold its data (in
``kubectl.kubernetes.io/last-applied-configuration``)."""


def secret_keys_command(namespace: str, name: str) -> str:
    """The ``kubectl get`` that shows a Secret's type and annotation keys, none of its values
    (``NAME`` when the name is unknown)."""
    secret = shlex.quote(name) if name else "NAME"
    template = shlex.quote(SECRET_KEYS_TEMPLATE)
    return f"kubectl get secret {secret} -n {namespace or 'default'} -o go-template={template}"


def who_can_command(
    verb: str, resource: str, namespace: str = "", name: str = "", *, every_namespace: bool = False
) -> str:
    """The ``kposture rbac who-can`` that lists every subject allowed ``verb`` on ``resource``
    (``resource[.group][/subresource]`` or a non-resource URL) against the live cluster, with the
    binding and role that allow it."""
    words = ["kposture", "rbac", "who-can", verb, resource]
    if namespace:
        words += ["-n", namespace]
    elif every_namespace:
        words.append("-A")
    if name:
        words += ["--name", name]
    return " ".join(shlex.quote(word) for word in [*words, "--cluster"])


def who_can_request(event: AuditEvent, path: str) -> str:
    """``who_can_command`` for the request ``event`` made: its resource (with its API group and
    subresource), namespace and name, or ``path`` when it addressed no object."""
    ref = event.object_ref
    if ref is None or not ref.resource:
        return who_can_command(event.verb, path)
    resource = f"{ref.resource}.{ref.api_group}" if ref.api_group else ref.resource
    if ref.subresource:
        resource += f"/{ref.subresource}"
    return who_can_command(event.verb, resource, ref.namespace, ref.name)


def can_command(subject: str) -> str:
    """The ``kposture rbac can`` that lists what ``subject`` may do in every namespace of the live
    cluster."""
    return f"kposture rbac can {shlex.quote(subject)} -A --cluster"


def bindings_command(kind: str, namespace: str, name: str) -> str:
    """The ``kubectl get`` listing the bindings that grant Role or ClusterRole ``name`` (a
    ClusterRole can be bound in any namespace too)."""
    role = shlex.quote(f"{kind}/{name}")
    if kind == "Role":
        return f"kubectl get rolebindings -n {namespace or 'default'} -o wide | grep -w {role}"
    return f"kubectl get clusterrolebindings,rolebindings -A -o wide | grep -w {role}"


def isolate_step(namespace: str, name: str) -> str:
    """Isolating a pod by network: the label command and the deny-all policy ``kposture respond
    isolate`` prints, in the order to run them."""
    namespace = namespace or "default"
    return (
        f"Isolate pod {namespace}/{name}: label it first ({label_command(name, namespace)}), then "
        f"apply the deny-all NetworkPolicy selecting that label (kposture respond isolate {name} "
        f"-n {namespace} --cluster | kubectl apply -f -; it names other policies that would still "
        "let traffic in). Keep the pod for forensics, then delete it. A NetworkPolicy does not "
        "reach a hostNetwork pod, and a privileged or hostPID pod has root on its node: for such "
        f"a pod, {host_pod_order(namespace, name)}"
    )


def host_pod_order(namespace: str, name: str) -> str:
    """The order in which a pod that can act as its node is contained when its spec and owner
    are not known: its node cordoned, the pod inspected while it runs, only then stopped, the node
    kept (``host_pod_containment`` says the same with the commands for a known pod)."""
    namespace = namespace or "default"
    find = f"kubectl get pod {shlex.quote(name)} -n {namespace} -o wide"
    return (
        f"first cordon its node (read it in the NODE column of {find}) with kubectl cordon "
        "so nothing new runs there, and inspect the pod while it runs; then delete it or scale "
        "its workload to zero; keep the node for forensics and drain it with kubectl drain and "
        "--ignore-daemonsets before rebuilding it."
    )


@dataclass(frozen=True, slots=True)
class PodTarget:
    """A pod an alert names. A controller's pod create carries no name (the API server generates
    it from ``generateName`` after the request), so ``name`` may be empty: the pod is then found
    by its labels, and its owner named from ``ownerReferences`` or the ``generateName``."""

    namespace: str
    name: str
    generate_name: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    owner_kind: str = ""
    owner_name: str = ""
    node: str = ""
    """``spec.nodeName`` when the logged body holds it (a pod is usually scheduled after its
    create, so often empty)."""

    @property
    def shown(self) -> str:
        """``namespace/name``, or ``namespace/prefix*`` (name generated) when it is unknown."""
        if self.name:
            return scoped(self.namespace, self.name)
        return scoped(self.namespace, f"{self.generate_name}*" if self.generate_name else "<pod>")

    @property
    def find(self) -> str:
        """The ``kubectl get`` that lists the pod (with its node: ``-o wide``)."""
        namespace = self.namespace or "default"
        if self.name:
            return f"kubectl get pod {shlex.quote(self.name)} -n {namespace} -o wide"
        if self.labels:
            selector = ",".join(f"{key}={value}" for key, value in self.labels)
            return f"kubectl get pods -n {namespace} -l {shlex.quote(selector)} -o wide"
        prefix = shlex.quote(f"^{self.generate_name}") if self.generate_name else "."
        return f"kubectl get pods -n {namespace} -o wide | grep {prefix}"

    @property
    def unknown_name(self) -> str:
        """What to say when the name is unknown (who owns the pod, how to find it); empty when
        the name is known."""
        if self.name:
            return ""
        if self.owner_kind:
            owner = f"It belongs to {self.owner_kind}/{self.owner_name}"
        elif self.generate_name:
            guess = self.generate_name.rstrip("-")
            owner = (
                f"Its generateName {self.generate_name} names its controller {guess} (kubectl get "
                f"replicaset,daemonset,job {shlex.quote(guess)} -n {self.namespace or 'default'})"
            )
        else:
            owner = "Its owner is not in the request either"
        return (
            "The pod's name is not in the audit event (the API server generated it after the "
            f"request): do not act on {self.shown}. {owner}; find the pod ({self.find})."
        )


def pod_target(namespace: str, name: str, body: Mapping[str, Any] | None) -> PodTarget:
    """The pod a create or change addresses: ``name`` from the request, the rest from its body."""
    metadata = mapping(body.get("metadata")) if body is not None else {}
    spec = mapping(body.get("spec")) if body is not None else {}
    labels = mapping(metadata.get("labels"))
    owner_kind, owner_name = controller_of(metadata)
    return PodTarget(
        namespace=str(metadata.get("namespace") or namespace),
        name=str(metadata.get("name") or name),
        generate_name=str(metadata.get("generateName") or ""),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        owner_kind=owner_kind,
        owner_name=owner_name,
        node=str(spec.get("nodeName") or ""),
    )


def controller_of(metadata: Mapping[str, Any]) -> tuple[str, str]:
    """The kind and name of the controller in ``metadata.ownerReferences``, or empty strings."""
    owners = metadata.get("ownerReferences")
    for owner in owners if isinstance(owners, list) else ():
        owner_map = mapping(owner)
        if owner_map.get("controller"):
            return str(owner_map.get("kind", "")), str(owner_map.get("name", ""))
    return "", ""


def pod_step(target: PodTarget) -> str:
    """Containing a pod by network, or, when its name is unknown, finding it first; the owner is
    stopped only after (scaling it to zero first would leave no pod to inspect)."""
    if target.name:
        return isolate_step(target.namespace, target.name)
    namespace = target.namespace or "default"
    step = (
        f"{target.unknown_name} Once found, isolate it by its name before anything else: "
        f"kposture respond isolate with that name, -n {namespace} and --cluster prints the label "
        "command and the deny-all NetworkPolicy to apply; inspect it while it runs."
    )
    if target.owner_kind:
        owner = stop_step(target.owner_kind, target.namespace, target.owner_name)
        step += " " + after("Only then", owner)
    return step


def host_pod_step(
    target: PodTarget, stop: str, *, explained: bool = False, read_from: str = "the audit event"
) -> str:
    """Containing a pod that has root on its node (privileged, hostPID, a sensitive host path...)
    or its network (hostNetwork): no NetworkPolicy will, so its node is cordoned and the pod
    inspected first, then the pod stopped (``stop``, the workload's command) and the node kept for
    forensics. The node is named when the logged body (or what the pod was ``read_from``) holds
    it, else found from the pod. Why no NetworkPolicy will is left out when the caller
    ``explained`` it."""
    lead = (
        ""
        if explained
        else "A NetworkPolicy will not contain this pod: it can act as its node (and a "
        "hostNetwork pod is not selected by NetworkPolicies). "
    )
    if target.node:
        node = shlex.quote(target.node)
        first = (
            f"First cordon its node {target.node} so nothing new runs there (kubectl cordon "
            f"{node}) and inspect the pod while it runs ({target.find})."
        )
        keep = f"drain it (kubectl drain {node} --ignore-daemonsets)"
    else:
        listing = f"({target.find}; " if target.name else "(of that listing; "
        first = (
            f"First find its node {listing}the NODE column, which {read_from} does not "
            "hold), cordon it with kubectl cordon so nothing new runs there, and inspect the pod "
            "while it runs."
        )
        keep = "drain it with kubectl drain and --ignore-daemonsets"
    return (
        f"{lead}{first} {stop} Keep the node for forensics: {keep} and rebuild it only once it "
        "is examined."
    )


def after(lead: str, step: str) -> str:
    """``step`` (a sentence) going on from ``lead``: ``Then scale ...``."""
    return f"{lead} {step[:1].lower()}{step[1:]}"


def host_pod_containment(
    target: PodTarget, *, explained: bool = False, read_from: str = "the audit event"
) -> str:
    """``host_pod_step`` for a pod: stopped through its owner, or deleted; when its name is
    unknown, what is known about it first."""
    namespace = target.namespace or "default"
    if target.owner_kind:
        belongs = f"The pod belongs to {target.owner_kind}/{target.owner_name}. "
        stop = (
            (belongs if target.name else "")
            + after("Then", stop_step(target.owner_kind, namespace, target.owner_name))
            + f" Then find who changed it (kubectl get events -n {namespace})."
        )
    elif target.name:
        stop = (
            f"Then delete the pod (kubectl delete pod {shlex.quote(target.name)} -n {namespace})."
        )
    else:
        stop = "Then delete the pod, by the name the listing shows."
    lead = target.unknown_name + " " if target.unknown_name else ""
    return lead + host_pod_step(target, stop, explained=explained, read_from=read_from)


def workload_pods_command(
    kind: str, namespace: str, name: str, body: Mapping[str, Any] | None
) -> str:
    """The ``kubectl`` that shows a workload's pods: ``get pods -l`` its selector when the logged
    body holds one made of labels alone (``matchExpressions`` cannot be given to ``-l`` as they
    are), else ``describe`` of the workload, which lists them or its Jobs."""
    namespace = namespace or "default"
    spec = mapping(body.get("spec")) if body is not None else {}
    selector = mapping(spec.get("selector"))
    labels = selector if kind == "ReplicationController" else mapping(selector.get("matchLabels"))
    if kind != "ReplicationController" and selector.get("matchExpressions"):
        labels = {}
    if labels:
        terms = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        return f"kubectl get pods -n {namespace} -l {shlex.quote(terms)} -o wide"
    return f"kubectl describe {kind.lower()} {shlex.quote(name)} -n {namespace}"


def inspect_then_stop(kind: str, namespace: str, name: str, body: Mapping[str, Any] | None) -> str:
    """A workload's pods inspected while they run, and only then the workload stopped
    (``stop_step``): stopping it first would leave no pod to inspect. The stop alone when its
    name is unknown (nothing to list its pods by)."""
    stop = stop_step(kind, namespace, name)
    if not name:
        return stop
    pods = workload_pods_command(kind, namespace, name, body)
    return f"First inspect its pods while they run ({pods}; note their nodes). " + after(
        "Then", stop
    )


_SCALABLE = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "ReplicaSet": "replicaset",
    "ReplicationController": "replicationcontroller",
}


def stop_step(kind: str, namespace: str, name: str) -> str:
    """How to stop a workload's pods while keeping the object for forensics, as a command."""
    namespace = namespace or "default"
    if not name:
        return (
            f"Stop the {kind} (its name is not in the audit event: find it among "
            f"kubectl get {kind.lower()} -n {namespace}) or delete it."
        )
    where = f"{kind} {namespace}/{name}"
    name = shlex.quote(name)  # commands only: an object name is the writer's choice
    if kind in _SCALABLE:
        step = (
            f"Scale {where} to zero (kubectl scale {_SCALABLE[kind]} {name} -n {namespace} "
            "--replicas=0)"
        )
        if kind == "ReplicaSet":
            step += ", or its Deployment if one owns it (the Deployment would scale it back)"
        return step + "."
    if kind == "DaemonSet":
        return (
            f"A DaemonSet cannot be scaled: move {where} off every node with a node selector no "
            f"node has (kubectl patch daemonset {name} -n {namespace} -p "
            """'{"spec":{"template":{"spec":{"nodeSelector":{"kposture.io/stopped":"true"}}}}}'), """
            "or delete it."
        )
    if kind == "CronJob":
        return (
            f"Suspend {where} so it starts no more Jobs (kubectl patch cronjob {name} -n "
            f"""{namespace} -p '{{"spec":{{"suspend":true}}}}'), then delete the Jobs it already """
            f"started (kubectl get jobs -n {namespace}; their owner is CronJob {name})."
        )
    if kind == "Job":
        return (
            f"Suspend {where} (kubectl patch job {name} -n {namespace} -p "
            """'{"spec":{"suspend":true}}', Kubernetes 1.21 and later) or delete it with its """
            f"pods (kubectl delete job {name} -n {namespace})."
        )
    if kind == "PodTemplate":
        return f"Delete {where} (kubectl delete podtemplate {name} -n {namespace})."
    if kind == "Pod":
        return isolate_step(namespace, name)
    return f"Stop {where} (or delete it)."
