"""What a change affects: the objects whose findings may differ after a batch of deltas.

Owns the dependents table of ``docs/watch.md``. Rules judge one object but may read others through
the inventory, so a change re-evaluates the changed object plus every object whose rules read it:

- a workload: itself, the objects it owns (owner coverage: a ReplicaSet or pod with its owner's pod
  template is not judged on its own), its Namespace (namespace-scope rules count workloads);
- a NetworkPolicy: its namespace's workloads and the Namespace;
- a ServiceAccount: the workloads that run as it, the bindings that name it;
- a Role or ClusterRole: the bindings that refer to it, aggregating ClusterRoles, the ClusterRoles
  aggregated into it (a role's findings name who holds it), and the workloads running as the
  ServiceAccounts those bindings name;
- a RoleBinding or ClusterRoleBinding: itself, its role and the ClusterRoles aggregated into it,
  the workloads running as its subjects;
- a Namespace: every object in it (custom rules read ``namespaceObject``; labels, GitOps);
- a Service or Ingress: the workloads it exposes;
- an Argo CD or Flux object, or any object whose GitOps tracking metadata changed: the objects of
  the namespace it deploys to (``manual-change``); an Argo CD Application or Flux Kustomization or
  HelmRelease re-evaluates everything (its target may be anywhere);
- the cluster anchor (ClusterFacts: control-plane flags, installed tools, listing) when a change
  shows in what those read — a workload's images, commands or pod-template annotations, a
  Namespace, a ConfigMap holding kubelet or encryption configuration, CRDs, webhook
  configurations, admission policies, custom resources of tools, Nodes;
- escalation paths are global (RBAC, ServiceAccounts, token Secrets, the accounts workloads run
  as): when a change shows in what they read, the paths are computed again and the bindings whose
  paths differ (``rbac-escalation-path`` reports on a path's first binding) are re-evaluated.

Pure: the caller gives the deltas, the state's owner index, and both inventories.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kposture.inventory import Inventory
from kposture.inventory.network import effective_namespace, pod_labels, service_selector
from kposture.inventory.rbac import subjects
from kposture.inventory.rbac_aggregators import aggregated_sources
from kposture.inventory.rbac_paths import escalation_paths
from kposture.inventory.service_accounts import service_account_of, token_mount
from kposture.inventory.workloads import WORKLOAD_KINDS, containers, pod_spec, pod_template_metadata
from kposture.model import K8sObject
from kposture.watcher.state import Delta, Key, key_of

RBAC_ROLE_KINDS = frozenset({"Role", "ClusterRole"})
RBAC_BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
WORKLOADS = frozenset(WORKLOAD_KINDS)
GITOPS_KINDS = frozenset({"Application", "Kustomization", "HelmRelease"})
ANCHOR_KINDS = frozenset(
    {
        "CustomResourceDefinition",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "CSIDriver",
        "Node",
        "ClusterPolicy",
        "Policy",
        "ConstraintTemplate",
        "ExternalSecret",
        "PeerAuthentication",
        "DestinationRule",
        *GITOPS_KINDS,
    }
)
"""Kinds the cluster-wide rules (tools, control plane) read, beyond workloads and ConfigMaps."""
ANCHOR_KEY: Key = ("ClusterFacts", "", "cluster")
TOKEN_SECRET = "kubernetes.io/service-account-token"

PathView = dict[Key, frozenset[tuple[str, ...]]]
"""Escalation paths by the binding that grants their first hop (what ``rbac-escalation-path``
reports on that binding)."""


@dataclass(slots=True)
class Affected:
    """The objects to evaluate again; ``everything`` when a change may affect any object."""

    keys: set[Key] = field(default_factory=set)
    everything: bool = False
    paths: PathView | None = None
    """The new escalation path view, when it was computed again."""
    causes: dict[Key, Key] = field(default_factory=dict)
    """For each object re-evaluated because of another's change (not its own), the changed
    object that brought it in (the first, when several did): who changed that one is who changed
    the dependent's findings."""


def path_view(inventory: Inventory) -> PathView:
    view: dict[Key, set[tuple[str, ...]]] = {}
    for path in escalation_paths(inventory):
        holding = path.first.holding
        if path.default or holding is None:
            continue
        entry = (path.describe(), path.start.display(), path.goal.id, str(len(path.moves)))
        view.setdefault(key_of(holding.binding.ref), set()).add(entry)
    return {key: frozenset(entries) for key, entries in view.items()}


def affected(
    deltas: Iterable[Delta],
    old: Inventory,
    new: Inventory,
    children: Callable[[K8sObject | None], set[Key]],
    in_namespace: Callable[[str], Iterator[Key]],
    paths: PathView | None,
) -> Affected:
    """Every object a batch of deltas may change the findings of (see the module docstring).
    ``paths`` is the escalation path view of ``old`` (None: not known, computed from ``old``)."""
    out = Affected()
    changed: set[Key] = set()
    paths_cause: Key | None = None
    for delta in deltas:
        changed.add(delta.key)
        if delta.key[0] == "ClusterFacts":
            continue
        mine: set[Key] = set()
        if _dependents(delta, old, new, children, in_namespace, mine, out):
            paths_cause = paths_cause or delta.key
        for key in mine:
            out.causes.setdefault(key, delta.key)
        out.keys |= mine
    if paths_cause is not None:
        before = paths if paths is not None else path_view(old)
        after = path_view(new)
        for key in set(before) | set(after):
            if before.get(key) != after.get(key):
                out.keys.add(key)
                out.causes.setdefault(key, paths_cause)
        out.paths = after
    out.keys |= changed
    for key in changed:
        out.causes.pop(key, None)
    return out


def _dependents(
    delta: Delta,
    old: Inventory,
    new: Inventory,
    children: Callable[[K8sObject | None], set[Key]],
    in_namespace: Callable[[str], Iterator[Key]],
    keys: set[Key],
    out: Affected,
) -> bool:
    """Add what one delta affects to ``keys`` (``everything`` to ``out``); True when escalation
    paths may have changed."""
    kind, namespace, name = delta.key
    objs = [o for o in (delta.old, delta.new) if o is not None]
    paths_touched = False
    if kind in WORKLOADS:
        for obj in objs:
            keys.update(children(obj))
        keys.add(("Namespace", "", effective_namespace(namespace)))
        paths_touched = _differs(_mounted, delta)
        if _differs(_tooling, delta):
            keys.add(ANCHOR_KEY)
    elif kind == "NetworkPolicy":
        keys.update(_workloads_in(new, namespace))
        keys.add(("Namespace", "", effective_namespace(namespace)))
    elif kind == "ServiceAccount":
        keys.update(_running_as(new, [(effective_namespace(namespace), name)], everyone=False))
        keys.update(_bindings_naming(new, namespace, name))
        paths_touched = True
    elif kind in RBAC_ROLE_KINDS:
        _role_dependents(delta.key, old, new, keys)
        paths_touched = True
    elif kind in RBAC_BINDING_KINDS:
        for obj in objs:
            for role in _role_of(obj):
                keys.add(role)
                keys.update(_aggregated_into(role, old, new))
            keys.update(_subject_workloads(new, obj))
        paths_touched = True
    elif kind == "Namespace":
        keys.update(in_namespace(name))
        keys.add(ANCHOR_KEY)
    elif kind in ("Service", "Ingress"):
        _exposed(delta, old, new, keys)
    elif kind == "Secret":
        paths_touched = _differs(_token_owner, delta)
    elif kind == "ConfigMap" and any(_holds_config(obj) for obj in objs):
        keys.add(ANCHOR_KEY)
    if kind in GITOPS_KINDS:
        out.everything = True
    elif kind in ANCHOR_KINDS:
        keys.add(ANCHOR_KEY)
    if gitops_tracking_changed(delta):
        keys.update(in_namespace(effective_namespace(namespace)))
    return paths_touched


def _role_dependents(role: Key, old: Inventory, new: Inventory, keys: set[Key]) -> None:
    bindings = set(_bindings_of_role(old, role)) | set(_bindings_of_role(new, role))
    keys.update(bindings)
    keys.update(_aggregating(old) | _aggregating(new))
    keys.update(_aggregated_into(role, old, new))
    for inventory in (old, new):
        for key in bindings:
            binding = inventory.get(*key)
            if binding is not None:
                keys.update(_subject_workloads(new, binding))


def _exposed(delta: Delta, old: Inventory, new: Inventory, keys: set[Key]) -> None:
    """The workloads a Service selects, or those of the Services an Ingress routes to."""
    kind, namespace, _ = delta.key
    for obj in (delta.old, delta.new):
        if obj is None:
            continue
        if kind == "Service":
            keys.update(_selected(new, obj))
            continue
        for service_name in _backend_services(obj):
            for inventory in (old, new):
                service = inventory.get("Service", namespace, service_name)
                if service is not None:
                    keys.update(_selected(new, service))


# -- what parts of an object each dependency reads -----------------------------------------------


def _differs(view: Callable[[K8sObject], Any], delta: Delta) -> bool:
    before = view(delta.old) if delta.old is not None else None
    after = view(delta.new) if delta.new is not None else None
    return bool(before != after)


def _mounted(obj: K8sObject) -> tuple[str, bool] | None:
    """The ServiceAccount a workload runs as and whether its token is set to be mounted."""
    ref = pod_spec(obj)
    if ref is None:
        return None
    name, _ = service_account_of(ref.spec)
    mounted, _ = token_mount(ref.spec, None)
    return name, mounted


def _tooling(obj: K8sObject) -> tuple[Any, ...]:
    """What tool detection and control-plane flags read of a workload: names, images, commands,
    arguments, pod-template annotations."""
    meta = pod_template_metadata(obj)
    annotations = meta.spec.get("annotations") if meta is not None else None
    return (
        tuple(
            (
                c.container.get("name"),
                c.container.get("image"),
                _plain(c.container.get("command")),
                _plain(c.container.get("args")),
            )
            for c in containers(obj)
        ),
        _plain(annotations),
        _plain(obj.labels),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _plain(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def _token_owner(obj: K8sObject) -> tuple[Any, ...]:
    if obj.raw.get("type") != TOKEN_SECRET:
        return ()
    return (obj.annotations.get("kubernetes.io/service-account.name"),)


def _gitops_tracking(obj: K8sObject | None) -> tuple[Any, ...]:
    """Argo CD and Flux tracking metadata (an absent object has none)."""
    if obj is None:
        return (), (), None
    labels = tuple(sorted(k for k in obj.labels if "fluxcd.io/" in str(k)))
    argo = tuple(sorted(k for k in obj.annotations if str(k).startswith("argocd.argoproj.io/")))
    instance = obj.labels.get("app.kubernetes.io/instance") if argo else None
    return labels, argo, instance


def gitops_tracking_changed(delta: Delta) -> bool:
    """Whether a change shows in which namespaces GitOps manages: tracking metadata added,
    removed or changed, or an object carrying it created or deleted (an object without any coming
    or going changes nothing)."""
    return _gitops_tracking(delta.old) != _gitops_tracking(delta.new)


def _holds_config(obj: K8sObject) -> bool:
    if obj.ref.namespace == "kube-system" and "kubelet" in obj.ref.name:
        return True
    data = obj.raw.get("data")
    if not isinstance(data, Mapping):
        return False
    return any(
        isinstance(v, str) and ("EncryptionConfiguration" in v or "KubeletConfiguration" in v)
        for v in data.values()
    )


# -- lookups -----------------------------------------------------------------------------------------


def _workloads_in(inventory: Inventory, namespace: str) -> Iterator[Key]:
    wanted = effective_namespace(namespace)
    for kind in WORKLOAD_KINDS:
        for obj in inventory.of_kind(kind):
            if effective_namespace(obj.ref.namespace) == wanted:
                yield key_of(obj.ref)


def _running_as(
    inventory: Inventory, accounts: Iterable[tuple[str, str]], *, everyone: bool
) -> Iterator[Key]:
    """Workloads running as one of ``accounts`` ((namespace, name); name ``*``: any account of
    the namespace; namespace ``*``: any namespace), or every workload when ``everyone``."""
    wanted = set(accounts)
    if not wanted and not everyone:
        return
    for kind in WORKLOAD_KINDS:
        for obj in inventory.of_kind(kind):
            ref = pod_spec(obj)
            if ref is None:
                continue
            namespace = effective_namespace(obj.ref.namespace)
            name, _ = service_account_of(ref.spec)
            if (
                everyone
                or (namespace, name) in wanted
                or (namespace, "*") in wanted
                or ("*", "*") in wanted
            ):
                yield key_of(obj.ref)


def _subject_workloads(inventory: Inventory, binding: K8sObject) -> Iterator[Key]:
    accounts: list[tuple[str, str]] = []
    everyone = False
    for subject in subjects(binding):
        if subject.kind == "ServiceAccount":
            namespace = subject.namespace or binding.ref.namespace
            accounts.append((effective_namespace(namespace), subject.name))
        elif subject.kind == "Group":
            if subject.name in ("system:serviceaccounts", "system:authenticated"):
                everyone = True
            elif subject.name.startswith("system:serviceaccounts:"):
                accounts.append((subject.name.split(":", 2)[2], "*"))
    return _running_as(inventory, accounts, everyone=everyone)


def _bindings_naming(inventory: Inventory, namespace: str, name: str) -> Iterator[Key]:
    for kind in RBAC_BINDING_KINDS:
        for binding in inventory.of_kind(kind):
            for subject in subjects(binding):
                if (
                    subject.kind == "ServiceAccount"
                    and subject.name == name
                    and (subject.namespace or binding.ref.namespace) == namespace
                ):
                    yield key_of(binding.ref)
                    break


def _role_ref(binding: K8sObject) -> tuple[str, str]:
    ref = binding.raw.get("roleRef")
    if not isinstance(ref, Mapping):
        return "", ""
    return str(ref.get("kind") or ""), str(ref.get("name") or "")


def _role_of(binding: K8sObject) -> Iterator[Key]:
    kind, name = _role_ref(binding)
    if kind == "Role":
        yield ("Role", binding.ref.namespace, name)
    elif kind == "ClusterRole":
        yield ("ClusterRole", "", name)


def _bindings_of_role(inventory: Inventory, role: Key) -> Iterator[Key]:
    kind, namespace, name = role
    for binding_kind in RBAC_BINDING_KINDS:
        for binding in inventory.of_kind(binding_kind):
            if _role_ref(binding) != (kind, name):
                continue
            if kind == "Role" and binding.ref.namespace != namespace:
                continue
            yield key_of(binding.ref)


def _aggregated_into(role: Key, old: Inventory, new: Inventory) -> set[Key]:
    """The ClusterRoles aggregated into ``role`` before or after: their findings name who holds
    them, and that is who is bound to ``role``."""
    kind, _, name = role
    if kind != "ClusterRole":
        return set()
    return {
        ("ClusterRole", "", source)
        for inventory in (old, new)
        for source in aggregated_sources(name, inventory)
    }


def _aggregating(inventory: Inventory) -> set[Key]:
    return {
        key_of(role.ref)
        for role in inventory.of_kind("ClusterRole")
        if isinstance(role.raw.get("aggregationRule"), Mapping)
    }


def _selected(inventory: Inventory, service: K8sObject) -> Iterator[Key]:
    selector = service_selector(service)
    if not selector:
        return
    for key in _workloads_in(inventory, service.ref.namespace):
        obj = inventory.get(*key)
        if obj is not None:
            labels = pod_labels(obj)
            if all(labels.get(k) == v for k, v in selector.items()):
                yield key


def _backend_services(ingress: K8sObject) -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            service = node.get("service")
            if isinstance(service, Mapping) and isinstance(service.get("name"), str):
                names.add(service["name"])
            if isinstance(node.get("serviceName"), str):
                names.add(node["serviceName"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(ingress.raw.get("spec"))
    return names
