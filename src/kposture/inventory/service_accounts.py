"""Which ServiceAccount a pod runs as, where that ServiceAccount is in the inventory, and whether its
token is mounted into the pod — the one reading shared by the service-account rules, the RBAC
workloads view and the escalation paths.

A pod runs as ``serviceAccountName``, else the deprecated ``serviceAccount``, else ``default``. Its
token is mounted unless ``automountServiceAccountToken`` says otherwise: the pod's setting wins;
when unset, the ServiceAccount object (if in the inventory) decides; the API default is to mount.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kposture.inventory.objects import Inventory
from kposture.model import K8sObject

DEFAULT_SERVICE_ACCOUNT = "default"
FIELDS = ("serviceAccountName", "serviceAccount")


def service_account_of(spec: Mapping[str, Any]) -> tuple[str, str]:
    """(name, field) of the ServiceAccount a pod spec runs as; (``default``,
    ``serviceAccountName``) when neither field is set."""
    for field in FIELDS:
        value = spec.get(field)
        if isinstance(value, str) and value:
            return value, field
    return DEFAULT_SERVICE_ACCOUNT, FIELDS[0]


def lookup_service_account(inventory: Inventory, namespace: str, name: str) -> K8sObject | None:
    """The ServiceAccount a pod in ``namespace`` uses, if scanned; a namespace-less manifest means
    ``default`` on either side."""
    found = inventory.get("ServiceAccount", namespace or DEFAULT_SERVICE_ACCOUNT, name)
    if found is None and namespace in ("", DEFAULT_SERVICE_ACCOUNT):
        found = inventory.get("ServiceAccount", "", name)
    return found


def token_mount(spec: Mapping[str, Any], account: K8sObject | None) -> tuple[bool, str]:
    """Whether the ServiceAccount token is mounted into the pods, and why."""
    pod_value = spec.get("automountServiceAccountToken")
    if isinstance(pod_value, bool):
        state = "true" if pod_value else "false"
        return pod_value, f"the pod sets automountServiceAccountToken: {state}"
    if account is None:
        return True, "automounted (the API default; the ServiceAccount is not in the inputs)"
    account_value = account.raw.get("automountServiceAccountToken")
    if account_value is False:
        return False, "the ServiceAccount sets automountServiceAccountToken: false"
    if account_value is True:
        return True, "the ServiceAccount sets automountServiceAccountToken: true"
    return True, "automounted (the API default)"
