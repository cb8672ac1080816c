"""Which security tooling a scan shows installed, and which namespaces a GitOps operator manages.

Owns ``detect_tools(inventory) -> ToolInventory``: admission policy engines, log shippers, runtime
detection, GitOps operators, external secret stores and service meshes, each recognised by
well-known workload names and images, CustomResourceDefinitions, custom resources, admission
webhook configurations, CSIDrivers, Namespace labels and pod-template annotations, with evidence
saying what was found where. Also owns ``gitops_namespaces`` (Argo CD and Flux tracking labels and
annotations, Applications, Kustomizations and HelmReleases) and ``latest_manager`` (the newest
``metadata.managedFields`` entry). Pure; each view is computed once per inventory.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kposture.inventory.objects import Inventory, namespace_of
from kposture.inventory.workloads import containers, pod_template_metadata
from kposture.model import K8sObject


class ToolCategory(enum.StrEnum):
    POLICY_ENGINE = "policy-engine"
    LOGGING_AGENT = "logging-agent"
    RUNTIME_DETECTION = "runtime-detection"
    GITOPS = "gitops"
    EXTERNAL_SECRETS = "external-secrets"
    SERVICE_MESH = "service-mesh"


@dataclass(frozen=True, slots=True)
class Signature:
    """How one tool shows itself. Names and images match as substrings of the workload name and
    of the image's last path segment; groups match CRD groups and custom resources' apiVersion;
    webhooks match webhook configuration names, webhook names and their service names."""

    category: ToolCategory
    tool: str
    names: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()
    daemonset_only: bool = False


_P, _L, _R = ToolCategory.POLICY_ENGINE, ToolCategory.LOGGING_AGENT, ToolCategory.RUNTIME_DETECTION
_G, _S, _M = ToolCategory.GITOPS, ToolCategory.EXTERNAL_SECRETS, ToolCategory.SERVICE_MESH

SIGNATURES: tuple[Signature, ...] = (
    Signature(_P, "kposture admission webhook", ("kposture",), ("kposture",), (), ("kposture",)),
    Signature(_P, "Kyverno", ("kyverno",), ("kyverno",), ("kyverno.io",), ("kyverno",)),
    Signature(
        _P,
        "OPA Gatekeeper",
        ("gatekeeper",),
        ("gatekeeper",),
        ("gatekeeper.sh",),
        ("gatekeeper",),
    ),
    Signature(_P, "Kubewarden", ("kubewarden",), ("kubewarden",), ("kubewarden.io",)),
    Signature(_P, "jsPolicy", ("jspolicy",), ("jspolicy",), ("jspolicy.com",), ("jspolicy",)),
    # Log shippers count only as DaemonSets: a collector Deployment does not read node logs.
    *(
        Signature(_L, tool, (pattern,), (pattern,), daemonset_only=True)
        for tool, pattern in (
            ("Fluent Bit", "fluent-bit"),
            ("Fluent Bit", "fluentbit"),
            ("Fluentd", "fluentd"),
            ("Vector", "vector"),
            ("Filebeat", "filebeat"),
            ("Elastic Agent", "elastic-agent"),
            ("Promtail", "promtail"),
            ("Grafana Alloy", "alloy"),
            ("Grafana Agent", "grafana-agent"),
            ("OpenTelemetry Collector", "otel-collector"),
            ("OpenTelemetry Collector", "opentelemetry-collector"),
            ("OpenTelemetry Collector", "otelcol"),
            ("Datadog Agent", "datadog"),
            ("Splunk OpenTelemetry Collector", "splunk-otel"),
            ("Logstash", "logstash"),
            ("CloudWatch agent", "cloudwatch-agent"),
            ("Azure Monitor agent", "ama-logs"),
            ("Azure Monitor agent", "omsagent"),
            ("Sumo Logic collector", "sumologic"),
        )
    ),
    Signature(_R, "Falco", ("falco",), ("falco",), ("falco.org",)),
    Signature(_R, "Tetragon", ("tetragon",), ("tetragon",), ("cilium.io/TracingPolicy",)),
    Signature(_R, "Tracee", ("tracee",), ("tracee",), ("tracee.aquasec.com",)),
    Signature(_R, "KubeArmor", ("kubearmor",), ("kubearmor",), ("security.kubearmor.com",)),
    Signature(_R, "Sysdig agent", ("sysdig-agent",), ("sysdig/agent",)),
    Signature(
        _R, "NeuVector", ("neuvector-enforcer",), ("neuvector/enforcer",), ("neuvector.com",)
    ),
    Signature(_R, "Prisma Cloud Defender", ("twistlock-defender",), ("twistlock/defender",)),
    Signature(_R, "kposture watcher", ("kposture-watch",), ()),
    Signature(
        _G,
        "Argo CD",
        ("argocd-application-controller", "argocd-server", "argocd-repo-server"),
        ("argoproj/argocd", "argo-cd"),
        ("argoproj.io/Application", "argoproj.io/AppProject"),
    ),
    Signature(
        _G,
        "Flux",
        ("kustomize-controller", "helm-controller", "source-controller"),
        ("fluxcd/kustomize-controller", "fluxcd/helm-controller", "fluxcd/source-controller"),
        ("toolkit.fluxcd.io",),
    ),
    Signature(
        _S,
        "External Secrets Operator",
        ("external-secrets",),
        ("external-secrets",),
        ("external-secrets.io",),
        ("external-secrets",),
    ),
    Signature(
        _S,
        "Vault agent injector",
        ("vault-agent-injector",),
        ("vault-k8s",),
        (),
        ("vault-agent-injector",),
    ),
    Signature(
        _S,
        "Vault Secrets Operator",
        ("vault-secrets-operator",),
        ("vault-secrets-operator",),
        ("secrets.hashicorp.com",),
    ),
    Signature(
        _S,
        "Secrets Store CSI driver",
        ("secrets-store-csi-driver", "csi-secrets-store"),
        ("secrets-store/driver", "csi-secrets-store"),
        ("secrets-store.csi.x-k8s.io",),
    ),
    Signature(
        _S,
        "Bank-Vaults webhook",
        ("vault-secrets-webhook",),
        ("vault-secrets-webhook",),
        (),
        ("vault-secrets-webhook",),
    ),
    Signature(_M, "Istio", ("istiod",), ("istio/pilot",), ("security.istio.io",), ("istio",)),
    Signature(
        _M,
        "Linkerd",
        ("linkerd-identity", "linkerd-destination"),
        ("linkerd/controller", "linkerd/proxy-identity"),
        ("linkerd.io",),
    ),
)

SECRETS_STORE_CSI_DRIVER = "secrets-store.csi.k8s.io"
VAULT_INJECT_ANNOTATION = "vault.hashicorp.com/agent-inject"
PSA_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
_WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Pod")
_CONTROLLERS = ("Deployment", "DaemonSet", "StatefulSet")

EVIDENCE_KINDS: Mapping[ToolCategory, tuple[str, ...]] = {
    ToolCategory.POLICY_ENGINE: (
        *_CONTROLLERS,
        "CustomResourceDefinition",
        *WEBHOOK_KINDS,
        "Namespace",
        "ValidatingAdmissionPolicy",
    ),
    ToolCategory.LOGGING_AGENT: ("DaemonSet",),
    ToolCategory.RUNTIME_DETECTION: (*_CONTROLLERS, "CustomResourceDefinition"),
    ToolCategory.GITOPS: (*_CONTROLLERS, "CustomResourceDefinition"),
    ToolCategory.EXTERNAL_SECRETS: (
        *_CONTROLLERS,
        "CustomResourceDefinition",
        *WEBHOOK_KINDS,
        "CSIDriver",
    ),
    ToolCategory.SERVICE_MESH: (*_CONTROLLERS, "CustomResourceDefinition"),
}
"""The kinds a scan must have listed to conclude that no tool of a category is installed: the
controllers tools run as (bare Pods are not needed) and the cluster-scoped kinds that show them."""


@dataclass(frozen=True, slots=True)
class DetectedTool:
    """One tool found in the scan, with what showed it (``DaemonSet logging/fluent-bit``...)."""

    category: ToolCategory
    tool: str
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ToolInventory:
    """Every tool the scan shows, by category."""

    tools: tuple[DetectedTool, ...]

    def of(self, category: ToolCategory) -> tuple[DetectedTool, ...]:
        return tuple(t for t in self.tools if t.category is category)

    def present(self, category: ToolCategory) -> bool:
        return any(t.category is category for t in self.tools)


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _image_names(obj: K8sObject) -> list[str]:
    names = []
    for ref in containers(obj):
        image = str(ref.container.get("image") or "")
        names.append(
            image.split("@", 1)[0].rsplit(":", 1)[0]
            if "/" in image
            else image.split(":", maxsplit=1)[0]
        )
    return names


def _match_workload(sig: Signature, obj: K8sObject, images: list[str]) -> str | None:
    if sig.daemonset_only and obj.ref.kind != "DaemonSet":
        return None
    where = obj.ref.display()
    name = obj.ref.name.lower()
    if any(pattern in name for pattern in sig.names):
        return f"{where} (name)"
    for image in images:
        if any(pattern in image.lower() for pattern in sig.images):
            return f"{where} (image {image})"
    return None


def _match_group(sig: Signature, group: str, kind: str) -> bool:
    for pattern in sig.groups:
        want_group, _, want_kind = pattern.partition("/")
        if (group == want_group or group.endswith("." + want_group)) and (
            not want_kind or kind == want_kind
        ):
            return True
    return False


def _webhook_names(obj: K8sObject) -> list[str]:
    names = [obj.ref.name.lower()]
    hooks = obj.raw.get("webhooks")
    for hook in hooks if isinstance(hooks, list) else []:
        if isinstance(hook, Mapping):
            names.append(str(hook.get("name", "")).lower())
            service = _mapping(_mapping(hook.get("clientConfig")).get("service"))
            names.append(str(service.get("name", "")).lower())
    return names


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _crd_group(obj: K8sObject) -> tuple[str, str]:
    spec = _mapping(obj.raw.get("spec"))
    kind = str(_mapping(spec.get("names")).get("kind", ""))
    return str(spec.get("group", "")), kind


def detect_tools(inventory: Inventory) -> ToolInventory:
    """Every tool the scan shows, computed once per inventory."""
    cached: ToolInventory | None = inventory.derived.get("tools")
    if cached is not None:
        return cached
    evidence: dict[tuple[ToolCategory, str], list[str]] = {}

    def add(sig_category: ToolCategory, tool: str, text: str) -> None:
        found = evidence.setdefault((sig_category, tool), [])
        if len(found) < 5 and text not in found:
            found.append(text)

    for kind in _WORKLOAD_KINDS:
        for obj in inventory.of_kind(kind):
            images = _image_names(obj)
            for sig in SIGNATURES:
                hit = _match_workload(sig, obj, images)
                if hit:
                    add(sig.category, sig.tool, hit)
            meta = pod_template_metadata(obj)
            annotations = _mapping(meta.spec.get("annotations")) if meta else {}
            if str(annotations.get(VAULT_INJECT_ANNOTATION, "")).lower() == "true":
                add(_S, "Vault agent injector", f"{obj.ref.display()} ({VAULT_INJECT_ANNOTATION})")
    for obj in inventory.of_kind("CustomResourceDefinition"):
        group, kind = _crd_group(obj)
        for sig in SIGNATURES:
            if _match_group(sig, group, kind):
                add(sig.category, sig.tool, f"CustomResourceDefinition {obj.ref.name}")
    for kind in WEBHOOK_KINDS:
        for obj in inventory.of_kind(kind):
            names = _webhook_names(obj)
            for sig in SIGNATURES:
                if any(p in n for p in sig.webhooks for n in names):
                    add(sig.category, sig.tool, obj.ref.display())
    _custom_resources(inventory, add)
    result = ToolInventory(
        tuple(DetectedTool(cat, tool, tuple(ev)) for (cat, tool), ev in evidence.items())
    )
    inventory.derived["tools"] = result
    return result


def _custom_resources(inventory: Inventory, add: Any) -> None:
    """Custom resources, CSIDrivers, admission policies and Pod Security Admission labels."""
    for obj in inventory.objects:
        group = _group(obj.ref.api_version)
        kind = obj.ref.kind
        if kind == "Namespace":
            level = obj.labels.get(PSA_ENFORCE_LABEL)
            if level:
                add(
                    _P,
                    "Pod Security Admission",
                    f"Namespace {obj.ref.name} ({PSA_ENFORCE_LABEL}={level})",
                )
        elif kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
            add(_P, "ValidatingAdmissionPolicy", obj.ref.display())
        elif kind == "CSIDriver" and obj.ref.name == SECRETS_STORE_CSI_DRIVER:
            add(_S, "Secrets Store CSI driver", obj.ref.display())
        elif group.endswith("x-k8s.io") or ("." in group and not group.endswith("k8s.io")):
            for sig in SIGNATURES:
                if _match_group(sig, group, kind):
                    add(sig.category, sig.tool, obj.ref.display())


# --- GitOps ---------------------------------------------------------------------------------------

ARGO_INSTANCE_LABEL = "app.kubernetes.io/instance"
ARGO_ANNOTATION_PREFIX = "argocd.argoproj.io/"
FLUX_LABEL_PREFIXES = ("kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")


def _tracking(obj: K8sObject) -> str | None:
    annotations = obj.annotations
    if any(str(key).startswith(ARGO_ANNOTATION_PREFIX) for key in annotations) and (
        ARGO_INSTANCE_LABEL in obj.labels or f"{ARGO_ANNOTATION_PREFIX}tracking-id" in annotations
    ):
        return f"Argo CD (tracking metadata on {obj.ref.display()})"
    for key in obj.labels:
        if str(key).startswith(FLUX_LABEL_PREFIXES):
            return f"Flux (label {key} on {obj.ref.display()})"
    return None


def gitops_namespaces(inventory: Inventory) -> Mapping[str, str]:
    """Namespace -> why a GitOps operator manages it: objects in it carry Argo CD or Flux tracking
    metadata, or an Argo CD Application, Flux Kustomization or HelmRelease deploys into it."""
    cached: Mapping[str, str] | None = inventory.derived.get("gitops_namespaces")
    if cached is not None:
        return cached
    found: dict[str, str] = {}
    for obj in inventory.objects:
        group = _group(obj.ref.api_version)
        spec = _mapping(obj.raw.get("spec"))
        target = ""
        if group == "argoproj.io" and obj.ref.kind == "Application":
            target = str(_mapping(spec.get("destination")).get("namespace") or "")
            reason = f"Argo CD (Application {obj.ref.namespace}/{obj.ref.name})"
        elif group.endswith("toolkit.fluxcd.io") and obj.ref.kind in (
            "Kustomization",
            "HelmRelease",
        ):
            target = str(spec.get("targetNamespace") or "")
            if not target and obj.ref.kind == "HelmRelease":
                target = namespace_of(obj)
            reason = f"Flux ({obj.ref.kind} {obj.ref.namespace}/{obj.ref.name})"
        else:
            tracked = _tracking(obj)
            target = namespace_of(obj) if tracked else ""
            reason = tracked or ""
        if target:
            found.setdefault(target, reason)
    inventory.derived["gitops_namespaces"] = found
    return found


@dataclass(frozen=True, slots=True)
class ManagerEntry:
    """The newest ``metadata.managedFields`` entry of an object and its index."""

    manager: str
    operation: str
    time: str
    index: int


def latest_manager(obj: K8sObject) -> ManagerEntry | None:
    """The entry with the latest ``time`` (RFC 3339 UTC strings sort by time; on a tie the later
    entry wins); status-subresource entries are skipped (controllers write status)."""
    entries = obj.metadata.get("managedFields")
    best: ManagerEntry | None = None
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, Mapping) or entry.get("subresource"):
            continue
        time = str(entry.get("time") or "")
        if best is None or time >= best.time:
            best = ManagerEntry(
                str(entry.get("manager", "")), str(entry.get("operation", "")), time, index
            )
    return best


__all__ = [
    "EVIDENCE_KINDS",
    "SIGNATURES",
    "DetectedTool",
    "ManagerEntry",
    "Signature",
    "ToolCategory",
    "ToolInventory",
    "detect_tools",
    "gitops_namespaces",
    "latest_manager",
]
