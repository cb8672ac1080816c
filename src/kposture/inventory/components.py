"""Control-plane components and their settings, found in the objects of a scan.

Owns: parsing a container's ``command`` + ``args`` into flags (``--a=b``, ``--a b``, repeated flags,
bare booleans, ``sh -c`` strings), finding kube-apiserver / etcd / kube-controller-manager /
kube-scheduler containers (static pods of kubeadm and kind, manifest files read from
``/etc/kubernetes/manifests``, hyperkube), the kubelet configurations a scan holds
(``KubeletConfiguration`` documents, kubeadm's ``kubelet-config`` ConfigMap, ``ClusterFacts``), the
EncryptionConfiguration documents (files or ConfigMap values), the ``ClusterFacts`` object a live
source adds, and whether a scan looks like a cluster at all (``cluster_signs``). Tool detection
(policy engines, log shippers, GitOps...) lives in ``inventory.tools``.

Everything is pure; per-object views are memoised in ``K8sObject.derived`` and per-scan views in
``Inventory.derived``, so every rule of the control-plane family shares one pass over the scan.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from kposture.inventory.workloads import ContainerRef, containers
from kposture.model import JsonPath, K8sObject

if TYPE_CHECKING:
    from kposture.inventory.objects import Inventory

API_SERVER = "kube-apiserver"
ETCD = "etcd"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
COMPONENT_NAMES = (API_SERVER, ETCD, CONTROLLER_MANAGER, SCHEDULER)
_HYPERKUBE_ALIASES = {
    "apiserver": API_SERVER,
    "controller-manager": CONTROLLER_MANAGER,
    "scheduler": SCHEDULER,
}

CLUSTER_FACTS_KIND = "ClusterFacts"
CLUSTER_FACTS_API_VERSION = "kposture.io/v1"
CLUSTER_ANCHOR_NAME = "cluster"
"""Name of the ClusterFacts object that cluster-wide findings attach to (declared or implied)."""
KUBELET_CONFIG_KIND = "KubeletConfiguration"
ENCRYPTION_CONFIG_KIND = "EncryptionConfiguration"
SYSTEM_NAMESPACE = "kube-system"
SYSTEM_WORKLOADS = frozenset(
    {"kube-proxy", "coredns", "kube-dns", "konnectivity-agent", "aws-node", "azure-cns"}
)
"""kube-system workloads every (managed or self-run) cluster has, but application repos do not."""
SNAPSHOT_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


# --- flags ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlagValue:
    """One occurrence of a flag: its value (``"true"`` for a bare boolean) and the path of the
    ``command[i]`` / ``args[i]`` element that sets it."""

    value: str
    path: JsonPath


Flags = Mapping[str, tuple[FlagValue, ...]]
"""Flag name (without dashes) to every occurrence, in command-line order."""


def _tokens(container: Mapping[str, Any], base: JsonPath) -> list[tuple[str, JsonPath]]:
    """``command`` then ``args`` as (token, path); a shell string (``sh -c "kube-apiserver --a=b"``)
    is split into its words, each pointing at the element that holds it."""
    out: list[tuple[str, JsonPath]] = []
    for field in ("command", "args"):
        items = container.get(field)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if not isinstance(item, str | int | float | bool):
                continue
            text = str(item)
            path = (*base, field, index)
            if any(ch.isspace() for ch in text.strip()) and "-" in text:
                try:
                    words = shlex.split(text)
                except ValueError:
                    words = text.split()
                out.extend((word, path) for word in words)
            else:
                out.append((text, path))
    return out


def parse_flags(tokens: Sequence[tuple[str, JsonPath]]) -> dict[str, tuple[FlagValue, ...]]:
    """Flags of a command line: ``--a=b`` and ``--a b`` give ``b``; ``--x`` followed by another flag
    (or nothing) is ``true``; a repeated flag keeps every occurrence. Words that are not flags and
    do not follow a bare flag (the binary, ``sh -c``) are ignored."""
    found: dict[str, list[FlagValue]] = {}
    index = 0
    while index < len(tokens):
        word, path = tokens[index]
        index += 1
        if not word.startswith("-") or word in ("-", "--") or word == "-c":
            continue
        name, eq, value = word.lstrip("-").partition("=")
        if not eq:
            following = tokens[index][0] if index < len(tokens) else None
            if following is not None and not following.startswith("-"):
                value = following
                index += 1
            else:
                value = "true"
        found.setdefault(name, []).append(FlagValue(value, path))
    return {name: tuple(values) for name, values in found.items()}


def last(flags: Flags, name: str) -> FlagValue | None:
    """The occurrence that takes effect (the last one, as with Go's pflag), or None when unset."""
    values = flags.get(name)
    return values[-1] if values else None


def flag_list(flags: Flags, name: str) -> list[str]:
    """A comma-separated list flag, all occurrences joined (``--enable-admission-plugins``)."""
    out: list[str] = []
    for occurrence in flags.get(name, ()):
        out.extend(part.strip() for part in occurrence.value.split(",") if part.strip())
    return out


def is_true(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "t", "yes")


# --- components -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Component:
    """One control-plane container: which component it runs, where, and its parsed flags."""

    name: str
    obj: K8sObject
    container: ContainerRef
    flags: Flags

    @property
    def container_path(self) -> JsonPath:
        return self.container.path


def _basename(word: str) -> str:
    return posixpath.basename(word.strip())


def _image_name(container: Mapping[str, Any]) -> str:
    image = str(container.get("image") or "")
    name = image.rsplit("/", 1)[-1]
    return name.split("@", 1)[0].split(":", 1)[0]


_MARKERS = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "hyperkube")


def _may_be_component(container: Mapping[str, Any]) -> bool:
    """A cheap pre-test on the image and the first words, so ordinary containers are never parsed."""
    head = [str(container.get("image") or "")]
    for field in ("command", "args"):
        items = container.get(field)
        if isinstance(items, list):
            head.extend(str(item)[:200] for item in items[:3])
    text = " ".join(head)
    return any(marker in text for marker in _MARKERS)


def _which(container: Mapping[str, Any], tokens: Sequence[tuple[str, JsonPath]]) -> str | None:
    words = [word for word, _ in tokens[:4]]
    for position, word in enumerate(words):
        base = _basename(word)
        if base in COMPONENT_NAMES:
            return base
        if base == "hyperkube" and position + 1 < len(words):
            following = words[position + 1]
            return _HYPERKUBE_ALIASES.get(
                following, following if following in COMPONENT_NAMES else None
            )
    # An image-only container (no command: the image's entrypoint runs) counts when its name agrees.
    name = container.get("name")
    image = _image_name(container)
    if image in COMPONENT_NAMES and name == image:
        return image
    return None


def components_of(obj: K8sObject) -> tuple[Component, ...]:
    """The control-plane containers of one workload (usually a static Pod), memoised per object."""
    memo = obj.derived
    cached: tuple[Component, ...] | None = memo.get("components")
    if cached is not None:
        return cached
    found: list[Component] = []
    for ref in containers(obj):
        if not _may_be_component(ref.container):
            continue
        tokens = _tokens(ref.container, ref.path)
        name = _which(ref.container, tokens)
        if name is not None:
            found.append(Component(name, obj, ref, parse_flags(tokens)))
    result = tuple(found)
    memo["components"] = result
    return result


MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
SOURCE_ANNOTATION = "kubernetes.io/config.source"


def is_static_pod(obj: K8sObject) -> bool:
    """Whether a Pod is a static pod (run by a kubelet from a file or URL, shown by the API server
    as a mirror pod): owned by a Node, annotated ``kubernetes.io/config.mirror`` or
    ``kubernetes.io/config.source: file|http``, or a control-plane component's manifest (kube-system
    or ``tier: control-plane``, as kubeadm writes to ``/etc/kubernetes/manifests``). Static pods
    cannot use ServiceAccounts, Secrets or ConfigMaps from the API."""
    if obj.ref.kind != "Pod":
        return False
    annotations = obj.annotations
    if MIRROR_ANNOTATION in annotations or annotations.get(SOURCE_ANNOTATION) in ("file", "http"):
        return True
    owners = obj.metadata.get("ownerReferences")
    for owner in owners if isinstance(owners, list) else []:
        if isinstance(owner, Mapping) and owner.get("kind") == "Node":
            return True
    if obj.ref.namespace == SYSTEM_NAMESPACE or obj.labels.get("tier") == "control-plane":
        return bool(components_of(obj))
    return False


# --- configuration documents ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigDocument:
    """A configuration document (KubeletConfiguration, EncryptionConfiguration) and where it lives:
    the object holding it and the path of the document inside that object (``()`` for a file that
    is the document itself, ``("data", key)`` for a ConfigMap value). ``embedded`` is true when the
    document is text inside the object, so field paths cannot go deeper than ``path``."""

    obj: K8sObject
    config: Mapping[str, Any]
    path: JsonPath
    embedded: bool
    label: str

    def field_path(self, *fields: str | int) -> JsonPath:
        return self.path if self.embedded else (*self.path, *fields)


def _load_text(text: str) -> Mapping[str, Any] | None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(text, Loader=loader)
    except yaml.YAMLError:
        return None
    return doc if isinstance(doc, Mapping) else None


def _embedded(obj: K8sObject, kind: str) -> Iterable[ConfigDocument]:
    data = obj.raw.get("data")
    if not isinstance(data, Mapping):
        return
    for key, text in data.items():
        if isinstance(text, str) and f"kind: {kind}" in text:
            doc = _load_text(text)
            if doc is not None and doc.get("kind") == kind:
                label = f"ConfigMap {obj.ref.namespace}/{obj.ref.name} key {key}"
                yield ConfigDocument(obj, doc, ("data", str(key)), True, label)


def config_documents(obj: K8sObject, kind: str) -> tuple[ConfigDocument, ...]:
    """The ``kind`` documents an object is or holds: the object itself, a ConfigMap value, or (for
    kubelet configuration) the ``kubelets[i].config`` entries of ClusterFacts. Memoised."""
    key = f"config:{kind}"
    cached: tuple[ConfigDocument, ...] | None = obj.derived.get(key)
    if cached is not None:
        return cached
    found: list[ConfigDocument] = []
    if obj.ref.kind == kind:
        found.append(ConfigDocument(obj, obj.raw, (), False, f"{kind} document"))
    elif obj.ref.kind == "ConfigMap":
        found.extend(_embedded(obj, kind))
    elif obj.ref.kind == CLUSTER_FACTS_KIND and kind == KUBELET_CONFIG_KIND:
        kubelets = obj.raw.get("kubelets")
        for index, entry in enumerate(kubelets if isinstance(kubelets, list) else []):
            config = entry.get("config") if isinstance(entry, Mapping) else None
            if isinstance(config, Mapping):
                node = str(entry.get("node", f"#{index}"))
                path: JsonPath = ("kubelets", index, "config")
                found.append(ConfigDocument(obj, config, path, False, f"kubelet of node {node}"))
    result = tuple(found)
    obj.derived[key] = result
    return result


# --- the scan as a whole --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """What a scan shows of the control plane: every component container, the kubelet and
    encryption configurations, the ClusterFacts object, and the signs that it is a cluster."""

    components: tuple[Component, ...]
    kubelet_configs: tuple[ConfigDocument, ...]
    encryption_configs: tuple[ConfigDocument, ...]
    facts: K8sObject | None
    signs: tuple[str, ...]

    def of(self, name: str) -> tuple[Component, ...]:
        return tuple(c for c in self.components if c.name == name)

    @property
    def cluster_like(self) -> bool:
        return bool(self.signs)


_CANDIDATE_KINDS = ("Pod", "DaemonSet", "Deployment", "StatefulSet")


def control_plane(inventory: Inventory) -> ControlPlane:
    """The control plane as the scan shows it, computed once per inventory."""
    cached: ControlPlane | None = inventory.derived.get("control_plane")
    if cached is not None:
        return cached
    found = [
        c for kind in _CANDIDATE_KINDS for o in inventory.of_kind(kind) for c in components_of(o)
    ]
    kubelets: list[ConfigDocument] = []
    encryption: list[ConfigDocument] = []
    for kind in (KUBELET_CONFIG_KIND, "ConfigMap", CLUSTER_FACTS_KIND):
        for obj in inventory.of_kind(kind):
            kubelets.extend(config_documents(obj, KUBELET_CONFIG_KIND))
    for kind in (ENCRYPTION_CONFIG_KIND, "ConfigMap"):
        for obj in inventory.of_kind(kind):
            encryption.extend(config_documents(obj, ENCRYPTION_CONFIG_KIND))
    facts = next(iter(inventory.of_kind(CLUSTER_FACTS_KIND)), None)
    anchor = inventory.cluster_anchor
    signs: tuple[str, ...] = ()
    if facts is not None:
        signs = (f"{CLUSTER_FACTS_KIND} {facts.ref.name}",)
    elif anchor is not None:
        signs = tuple(str(sign) for sign in anchor.raw.get("signs", ()))
    result = ControlPlane(tuple(found), tuple(kubelets), tuple(encryption), facts, signs)
    inventory.derived["control_plane"] = result
    return result


def cluster_signs(objects: Sequence[K8sObject]) -> tuple[str, ...]:
    """Why a scan looks like a cluster (a live listing, a snapshot, a control-plane node's
    manifests) rather than an application repository; empty when it does not.

    Signs: Node objects; a ClusterFacts object; a control-plane component; a kubelet configuration
    (a document, or kubeadm's ``kube-system/kubelet-config`` ConfigMap);
    a well-known kube-system workload (kube-proxy, CoreDNS...); or the kube-system, kube-public
    and kube-node-lease Namespace objects all declared (a namespace listing). RBAC objects in
    kube-system alone are not a sign: charts and bootstrap-policy dumps carry them too.
    """
    signs: list[str] = []
    namespaces: set[str] = set()
    for obj in objects:
        kind = obj.ref.kind
        if kind == "Node":
            signs.append(f"Node {obj.ref.name}")
        elif kind in (CLUSTER_FACTS_KIND, KUBELET_CONFIG_KIND):
            signs.append(f"{kind} {obj.ref.name}".rstrip())
        elif kind == "ConfigMap" and obj.ref.name.startswith("kubelet-config"):
            if obj.ref.namespace == SYSTEM_NAMESPACE:
                signs.append(f"ConfigMap kube-system/{obj.ref.name}")
        elif kind == "Namespace" and obj.ref.name in SNAPSHOT_NAMESPACES:
            namespaces.add(obj.ref.name)
        elif obj.ref.namespace == SYSTEM_NAMESPACE and kind in _CANDIDATE_KINDS:
            if _system_workload(obj):
                signs.append(f"{kind} kube-system/{obj.ref.name}")
        elif kind == "Pod" and components_of(obj):
            signs.append(f"control-plane Pod {obj.ref.name}")
        if len(signs) >= 3:
            break
    if namespaces == SNAPSHOT_NAMESPACES:
        signs.append("Namespaces kube-system, kube-public and kube-node-lease")
    return tuple(signs)


def _system_workload(obj: K8sObject) -> bool:
    name = obj.ref.name
    if obj.ref.kind == "Pod":
        # Pods of a DaemonSet or Deployment carry a generated suffix: kube-proxy-x7k2p.
        name = obj.labels.get("k8s-app") or obj.labels.get("component") or name
    return name in SYSTEM_WORKLOADS or bool(components_of(obj))


__all__ = [
    "API_SERVER",
    "CLUSTER_ANCHOR_NAME",
    "CLUSTER_FACTS_API_VERSION",
    "CLUSTER_FACTS_KIND",
    "COMPONENT_NAMES",
    "CONTROLLER_MANAGER",
    "ENCRYPTION_CONFIG_KIND",
    "ETCD",
    "KUBELET_CONFIG_KIND",
    "SCHEDULER",
    "Component",
    "ConfigDocument",
    "ControlPlane",
    "FlagValue",
    "Flags",
    "cluster_signs",
    "components_of",
    "config_documents",
    "control_plane",
    "flag_list",
    "is_static_pod",
    "is_true",
    "last",
    "parse_flags",
]
