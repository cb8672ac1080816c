"""The admission webhook's install manifests (``kposture admission install``), rendered from data.

Owns what a hardened deployment of the webhook looks like: Namespace, ServiceAccount, optional TLS
Secret and policy ConfigMap, Deployment, PodDisruptionBudget, Service, NetworkPolicy and the
ValidatingWebhookConfiguration, each preceded by a comment saying why it is shaped that way. The
webhook's ``rules`` come from the API resources of ``admission_resources``.

It lives in ``reports`` because it is a pure renderer — data in, YAML or JSON text out, no I/O, no
clock — below the CLI that wires it. Reports may not import the rules, so the CLI asks the registry
which kinds its rules cover and passes their API resources in as data; the server
package, which owns TLS, could hold it too, but rendering documents is what this layer does. The
rendered documents must pass kposture's own scan with no finding above low (a unit test runs it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kposture.reports.admission_resources import ApiResource

APP_NAME = "kposture"
COMPONENT = "admission-webhook"
CONTAINER_PORT = 8443
WEBHOOK_PATH = "/validate"
TLS_MOUNT = "/etc/kposture/tls"
POLICY_MOUNT = "/etc/kposture/policy"
POLICY_KEY = "policy.yaml"
DATA_MOUNT = "/var/lib/kposture"
RUN_AS = 65532
"""The conventional non-root uid/gid of distroless images; any non-zero id works."""
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
EPHEMERAL_CONTAINERS = "pods/ephemeralcontainers"
LABELLED_SINCE = (1, 21)
"""Kubernetes sets the kubernetes.io/metadata.name label on every namespace from 1.21; policy/v1
PodDisruptionBudgets also arrive in 1.21."""
OLDEST_VERSION = (1, 16)
"""admissionregistration.k8s.io/v1 (the ValidatingWebhookConfiguration rendered) is GA in 1.16."""
FAILURE_POLICIES = ("Fail", "Ignore")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")


@dataclass(frozen=True, slots=True)
class TlsSecretData:
    """The serving certificate and key, rendered into a Secret only when the user asks for it."""

    certificate_pem: bytes
    key_pem: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class InstallSettings:
    """Everything ``render`` needs; validated by ``problems``."""

    image: str
    version: str
    ca_bundle_pem: bytes
    resources: tuple[ApiResource, ...]
    namespace: str = "kposture"
    service: str = "kposture-webhook"
    image_pull_policy: str = "IfNotPresent"
    replicas: int = 2
    failure_policy: str = "Fail"
    timeout_seconds: int = 5
    excluded_namespaces: tuple[str, ...] = ("kube-system",)
    policy_text: str | None = None
    tls_secret: TlsSecretData | None = None
    kubernetes_version: tuple[int, int] | None = None
    """The API server's (major, minor) when it is older than the manifests assume (1.21+):
    1.20 gets ``policy/v1beta1`` PodDisruptionBudgets and the namespace-label steps."""

    @property
    def labels_namespaces(self) -> bool:
        """Whether the API server sets ``kubernetes.io/metadata.name`` on every namespace (1.21+),
        which the webhook's namespaceSelector relies on to leave the excluded namespaces alone."""
        return self.kubernetes_version is None or self.kubernetes_version >= LABELLED_SINCE

    @property
    def tls_secret_name(self) -> str:
        return f"{self.service}-tls"

    @property
    def policy_config_map_name(self) -> str:
        return f"{self.service}-policy"


def problems(settings: InstallSettings) -> list[str]:
    """Everything wrong with ``settings`` (empty when ``render`` may proceed)."""
    found: list[str] = []
    if settings.failure_policy not in FAILURE_POLICIES:
        found.append(f"failure policy must be one of {', '.join(FAILURE_POLICIES)}")
    if settings.image_pull_policy not in PULL_POLICIES:
        found.append(f"image pull policy must be one of {', '.join(PULL_POLICIES)}")
    if not 1 <= settings.timeout_seconds <= 30:
        found.append("the webhook timeout must be 1 to 30 seconds (the API server's limits)")
    if settings.replicas < 1:
        found.append("replicas must be at least 1")
    if not settings.resources:
        found.append("no API resources to admit")
    version = settings.kubernetes_version
    if version is not None and version < OLDEST_VERSION:
        found.append(
            f"Kubernetes {version[0]}.{version[1]} is too old: the webhook configuration needs "
            "admissionregistration.k8s.io/v1 (1.16 or later)"
        )
    if not image_is_pinned(settings.image):
        found.append(
            f"image {settings.image!r} has no explicit tag or digest (':latest' is not pinned)"
        )
    return found


def image_is_pinned(image: str) -> bool:
    """Whether ``image`` names a digest or an explicit tag other than ``latest``."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    return bool(name) and bool(tag) and tag != "latest"


# --- documents ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """One manifest and the comment rendered above it in YAML."""

    comment: str
    body: Mapping[str, Any]


def _labels(settings: InstallSettings) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/instance": settings.service,
        "app.kubernetes.io/version": settings.version,
        "app.kubernetes.io/part-of": APP_NAME,
    }


def _selector(settings: InstallSettings) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": settings.service,
    }


def _meta(settings: InstallSettings, name: str, *, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = settings.namespace
    meta["labels"] = _labels(settings)
    return meta


def _namespace(settings: InstallSettings) -> Document:
    meta = _meta(settings, settings.namespace, namespaced=False)
    meta["labels"] = {
        **meta["labels"],
        # Set by the API server itself since 1.21; written here so older clusters match the
        # webhook's namespaceSelector too.
        NAMESPACE_NAME_LABEL: settings.namespace,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    return Document(
        "The webhook's own namespace, under the restricted Pod Security Standard. The webhook "
        "does not judge objects here (see namespaceSelector below), so a broken webhook can "
        "always be repaired.",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": meta},
    )


def _service_account(settings: InstallSettings) -> Document:
    return Document(
        "Least privilege: the webhook needs no Kubernetes API access at all - every request "
        "carries the object it judges, and namespace exemptions are applied by the API server "
        "through the webhook's namespaceSelector - so this ServiceAccount is bound to no Role "
        "and no token is mounted.",
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(settings, settings.service),
            "automountServiceAccountToken": False,
        },
    )


def _tls_secret(settings: InstallSettings, data: TlsSecretData) -> Document:
    return Document(
        "The serving certificate AND ITS PRIVATE KEY: rendered only because --include-secret "
        "asked for it, so that this output can be applied directly. Apply it, never commit or "
        "store it (kposture's own scan reports it as secret-in-manifest).",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta(settings, settings.tls_secret_name),
            "type": "kubernetes.io/tls",
            "data": {
                "tls.crt": base64.b64encode(data.certificate_pem).decode("ascii"),
                "tls.key": base64.b64encode(data.key_pem).decode("ascii"),
            },
        },
    )


def _policy_config_map(settings: InstallSettings, text: str) -> Document:
    return Document(
        "The admission policy (modes per rule and namespace, exemptions), mounted read-only.",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(settings, settings.policy_config_map_name),
            "data": {POLICY_KEY: text},
        },
    )


def _serve_args(settings: InstallSettings) -> list[str]:
    args = [
        "serve",
        "--host",
        "0.0.0.0",  # inside the pod; the NetworkPolicy limits who reaches it
        "--port",
        str(CONTAINER_PORT),
        "--tls-cert",
        f"{TLS_MOUNT}/tls.crt",
        "--tls-key",
        f"{TLS_MOUNT}/tls.key",
        "--db",
        f"sqlite:///{DATA_MOUNT}/kposture.db",
    ]
    if settings.policy_text is not None:
        args += ["--policy", f"{POLICY_MOUNT}/{POLICY_KEY}"]
    return args


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "https", "scheme": "HTTPS"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _container(settings: InstallSettings) -> dict[str, Any]:
    mounts: list[dict[str, Any]] = [
        {"name": "tls", "mountPath": TLS_MOUNT, "readOnly": True},
        {"name": "data", "mountPath": DATA_MOUNT},
        {"name": "tmp", "mountPath": "/tmp"},  # an emptyDir, not the host's /tmp
    ]
    if settings.policy_text is not None:
        mounts.append({"name": "policy", "mountPath": POLICY_MOUNT, "readOnly": True})
    return {
        "name": "webhook",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["kposture"],
        "args": _serve_args(settings),
        "ports": [{"name": "https", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "startupProbe": _probe("/healthz", period=2, failures=30),
        "readinessProbe": _probe("/readyz", period=5, failures=2),
        "livenessProbe": _probe("/healthz", period=10, failures=3),
        "resources": {
            "requests": {"cpu": "100m", "memory": "192Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
    }


def _volumes(settings: InstallSettings) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        # 0440 + fsGroup: readable by the webhook's group only.
        {"name": "tls", "secret": {"secretName": settings.tls_secret_name, "defaultMode": 0o440}},
        {"name": "data", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
    ]
    if settings.policy_text is not None:
        volumes.append(
            {
                "name": "policy",
                "configMap": {"name": settings.policy_config_map_name, "defaultMode": 0o444},
            }
        )
    return volumes


def _deployment(settings: InstallSettings) -> Document:
    selector = _selector(settings)
    pod_labels = _labels(settings)
    spec: dict[str, Any] = {
        "serviceAccountName": settings.service,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": key,
                # ScheduleAnyway: a one-node or one-zone cluster still runs every replica.
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            }
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
        ],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": selector},
                        },
                    }
                ]
            }
        },
        "terminationGracePeriodSeconds": 30,
        "containers": [_container(settings)],
        "volumes": _volumes(settings),
    }
    return Document(
        f"{settings.replicas} replicas spread over nodes and zones, rolled one at a time with no "
        "replica down (maxUnavailable 0). Restricted security context: non-root, read-only root "
        "filesystem, no capabilities, RuntimeDefault seccomp, no privilege escalation, no "
        "ServiceAccount token. The serving certificate is read from the Secret "
        f"{settings.tls_secret_name}; when it changes the kubelet updates the mounted files and "
        "the server reloads them without a restart.",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(settings, settings.service),
            "spec": {
                "replicas": settings.replicas,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": selector},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "template": {"metadata": {"labels": pod_labels}, "spec": spec},
            },
        },
    )


def _disruption_budget(settings: InstallSettings) -> Document:
    return Document(
        "Node drains keep at least one replica answering the API server.",
        {
            # policy/v1 from 1.21; v1beta1 (removed in 1.25) for older API servers.
            "apiVersion": "policy/v1" if settings.labels_namespaces else "policy/v1beta1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta(settings, settings.service),
            "spec": {
                "minAvailable": 1 if settings.replicas > 1 else 0,
                "selector": {"matchLabels": _selector(settings)},
            },
        },
    )


def _service(settings: InstallSettings) -> Document:
    return Document(
        "The API server calls https://"
        f"{settings.service}.{settings.namespace}.svc:443{WEBHOOK_PATH}.",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(settings, settings.service),
            "spec": {
                "type": "ClusterIP",
                "selector": _selector(settings),
                "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}],
            },
        },
    )


def _network_policy(settings: InstallSettings) -> Document:
    return Document(
        f"Ingress only to the webhook port (TCP {CONTAINER_PORT}), from any source: the API "
        "server's address depends on the cluster (host network of control-plane nodes, or a "
        "managed control plane), narrow 'from' if you know it. No egress: the webhook makes no "
        "outbound connection (add an egress rule if --db points at a remote database).",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(settings, settings.service),
            "spec": {
                "podSelector": {"matchLabels": _selector(settings)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": CONTAINER_PORT}]}],
                "egress": [],
            },
        },
    )


def webhook_rules(resources: Sequence[ApiResource]) -> list[dict[str, Any]]:
    """One rule per API group and version list; plain resource names leave out subresources
    (status, scale, exec), which the webhook allows anyway — except ``pods/ephemeralcontainers``,
    through which ``kubectl debug`` adds containers to a running pod."""
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for resource in resources:
        plurals = grouped.setdefault((resource.group, resource.versions), [])
        plurals.append(resource.plural)
        if resource.group == "" and resource.plural == "pods":
            plurals.append(EPHEMERAL_CONTAINERS)
    return [
        {
            "apiGroups": [group],
            "apiVersions": list(versions),
            "operations": ["CREATE", "UPDATE"],
            "resources": sorted(plurals),
            "scope": "*",
        }
        for (group, versions), plurals in sorted(grouped.items())
    ]


def excluded_namespaces(settings: InstallSettings) -> list[str]:
    """The namespaces the webhook's namespaceSelector leaves out, its own included."""
    return sorted({settings.namespace, *settings.excluded_namespaces})


def label_commands(settings: InstallSettings) -> list[str]:
    """The ``kubectl label`` commands that give the excluded namespaces (other than the webhook's
    own, rendered with the label) the label an API server before 1.21 does not set."""
    return [
        f"kubectl label namespace {name} {NAMESPACE_NAME_LABEL}={name} --overwrite"
        for name in excluded_namespaces(settings)
        if name != settings.namespace
    ]


def install_notes(settings: InstallSettings) -> list[str]:
    """What the person applying the manifests must know about the namespace exclusion: it relies
    on the ``kubernetes.io/metadata.name`` label, which only 1.21+ sets by itself."""
    commands = label_commands(settings)
    if not commands:
        return []
    if not settings.labels_namespaces:
        version = settings.kubernetes_version or LABELLED_SINCE
        return [
            f"Kubernetes {version[0]}.{version[1]} does not label namespaces with "
            f"{NAMESPACE_NAME_LABEL}: label the excluded namespaces BEFORE applying, or the "
            "webhook judges them"
            + (
                " and, with failurePolicy Fail, a webhook outage blocks them: "
                if settings.failure_policy == "Fail"
                else ": "
            )
            + "; ".join(commands)
        ]
    if settings.failure_policy != "Fail":
        return []
    return [
        f"Kubernetes 1.21 or later labels every namespace with {NAMESPACE_NAME_LABEL}, which "
        "leaves the excluded namespaces out; on an older API server, label them first or, with "
        "failurePolicy Fail, a webhook outage blocks them too ("
        + "; ".join(commands)
        + ") and render with --kubernetes-version."
    ]


def _webhook_configuration(settings: InstallSettings) -> Document:
    excluded = excluded_namespaces(settings)
    return Document(
        "Every CREATE and UPDATE of a kind kposture's rules judge (Pods created by controllers "
        "included), and pods/ephemeralcontainers (kubectl debug). Not judged: the namespaces "
        + ", ".join(excluded)
        + f" (by their {NAMESPACE_NAME_LABEL} label). failurePolicy "
        + settings.failure_policy
        + (
            ": when no replica answers, requests are rejected."
            if settings.failure_policy == "Fail"
            else ": when no replica answers, requests are admitted unchecked."
        ),
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": _meta(settings, settings.service, namespaced=False),
            "webhooks": [
                {
                    "name": f"validate.{settings.service}.{APP_NAME}.io",
                    "admissionReviewVersions": ["v1", "v1beta1"],
                    "clientConfig": {
                        "service": {
                            "namespace": settings.namespace,
                            "name": settings.service,
                            "path": WEBHOOK_PATH,
                            "port": 443,
                        },
                        "caBundle": base64.b64encode(settings.ca_bundle_pem).decode("ascii"),
                    },
                    "rules": webhook_rules(settings.resources),
                    "failurePolicy": settings.failure_policy,
                    "matchPolicy": "Equivalent",
                    "sideEffects": "None",
                    "timeoutSeconds": settings.timeout_seconds,
                    "namespaceSelector": {
                        "matchExpressions": [
                            {
                                "key": NAMESPACE_NAME_LABEL,
                                "operator": "NotIn",
                                "values": excluded,
                            }
                        ]
                    },
                }
            ],
        },
    )


def documents(settings: InstallSettings) -> list[Document]:
    """The install manifests in apply order; ``ValueError`` when ``problems`` finds any."""
    found = problems(settings)
    if found:
        raise ValueError("; ".join(found))
    docs = [_namespace(settings), _service_account(settings)]
    if settings.tls_secret is not None:
        docs.append(_tls_secret(settings, settings.tls_secret))
    if settings.policy_text is not None:
        docs.append(_policy_config_map(settings, settings.policy_text))
    docs += [
        _deployment(settings),
        _disruption_budget(settings),
        _service(settings),
        _network_policy(settings),
        _webhook_configuration(settings),
    ]
    return docs


# --- text -----------------------------------------------------------------------------------------

_WIDTH = 98


def _comment_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = "#"
    for word in text.split():
        if len(current) + 1 + len(word) > _WIDTH and current != "#":
            lines.append(current)
            current = "#"
        current = f"{current} {word}"
    lines.append(current)
    return lines


def _dumper() -> type[yaml.SafeDumper]:
    dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return dumper


def render_yaml(docs: Sequence[Document], *, header: str = "") -> str:
    """Multi-document YAML, each document under its comment; ``header`` opens the file."""
    parts: list[str] = []
    if header:
        parts.append("\n".join(_comment_lines(header)) + "\n")
    for doc in docs:
        body = yaml.dump(
            dict(doc.body),
            Dumper=_dumper(),
            sort_keys=False,
            default_flow_style=False,
            width=1_000_000,  # never fold: a folded caBundle or key stays valid but is hard to read
        )
        parts.append("---\n" + "\n".join(_comment_lines(doc.comment)) + "\n" + body)
    return "".join(parts)


def render_json(docs: Sequence[Document]) -> str:
    """A ``v1`` List, which ``kubectl apply -f`` accepts; JSON has no comments."""
    return (
        json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": [dict(d.body) for d in docs]},
            indent=2,
        )
        + "\n"
    )
