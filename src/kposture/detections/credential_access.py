"""Detections of credentials written or minted: Secrets written or deleted in the protected
namespaces (the control plane's credentials; beyond the catalogue), ServiceAccount tokens minted,
client certificates requested or approved, and credentials written into ConfigMaps. Reads of Secrets
are ``secret_reads``'. Messages name keys and fingerprints, never a value.

Requests by Kubernetes' own identities (components, nodes, kube-system's ServiceAccounts) are not
judged.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

from kposture.detections._containment import revoke_step, secret_keys_command
from kposture.detections._events import (
    CHANGE_VERBS,
    WRITE_VERBS,
    by_kubernetes,
    changed_object,
    made,
    mapping,
    mitre,
    outsider_gate,
    raw_by_outsider,
    scoped,
    who,
)
from kposture.detections.base import BodyNeed, Detection, Interest
from kposture.detections.settings import DetectionSettings
from kposture.inventory import find_credentials
from kposture.inventory.credentials import CredentialScanError, find_credentials_in_base64
from kposture.model import Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

SA_TOKEN_TYPE = "kubernetes.io/service-account-token"


def _routine_secret(event: AuditEvent, settings: DetectionSettings) -> bool:
    """Whether the write matches a routine one: user agent, Secret name and the writer's identity
    (a user, not a ServiceAccount, in one of the routine groups; the impersonated one if any)."""
    name = event.ref.name
    user = event.impersonated_user or event.user
    if not name or user.service_account is not None:
        return False
    return any(
        fnmatchcase(event.user_agent, routine.user_agent)
        and fnmatchcase(name, routine.secret)
        and not set(routine.groups).isdisjoint(user.groups)
        for routine in settings.routine_system_secrets
    )


def _protected_secret(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if ref.resource != "secrets" or ref.subresource or event.verb not in WRITE_VERBS:
        return
    if ref.namespace not in settings.protected_namespaces or not event.allowed:
        return
    user = event.impersonated_user or event.user
    account = user.service_account
    if account is not None:
        if account[0] in settings.protected_namespaces:
            return  # the control plane's own accounts (controllers, add-ons) manage these
        whose = f"ServiceAccount {account[0]}/{account[1]} of another namespace"
    elif user.is_system:
        return  # components and nodes
    elif user.is_anonymous:
        whose = "an anonymous request"
    else:
        whose = "a person (not a component or ServiceAccount)"
    if _routine_secret(event, settings):
        return
    deleted = event.verb.startswith("delete")
    action = "deleted" if deleted else made(event)
    target = (
        f"Secret {scoped(ref.namespace, ref.name)}"
        if ref.name
        else f"the Secrets of {ref.namespace}"
    )
    body = event.object or {}
    kind = str(body.get("type", "")) if body.get("kind") in (None, "Secret") else ""
    detail = f" (type {kind})" if kind and not deleted else ""
    revoke = revoke_step(event, f"{event.verb} on secrets in {ref.namespace}")
    if deleted:
        step = (
            f"Find which component used {target} (its type and the keys of its annotations in a "
            "backup or in this log) and restore or re-issue it: a component without its "
            "credentials stops working, and deleting a planted credential also removes the "
            f"evidence. {revoke}"
        )
    else:
        command = secret_keys_command(ref.namespace, ref.name)
        step = (
            f"Look at the type and annotation keys of {target}, never its data or annotation "
            f"values ({command}): a token Secret for a ServiceAccount or a bootstrap-token-* "
            f"Secret gives its holder that identity. Delete it unless the change was approved. "
            f"{revoke}"
        )
    yield Hit(
        f"{who(event)} {action} {target}{detail} in a protected namespace: {whose}",
        step,
        Severity.MEDIUM if deleted else None,
        (
            ("secret", scoped(ref.namespace, ref.name or "*")),
            ("action", action),
            ("writer", whose),
            ("type", kind),
        ),
    )


def _protected_secret_gate(raw: Mapping[str, Any], settings: DetectionSettings) -> bool:
    ref = raw.get("objectRef")
    namespace = ref.get("namespace") if isinstance(ref, dict) else None
    return namespace in settings.protected_namespaces and raw_by_outsider(
        raw, settings.protected_namespaces
    )


PROTECTED_SECRET = Detection(
    DetectionMeta(
        id="system-namespace-secret-changed",
        title="Secret written or deleted in kube-system (or another protected namespace)",
        severity=Severity.HIGH,
        technique=mitre("T1528", "Steal Application Access Token"),
        tactic="credential-access",
        description=(
            "A person, or a ServiceAccount of another namespace, created, changed or deleted a "
            "Secret in kube-system, kube-public or kube-node-lease. Secrets there are the control "
            "plane's credentials: a token Secret for one of its ServiceAccounts mints a "
            "never-expiring token for it, a bootstrap-token-* Secret lets a node join; deleting "
            "one breaks a component (medium). Components, nodes and the protected namespaces' own "
            "ServiceAccounts are not judged, nor kubeadm writing its bootstrap tokens and "
            "certificates (a setting). Judged at audit level Metadata. Beyond the catalogue."
        ),
        response=(
            "Confirm the change belongs to an approved operation; otherwise delete the planted "
            "Secret or restore the deleted one, and revoke the writer's access to Secrets there."
        ),
    ),
    _protected_secret,
    interest=Interest(WRITE_VERBS, frozenset({"secrets"})),
    gate=_protected_secret_gate,
)


def _token_created(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if not event.allowed or by_kubernetes(event, settings.protected_namespaces):
        # Kubelets mint projected tokens and the token controller writes legacy token Secrets.
        return
    if ref.resource == "serviceaccounts" and ref.subresource == "token" and event.verb == "create":
        account = scoped(ref.namespace, ref.name)
        yield Hit(
            f"{who(event)} requested a token for ServiceAccount {account} (TokenRequest)",
            (
                f"A requested token cannot be revoked on its own: delete and recreate "
                f"ServiceAccount {account} (or the object the token is bound to) if the request "
                "was not expected. " + revoke_step(event, "create on serviceaccounts/token")
            ),
            Severity.HIGH if ref.namespace in settings.protected_namespaces else None,
            (("service_account", account),),
        )
        return
    obj = changed_object(event, ("secrets",))
    if obj is None or event.verb != "create" or obj.raw.get("type") != SA_TOKEN_TYPE:
        return
    account = str(obj.annotations.get("kubernetes.io/service-account.name", ""))
    name = scoped(obj.ref.namespace, obj.ref.name)
    yield Hit(
        f"{who(event)} created token Secret {name} for ServiceAccount "
        f"{scoped(obj.ref.namespace, account)}",
        f"Delete Secret {name} (kubectl delete secret {shlex.quote(obj.ref.name)} -n {obj.ref.namespace}) "
        "unless a long-lived token is approved: it never expires.",
        None,
        (("secret", name), ("service_account", account)),
    )


TOKEN_CREATED = Detection(
    DetectionMeta(
        id="sa-token-created",
        title="ServiceAccount token created",
        severity=Severity.MEDIUM,
        technique=mitre("T1528", "Steal Application Access Token"),
        tactic="credential-access",
        description=(
            "A person or a workload's ServiceAccount (not a node or the token controller) minted a "
            "ServiceAccount token, through the TokenRequest API (kubectl create token) or as a "
            "long-lived token Secret. The token acts as the workload's identity from anywhere; a "
            "token for a protected namespace's ServiceAccount is high."
        ),
        response=(
            "Confirm why the token was needed; if not expected, delete the token Secret or recreate "
            "the ServiceAccount, and review what the account may do."
        ),
    ),
    _token_created,
    interest=Interest(frozenset({"create"}), frozenset({"serviceaccounts", "secrets"})),
    gate=outsider_gate,
)

CLIENT_SIGNERS = frozenset(
    {
        "kubernetes.io/kube-apiserver-client",
        "kubernetes.io/kube-apiserver-client-kubelet",
    }
)
"""Signers whose certificates authenticate to the API server."""


def _csr_details(body: Mapping[str, Any]) -> tuple[str, str, list[str]]:
    spec = mapping(body.get("spec"))
    usages = spec.get("usages")
    return (
        str(spec.get("signerName", "") or ""),
        str(spec.get("username", "") or ""),
        [str(usage) for usage in usages] if isinstance(usages, list) else [],
    )


def _for_client(signer: str, usages: list[str]) -> bool:
    """Whether a CSR asks for a certificate that authenticates a client: a client signer, or any
    signer (kubernetes.io/legacy-unknown, a custom one) with the client auth usage."""
    return signer in CLIENT_SIGNERS or "client auth" in usages


def _described(signer: str, requester: str) -> str:
    details = [
        text
        for text in (signer and f"signer {signer}", requester and f"requested by {requester}")
        if text
    ]
    return f" ({', '.join(details)})" if details else ""


def _client_certificate(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if ref.resource != "certificatesigningrequests" or not event.allowed:
        return
    if by_kubernetes(event, settings.protected_namespaces):
        return  # kubelets request their certificates, the approving controller approves them
    name = ref.name or "<unnamed>"
    if not ref.subresource and event.verb == "create":
        body = event.object
        if body is None:
            return  # counted as bodiless: the signer is in the body
        signer, _, usages = _csr_details(body)
        if not _for_client(signer, usages):
            return
        metadata_name = str(mapping(body.get("metadata")).get("name") or "")
        name = ref.name or metadata_name or name
        yield Hit(
            f"{who(event)} requested a client certificate: certificate signing request {name}"
            + _described(signer, ""),
            (
                f"Deny CSR {name} unless it was expected (kubectl certificate deny {name}): once "
                "approved, the certificate authenticates as the user and groups its subject names "
                "until it expires. " + revoke_step(event, "create on certificatesigningrequests")
            ),
            None,
            (("csr", name), ("signer", signer), ("action", "created")),
        )
        return
    if ref.subresource != "approval" or event.verb not in ("update", "patch"):
        return
    body = event.object or {}
    conditions = mapping(body.get("status")).get("conditions")
    approved = not isinstance(conditions, list) or any(
        mapping(item).get("type") == "Approved" for item in conditions
    )
    if not approved:
        return
    signer, requester, _ = _csr_details(body)
    yield Hit(
        f"{who(event)} approved certificate signing request {name}" + _described(signer, requester),
        (
            f"An issued certificate cannot be revoked in Kubernetes: if the approval was not "
            f"expected, delete CSR {name}, remove every RoleBinding and ClusterRoleBinding of "
            "the certificate's user and groups, and rotate the signing CA if it names system:masters."
        ),
        None,
        (("csr", name), ("signer", signer), ("requester", requester), ("action", "approved")),
    )


_CSR_CREATE = frozenset({"create"})
CLIENT_CERTIFICATE = Detection(
    DetectionMeta(
        id="client-certificate-created",
        title="Client certificate requested or approved",
        severity=Severity.HIGH,
        technique=mitre("T1649", "Steal or Forge Authentication Certificates"),
        tactic="credential-access",
        description=(
            "A person or a workload's ServiceAccount created a CertificateSigningRequest for a "
            "client certificate (signer kube-apiserver-client or kube-apiserver-client-kubelet, or "
            "the client auth usage), or approved any CSR. A client certificate signed by the "
            "cluster CA authenticates as any user and group it names, for its whole lifetime, and "
            "cannot be revoked. Needs the audit level Request for CSR creation (the signer is in "
            "the body); approvals are judged at Metadata."
        ),
        response=(
            "Check the CSR's subject and signer; if unexpected, deny or delete it, remove the "
            "bindings of the named user and groups and plan a CA rotation if it was issued."
        ),
    ),
    _client_certificate,
    interest=Interest(
        frozenset({"create", "update", "patch"}), frozenset({"certificatesigningrequests"})
    ),
    gate=outsider_gate,
    needs_body=BodyNeed(_CSR_CREATE, frozenset({"certificatesigningrequests"})),
)


def _configmap_credentials(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    obj = changed_object(event, ("configmaps",))
    if obj is None or by_kubernetes(event, settings.protected_namespaces):
        return
    found: list[str] = []
    try:
        for key, value in mapping(obj.raw.get("data")).items():
            found.extend(
                f"{match.key}{f' ({match.inner_key})' if match.inner_key else ''}: {match.kind} "
                f"[{match.fingerprint}]"
                for match in find_credentials(str(key), value)
            )
        for key, value in mapping(obj.raw.get("binaryData")).items():
            found.extend(
                f"{match.key}: {match.kind} [{match.fingerprint}]"
                for match in find_credentials_in_base64(str(key), value)
            )
    except CredentialScanError as error:
        found.append(str(error))
    if not found:
        return
    name = scoped(obj.ref.namespace, obj.ref.name)
    yield Hit(
        f"{who(event)} wrote credentials into ConfigMap {name}: {'; '.join(found)}",
        (
            f"Rotate the credentials and move them from ConfigMap {name} to a Secret (or an "
            "external secret store); ConfigMaps are readable by anyone who can read the namespace."
        ),
        None,
        (("configmap", name), ("credentials", "; ".join(found))),
    )


CONFIGMAP_CREDENTIALS = Detection(
    DetectionMeta(
        id="configmap-credentials-written",
        title="Credentials written into a ConfigMap",
        severity=Severity.HIGH,
        technique=mitre("T1552", "Unsecured Credentials"),
        tactic="credential-access",
        description=(
            "A ConfigMap was created or changed with values that are credentials (passwords, "
            "private keys, cloud keys, tokens), judged by the same detector as the "
            "secret-in-configmap rule. The alert names the keys and a redacted fingerprint, never "
            "the value. Needs the audit level Request for ConfigMap writes (create, update, "
            "patch): at Metadata the data is not logged."
        ),
        response="Rotate the credentials and keep them in Secrets with restricted access.",
    ),
    _configmap_credentials,
    interest=Interest(CHANGE_VERBS, frozenset({"configmaps"})),
    gate=outsider_gate,  # Kubernetes' own writes are not judged (by_kubernetes)
    needs_body=BodyNeed(CHANGE_VERBS, frozenset({"configmaps"})),
)

DETECTIONS: tuple[Detection, ...] = (
    PROTECTED_SECRET,
    TOKEN_CREATED,
    CLIENT_CERTIFICATE,
    CONFIGMAP_CREDENTIALS,
)
