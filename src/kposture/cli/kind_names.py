"""Kinds as users type them on the command line: kubectl's short names (``deploy``, ``po``,
``netpol``...), plural and singular resource names (``deployments``, ``deployment``) and any case of
the kind (``DEPLOYMENT``), turned into the kind findings are stored under (``Deployment``); and
short names for narrow tables (``deploy/shop/web``).

Kinds come from the cluster catalogue (``sources.cluster_kinds``) plus a few kubectl knows that a
scan does not list; the short names are kubectl's, and ``rb``, ``crb`` and ``cr`` for the RBAC kinds
kubectl gives none. Pure data.
"""

from __future__ import annotations

from difflib import get_close_matches

from kposture.sources.cluster_kinds import CATALOGUE, kinds

SHORT_NAMES: dict[str, str] = {
    "Pod": "po",
    "Service": "svc",
    "Deployment": "deploy",
    "DaemonSet": "ds",
    "StatefulSet": "sts",
    "ReplicaSet": "rs",
    "ReplicationController": "rc",
    "CronJob": "cj",
    "ConfigMap": "cm",
    "ServiceAccount": "sa",
    "Namespace": "ns",
    "Node": "no",
    "NetworkPolicy": "netpol",
    "Ingress": "ing",
    "PersistentVolume": "pv",
    "PersistentVolumeClaim": "pvc",
    "Endpoints": "ep",
    "HorizontalPodAutoscaler": "hpa",
    "PodDisruptionBudget": "pdb",
    "PodSecurityPolicy": "psp",
    "ResourceQuota": "quota",
    "LimitRange": "limits",
    "CustomResourceDefinition": "crd",
    "CertificateSigningRequest": "csr",
    "StorageClass": "sc",
    "PriorityClass": "pc",
    "RoleBinding": "rb",
    "ClusterRoleBinding": "crb",
    "ClusterRole": "cr",
}
"""kubectl's short name of each kind (``kubectl api-resources``); RBAC kinds have none in kubectl,
so ``rb``, ``crb`` and ``cr`` are the ones people write anyway."""

_OTHER_KINDS = ("Job", "Secret", "Role", "Event", "Lease", "PodTemplate")


def _names() -> dict[str, str]:
    """Every accepted spelling, lower-cased, to its kind."""
    names: dict[str, str] = {}
    for kind in (*(spec.kind for spec in CATALOGUE), *SHORT_NAMES, *_OTHER_KINDS):
        names[kind.lower()] = kind
        names[kinds(kind).lower()] = kind
    for spec in CATALOGUE:
        names[spec.plural] = spec.kind
        names[f"{spec.plural}.{spec.group}"] = spec.kind
    names["endpoints"] = "Endpoints"
    for kind, short in SHORT_NAMES.items():
        names[short] = kind
    names["crds"] = "CustomResourceDefinition"
    return names


NAMES = _names()


def known_kind(text: str) -> str | None:
    """The kind ``text`` names (a kind in any case, a plural, a short name), or None."""
    return NAMES.get(text.strip().lower())


def kind_suggestion(text: str, candidates: list[str]) -> str:
    """`` (did you mean Deployment?)`` for a near miss among ``candidates`` and the known kinds."""
    lowered = {kind.lower(): kind for kind in [*candidates, *dict.fromkeys(NAMES.values())]}
    close = get_close_matches(text.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]}?)" if close else ""


def short_kind(kind: str) -> str:
    """kubectl's short name of ``kind`` (``deploy``), else the kind itself."""
    return SHORT_NAMES.get(kind, kind)
