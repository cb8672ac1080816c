"""Owner chains: which objects a controller in the same scan already stands for.

A live cluster holds a Deployment, its ReplicaSets and their Pods, all with the same pod template;
judging each would report one problem three times. An object is *covered* when its controlling
``ownerReference`` (``controller: true``) names a workload in the scan whose pod spec is the same
once the fields the API server and admission add to pods (node name, service-account token volume
and mounts, default tolerations, priority, ``enableServiceLinks: true``, the ``default``
ServiceAccount name, requests copied from limits) are set aside. A pod that differs from its owner's
template (an ephemeral debug container, an old revision) is judged on its own. Controllers add
their own fields too: the DaemonSet controller pins each pod to its node (a required node affinity
term matching ``metadata.name``, merged into the template's affinity or replacing its required
terms) and adds node-condition tolerations; the StatefulSet controller sets ``hostname`` and
``subdomain`` and adds one PersistentVolumeClaim volume per ``volumeClaimTemplates`` entry. Those
are set aside as well.

A Deployment's ReplicaSet whose template is no longer the Deployment's is an earlier revision:
it is not judged, whether scaled to zero or still running pods mid-rollout (the rollout replaces
them), nor, read live, when its Deployment is not there (just deleted; the garbage collector removes it
next; read from files, its Deployment may simply not be among them, and it is judged).
Judging it would
open findings on every fix and resolve them as "fixed" on every re-break. ``kubectl rollout undo``
brings a revision back by copying its template into the Deployment, which is judged then. The
scanner and the watcher both decide through ``covered``. Pure: the
result depends only on the objects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kposture.inventory.workloads import WORKLOAD_KINDS, pod_spec
from kposture.model import K8sObject

if TYPE_CHECKING:
    from kposture.inventory.objects import Inventory

SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_ADDED_TOLERATIONS = frozenset(
    {
        # DefaultTolerationSeconds admission (every pod) and the DaemonSet controller:
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        # the DaemonSet controller only:
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/network-unavailable",
    }
)
_ADDED_EFFECTS = frozenset({"NoExecute", "NoSchedule"})
_NODE_NAME_FIELD = "metadata.name"
"""The field a DaemonSet pod's node affinity term matches (``matchFields``) to pin it to a node."""
_POD_ONLY_FIELDS = (
    "nodeName",
    "priority",
    "preemptionPolicy",
    "ephemeralContainers",
    "hostname",  # the StatefulSet controller names each pod's host after the pod
    "subdomain",  # and puts it under the set's governing Service
)


@dataclass(frozen=True, slots=True)
class Coverage:
    """Objects covered by an owner (skipped when judging) and, per reporting owner, what it covers."""

    covered: frozenset[int]
    """``id()`` of each covered object."""
    by_owner: Mapping[int, Counter[str]]
    """``id()`` of the top owner that findings are reported on -> covered objects per kind."""
    history: Mapping[int, int] = field(default_factory=dict)
    """``id()`` of a Deployment -> its earlier revisions (ReplicaSets of another template, not
    judged)."""

    def note(self, owner: K8sObject) -> str:
        counts = self.by_owner.get(id(owner))
        sentences = []
        if counts:
            parts = [_count(kind, n) for kind, n in sorted(counts.items(), key=_pods_last)]
            verb = "is" if sum(counts.values()) == 1 else "are"
            sentences.append(
                f"{' and '.join(parts)} with the same pod template {verb} not reported "
                "separately; its findings stand for them"
            )
        old = self.history.get(id(owner), 0)
        if old:
            sentences.append(
                f"{_count('ReplicaSet', old)} of an earlier template {'is' if old == 1 else 'are'} "
                "its rollout history, not judged (kubectl rollout undo would bring one back into "
                "the Deployment, judged then)"
            )
        return f"{owner.ref.display()}: {'; '.join(sentences)}" if sentences else ""


def _pods_last(item: tuple[str, int]) -> tuple[bool, str]:
    return (item[0] == "Pod", item[0])


def _count(kind: str, n: int) -> str:
    if kind == "Pod":
        return f"{n} pod{'s' if n != 1 else ''}"
    return f"{n} {kind}{'s' if n != 1 else ''}"


def _controller(obj: K8sObject) -> Mapping[str, Any] | None:
    refs = obj.metadata.get("ownerReferences")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref
    return None


def _without_token(items: object, *, mounts: bool) -> object:
    if not isinstance(items, list):
        return items
    if mounts:
        return [m for m in items if not (isinstance(m, Mapping) and _is_token_mount(m))]
    return [v for v in items if not (isinstance(v, Mapping) and _is_token_volume(v))]


def _is_token_mount(mount: Mapping[str, Any]) -> bool:
    return mount.get("mountPath") == SERVICE_ACCOUNT_MOUNT


def _is_token_volume(volume: Mapping[str, Any]) -> bool:
    name = volume.get("name")
    secret = volume.get("secret")
    secret_name = secret.get("secretName") if isinstance(secret, Mapping) else None
    return isinstance(name, str) and (
        name.startswith("kube-api-access-")
        or (isinstance(secret_name, str) and "-token-" in secret_name and name == secret_name)
    )


def _is_claim_volume(volume: Mapping[str, Any]) -> bool:
    """A volume the StatefulSet controller adds for a ``volumeClaimTemplates`` entry: named after
    the template, claiming ``<template>-<set>-<ordinal>``."""
    name = volume.get("name")
    claim = volume.get("persistentVolumeClaim")
    claim_name = claim.get("claimName") if isinstance(claim, Mapping) else None
    return (
        isinstance(name, str)
        and isinstance(claim_name, str)
        and claim_name.startswith(f"{name}-")
        and claim_name.rsplit("-", 1)[-1].isdigit()
    )


def _is_added_toleration(toleration: object) -> bool:
    return (
        isinstance(toleration, Mapping)
        and toleration.get("key") in _ADDED_TOLERATIONS
        and toleration.get("effect") in _ADDED_EFFECTS
        and toleration.get("operator", "Exists") == "Exists"
        and not toleration.get("value")
    )


def _is_node_name_requirement(requirement: object) -> bool:
    return isinstance(requirement, Mapping) and requirement.get("key") == _NODE_NAME_FIELD


def _without_node_pin(affinity: object) -> object:
    """``affinity`` without the DaemonSet controller's ``metadata.name`` match fields; required
    terms left empty, and then empty parents, are removed."""
    if not isinstance(affinity, Mapping):
        return affinity
    node = affinity.get("nodeAffinity")
    required = (
        node.get("requiredDuringSchedulingIgnoredDuringExecution")
        if isinstance(node, Mapping)
        else None
    )
    terms = required.get("nodeSelectorTerms") if isinstance(required, Mapping) else None
    if not isinstance(node, Mapping) or not isinstance(required, Mapping):
        return affinity
    if not isinstance(terms, list):
        return affinity
    kept_terms: list[object] = []
    for term in terms:
        if not isinstance(term, Mapping):
            kept_terms.append(term)
            continue
        fields = term.get("matchFields")
        new_term = dict(term)
        if isinstance(fields, list):
            kept = [f for f in fields if not _is_node_name_requirement(f)]
            if kept:
                new_term["matchFields"] = kept
            else:
                del new_term["matchFields"]
        if new_term:
            kept_terms.append(new_term)
    new_required = {k: v for k, v in required.items() if k != "nodeSelectorTerms"}
    if kept_terms:
        new_required["nodeSelectorTerms"] = kept_terms
    new_node = {
        k: v for k, v in node.items() if k != "requiredDuringSchedulingIgnoredDuringExecution"
    }
    if new_required:
        new_node["requiredDuringSchedulingIgnoredDuringExecution"] = new_required
    out = {k: v for k, v in affinity.items() if k != "nodeAffinity"}
    if new_node:
        out["nodeAffinity"] = new_node
    return out


def _pinned_only(spec: Mapping[str, Any]) -> bool:
    """Whether the required node affinity is nothing but the DaemonSet controller's node pin (the
    controller of Kubernetes 1.13+ replaces the template's required terms with it)."""
    affinity = spec.get("affinity")
    node = affinity.get("nodeAffinity") if isinstance(affinity, Mapping) else None
    required = (
        node.get("requiredDuringSchedulingIgnoredDuringExecution")
        if isinstance(node, Mapping)
        else None
    )
    terms = required.get("nodeSelectorTerms") if isinstance(required, Mapping) else None
    return (
        isinstance(terms, list)
        and bool(terms)
        and all(
            isinstance(term, Mapping)
            and set(term) == {"matchFields"}
            and isinstance(term["matchFields"], list)
            and all(_is_node_name_requirement(f) for f in term["matchFields"])
            for term in terms
        )
    )


def comparable_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A pod spec without what the API server, admission and the workload controllers add to pods
    but not to templates."""
    out = {key: value for key, value in spec.items() if key not in _POD_ONLY_FIELDS}
    if out.get("enableServiceLinks") is True:
        del out["enableServiceLinks"]  # defaulted on pods only (1.20), never on templates
    out.pop("serviceAccount", None)  # the deprecated alias of serviceAccountName
    if out.get("serviceAccountName") == "default":
        del out["serviceAccountName"]  # the ServiceAccount admission plugin names it on pods
    if "volumes" in out:
        volumes = _without_token(out["volumes"], mounts=False)
        if isinstance(volumes, list):
            volumes = [v for v in volumes if not (isinstance(v, Mapping) and _is_claim_volume(v))]
        out["volumes"] = volumes
        if not out["volumes"]:
            del out["volumes"]
    if "affinity" in out:
        out["affinity"] = _without_node_pin(out["affinity"])
        if not out["affinity"]:
            del out["affinity"]
    tolerations = out.get("tolerations")
    if isinstance(tolerations, list):
        kept = [t for t in tolerations if not _is_added_toleration(t)]
        if kept:
            out["tolerations"] = kept
        else:
            del out["tolerations"]
    for list_name in ("initContainers", "containers"):
        containers = out.get(list_name)
        if isinstance(containers, list):
            out[list_name] = [_container(c) for c in containers]
    return out


def _container(container: object) -> object:
    if not isinstance(container, Mapping):
        return container
    copy = dict(container)
    if "volumeMounts" in copy:
        copy["volumeMounts"] = _without_token(copy["volumeMounts"], mounts=True)
        if not copy["volumeMounts"]:
            del copy["volumeMounts"]
    resources = copy.get("resources")
    limits = resources.get("limits") if isinstance(resources, Mapping) else None
    if isinstance(resources, Mapping) and isinstance(limits, Mapping) and limits:
        # Pod defaulting copies limits into unset requests; templates are not defaulted so.
        requests = resources.get("requests")
        merged = {**limits, **(requests if isinstance(requests, Mapping) else {})}
        copy["resources"] = {**resources, "requests": merged}
    return copy


def _same_template(obj: K8sObject, owner: K8sObject) -> bool:
    mine, theirs = pod_spec(obj), pod_spec(owner)
    if mine is None or theirs is None:
        return False
    if obj.ref.kind == "Pod" and mine.spec.get("ephemeralContainers"):
        return False  # a debug container was added to this pod: it is not the template any more
    pod, template = comparable_spec(mine.spec), comparable_spec(theirs.spec)
    if owner.ref.kind == "DaemonSet" and _pinned_only(mine.spec):
        # The controller replaced the template's required node terms with its pin.
        for spec in (pod, template):
            _drop_required_node_affinity(spec)
    return pod == template


def _drop_required_node_affinity(spec: dict[str, Any]) -> None:
    affinity = spec.get("affinity")
    node = affinity.get("nodeAffinity") if isinstance(affinity, Mapping) else None
    if not isinstance(affinity, Mapping) or not isinstance(node, Mapping):
        return
    node = {k: v for k, v in node.items() if k != "requiredDuringSchedulingIgnoredDuringExecution"}
    rest = {k: v for k, v in affinity.items() if k != "nodeAffinity"}
    if node:
        rest["nodeAffinity"] = node
    if rest:
        spec["affinity"] = rest
    else:
        del spec["affinity"]


def owner_coverage(objects: Sequence[K8sObject]) -> Coverage:
    """Which workloads are covered by a controlling owner in ``objects``, and the counts per
    top owner (a Pod of a ReplicaSet of a Deployment counts for the Deployment)."""
    workloads = [o for o in objects if o.ref.kind in WORKLOAD_KINDS]
    by_uid: dict[str, K8sObject] = {}
    by_name: dict[tuple[str, str, str], K8sObject] = {}
    for obj in workloads:
        uid = obj.metadata.get("uid")
        if isinstance(uid, str) and uid:
            by_uid[uid] = obj
        by_name[(obj.ref.kind, obj.ref.namespace, obj.ref.name)] = obj
    parent: dict[int, K8sObject] = {}

    def named(kind: str, namespace: str, name: str) -> K8sObject | None:
        return by_name.get((kind, namespace, name))

    retired: set[int] = set()
    history: Counter[int] = Counter()
    for obj in workloads:
        found = _standing(obj, by_uid.get, named)
        if found is None:
            if _orphaned_history(obj, by_uid.get, named):
                retired.add(id(obj))
            continue
        owner, same_template = found
        if same_template:
            parent[id(obj)] = owner
        else:
            retired.add(id(obj))
            history[id(owner)] += 1
    by_owner: dict[int, Counter[str]] = {}
    for obj in workloads:
        if id(obj) not in parent:
            continue
        top = _top(obj, parent)
        by_owner.setdefault(id(top), Counter())[obj.ref.kind] += 1
    return Coverage(frozenset(parent) | retired, by_owner, dict(history))


WorkloadByUid = Callable[[str], K8sObject | None]
"""A workload by its uid (None when no workload has it)."""
WorkloadByName = Callable[[str, str, str], K8sObject | None]
"""A workload by kind, namespace and name (None when there is no such workload)."""


def standing_owner(
    obj: K8sObject, by_uid: WorkloadByUid, by_name: WorkloadByName
) -> K8sObject | None:
    """The controlling owner whose findings stand for ``obj`` (the same pod template), found by
    the owner reference's uid, else by its kind and name in ``obj``'s namespace; None when ``obj``
    is judged on its own. Lets a caller that judges a few objects skip the covered ones without
    computing the coverage of a whole inventory. A Deployment stands for its ReplicaSets whatever
    their template: one of another template is an earlier revision."""
    found = _standing(obj, by_uid, by_name)
    return found[0] if found is not None else None


def covered(obj: K8sObject, by_uid: WorkloadByUid, by_name: WorkloadByName) -> bool:
    """Whether ``obj`` is not judged on its own, as ``owner_coverage`` decides: an owner stands
    for it (``standing_owner``), or it is a ReplicaSet whose controlling Deployment is not there.
    Live, that Deployment was just deleted: the garbage collector deletes the ReplicaSet next (or,
    for an orphaning delete, removes its owner reference, and it is judged then); judging it
    meanwhile would reopen the Deployment's findings on it for a moment. Read from files, such a
    ReplicaSet is judged: its Deployment may simply not be among them."""
    return _standing(obj, by_uid, by_name) is not None or _orphaned_history(obj, by_uid, by_name)


_LIVE_ORIGIN = "cluster"
"""The origin ``sources.cluster`` gives objects read from a live API server."""


def _orphaned_history(obj: K8sObject, by_uid: WorkloadByUid, by_name: WorkloadByName) -> bool:
    """A live ReplicaSet whose controlling Deployment is not in the inventory: just deleted, the
    garbage collector removes the ReplicaSet next. (Read from files, the Deployment may simply not
    be among them: judged.)"""
    ref = _controller(obj)
    return (
        obj.location is not None
        and obj.location.origin == _LIVE_ORIGIN
        and ref is not None
        and ref.get("kind") == "Deployment"
        and _find_owner(ref, obj, by_uid, by_name) is None
        and obj.ref.kind == "ReplicaSet"
    )


def _standing(
    obj: K8sObject, by_uid: WorkloadByUid, by_name: WorkloadByName
) -> tuple[K8sObject, bool] | None:
    """``standing_owner`` and whether it stands for ``obj`` by the same pod template (False: as
    rollout history)."""
    ref = _controller(obj)
    if ref is None:
        return None
    owner = _find_owner(ref, obj, by_uid, by_name)
    if owner is None or owner is obj:
        return None
    if _same_template(obj, owner):
        return owner, True
    if _rollout_history(obj, owner):
        return owner, False
    return None


def _rollout_history(obj: K8sObject, owner: K8sObject) -> bool:
    """A Deployment's ReplicaSet of another template: an earlier revision, pods or not."""
    return owner.ref.kind == "Deployment" and obj.ref.kind == "ReplicaSet"


def _find_owner(
    ref: Mapping[str, Any],
    obj: K8sObject,
    by_uid: WorkloadByUid,
    by_name: WorkloadByName,
) -> K8sObject | None:
    uid = ref.get("uid")
    if isinstance(uid, str):
        owner = by_uid(uid)
        if owner is not None:
            return owner
    kind, name = ref.get("kind"), ref.get("name")
    if isinstance(kind, str) and isinstance(name, str):
        return by_name(kind, obj.ref.namespace, name)
    return None


def _top(obj: K8sObject, parent: Mapping[int, K8sObject]) -> K8sObject:
    seen = {id(obj)}
    current = parent[id(obj)]
    while id(current) in parent and id(current) not in seen:
        seen.add(id(current))
        current = parent[id(current)]
    return current


def coverage_notes(coverage: Coverage, owners: Iterable[K8sObject]) -> tuple[str, ...]:
    """One note per owner that stands for others, in the order of ``owners``."""
    return tuple(note for owner in owners if (note := coverage.note(owner)))


def inventory_coverage(inventory: Inventory) -> Coverage:
    """``owner_coverage`` of an inventory's objects, memoised in ``Inventory.derived``."""
    found = inventory.derived.get("owner_coverage")
    if not isinstance(found, Coverage):
        found = inventory.derived["owner_coverage"] = owner_coverage(inventory.objects)
    return found
