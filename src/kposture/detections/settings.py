"""Settings of the built-in detections: thresholds, state bounds and the name lists some of them judge
against, with defaults that suit a plain cluster. A value, so a future policy-file section (and the
per-detection allowlists) can build one without touching the detections.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEFAULT_AGENT_NAMESPACES = (
    "falco",
    "datadog",
    "sysdig",
    "sysdig-agent",
    "monitoring",
    "prometheus",
    "logging",
    "fluent-bit",
    "fluentd",
    "elastic-system",
    "kube-audit",
    "audit",
    "tetragon",
    "tracee",
    "gatekeeper-system",
    "kyverno",
    "kubearmor",
    "neuvector",
    "twistlock",
    "falcon-system",
    "loki",
    "opentelemetry",
)
"""Namespaces where audit, logging, monitoring, runtime-detection and policy-engine agents usually
run."""

DEFAULT_AGENT_NAMES = (
    "falco",
    "datadog",
    "datadog-agent",
    "sysdig",
    "sysdig-agent",
    "prometheus",
    "node-exporter",
    "prometheus-node-exporter",
    "fluent-bit",
    "fluentd",
    "filebeat",
    "auditbeat",
    "vector",
    "kube-audit",
    "audit-webhook",
    "tetragon",
    "tracee",
    "kposture",
    "falcosidekick",
    "kyverno",
    "gatekeeper",
    "kubearmor",
    "neuvector",
    "twistlock-defender",
    "falcon-sensor",
    "promtail",
    "loki",
    "otel-collector",
    "opentelemetry-collector",
    "elastic-agent",
    "splunk-otel-collector",
)
"""Names (or name prefixes followed by ``-``) of agent workloads: audit, logging, monitoring,
runtime detection and policy engines."""

DEFAULT_PROTECTED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")

DEFAULT_SYSTEM_IMAGE_PREFIXES = (
    "registry.k8s.io/",
    "k8s.gcr.io/",
    "gcr.io/k8s-",
    "gcr.io/google-containers/",
    "gcr.io/gke-release/",
    "gke.gcr.io/",
    "mcr.microsoft.com/oss/kubernetes",
    "mcr.microsoft.com/aks/",
    "mcr.microsoft.com/containernetworking/",
    "602401143452.dkr.ecr.",
    "public.ecr.aws/eks/",
    "public.ecr.aws/eks-distro/",
    "quay.io/cilium/",
    "docker.io/calico/",
    "calico/",
    "quay.io/calico/",
    "docker.io/rancher/",
    "rancher/",
)
"""Image prefixes of the components that normally run in the protected namespaces (Kubernetes,
EKS, GKE, AKS, k3s and the common network plugins)."""

DEFAULT_TRUSTED_SECRET_READERS = (
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:apiserver",
    "system:serviceaccount:kube-system:*-controller",
    "system:serviceaccount:kube-system:generic-garbage-collector",
)
"""Components whose reads of Secrets in any namespace are their job (the namespace and garbage
collectors list everything they delete; token and service-account controllers manage tokens)."""


KUBEADM_ADMIN_GROUPS = ("system:masters", "kubeadm:cluster-admins")
"""The groups of kubeadm's admin.conf identities (kubernetes-admin in system:masters; from 1.29 in
kubeadm:cluster-admins)."""


@dataclass(frozen=True, slots=True)
class RoutineSecretWrite:
    """Writes of a Secret in the protected namespaces that are routine: by a client with this user
    agent glob, of a Secret whose name matches ``secret``, made by a user (not a ServiceAccount) in
    one of ``groups``. A user agent is the client's word, so the identity must match too."""

    user_agent: str
    secret: str
    groups: tuple[str, ...] = KUBEADM_ADMIN_GROUPS


DEFAULT_ROUTINE_SYSTEM_SECRETS = (
    RoutineSecretWrite("kubeadm/*", "bootstrap-token-*"),
    RoutineSecretWrite("kubeadm/*", "kubeadm-certs"),
)
"""The Secrets whose writes in the protected namespaces are routine: kubeadm's bootstrap tokens
(kubeadm init, join, token create and delete) and its uploaded control-plane certificates
(--upload-certs), written with kubeadm's admin identity. A bootstrap token written by anything else,
or by a ServiceAccount or an ordinary user claiming kubeadm's user agent, is judged."""


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    """Thresholds, bounds and lists of the built-in detections."""

    forbidden_threshold: int = 10
    """403 answers to one identity (or one source IP) within ``forbidden_window`` that make a
    burst."""
    forbidden_window: dt.timedelta = dt.timedelta(seconds=60)
    secret_read_threshold: int = 10
    """Distinct Secrets (a namespace's list counts as one) one identity reads within
    ``secret_read_window`` that make an enumeration."""
    secret_read_window: dt.timedelta = dt.timedelta(seconds=60)
    repeat_window: dt.timedelta = dt.timedelta(minutes=10)
    """How long ``secret-access-denied`` stays quiet about the same identity and namespace after an
    alert (a workload retrying a read it may not do, or one user probing 30 Secrets, is one alert,
    not one a read; the rest are counted in the next)."""
    max_tracked_identities: int = 10_000
    """Identities kept by each stateful detection; the least recently seen go first."""
    first_seen_warmup: dt.timedelta = dt.timedelta(hours=1)
    """Log time, from the first event, during which new origins are learned without alerts."""
    identity_learning: dt.timedelta = dt.timedelta(hours=1)
    """Log time, from an identity's first event after the warm-up, during which its origins are
    learned without alerts."""
    max_origins_per_identity: int = 64
    """Source IPs (and, apart, user agents) remembered per identity; the oldest go first."""
    agent_namespaces: tuple[str, ...] = DEFAULT_AGENT_NAMESPACES
    agent_names: tuple[str, ...] = DEFAULT_AGENT_NAMES
    protected_namespaces: tuple[str, ...] = DEFAULT_PROTECTED_NAMESPACES
    system_image_prefixes: tuple[str, ...] = DEFAULT_SYSTEM_IMAGE_PREFIXES
    trusted_secret_readers: tuple[str, ...] = DEFAULT_TRUSTED_SECRET_READERS
    routine_system_secrets: tuple[RoutineSecretWrite, ...] = DEFAULT_ROUTINE_SYSTEM_SECRETS
